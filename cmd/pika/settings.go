package main

import (
	"os"
	"slices"

	"github.com/pika-dj/pika/bus/natsserver"
	"github.com/pika-dj/pika/desktop/detect/auto"
)

// The commands that read settings, in the order `pika config` shows them.
func allCommands() []string { return []string{"lan", "gateway", "persister", "nats", "migrate"} }

// How `pika config` shows a secret setting's value.
const (
	maskAll = "all" // **** whatever it is
	maskURL = "url" // the URL (or key=value DSN) with its password replaced
	maskDSN = "dsn" // a Sentry DSN with its key replaced
)

// setting is one row of the configuration table: every setting has a flag
// and an environment variable, and a flag wins over the environment. The
// existing deployment's names (PORT, DATABASE_URL, CORS_ORIGIN, SENTRY_DSN)
// are kept as they are; the rest are PIKA_…. A variable that means
// something different to two commands (PORT, DATABASE_URL, …) has a row
// for each meaning.
type setting struct {
	flag, env string
	cmds      []string // the commands that read it
	def       string   // "" = none
	// defDoc is how the help and the docs name a default that is computed
	// at start (this computer's host name, the per-user data folder).
	defDoc string
	usage  string
	isBool bool
	// secret is how `pika config` masks the value: "" shows it as is,
	// maskAll, maskURL or maskDSN.
	secret string
	// valid says in a few words which values are accepted; "" is any.
	// The command's parse function enforces it: one line per bad value.
	valid string
	// required: the command refuses to start without it.
	required bool
	// deprecated names the setting that replaces this one.
	deprecated string
}

// settingsTable is every environment variable of every command: the one
// place where names, defaults and meanings live. The per-command parse
// functions enforce the valid column; docs/configuration.md is this table
// (TestConfigurationDocsMatchCode keeps them in step). A function, not a
// variable: some defaults are computed at start.
func settingsTable() []setting {
	host, _ := os.Hostname()
	lan := []string{"lan"}
	gw := []string{"gateway"}
	pers := []string{"persister"}
	node := []string{"nats"}
	all := allCommands()
	logLevels := "debug, info, warn or error"
	return []setting{
		// Where to serve.
		{flag: "addr", env: "PIKA_ADDR", cmds: lan, def: ":3000", valid: "host:port",
			usage: "address to serve on; :3000 is every interface (phones can join), 127.0.0.1:3000 this laptop only (public Wi-Fi)"},
		{flag: "port", env: "PORT", cmds: lan, valid: "a port number, 0 to 65535",
			usage: "port to serve on, if --addr/PIKA_ADDR is not given (the existing deployment's name)"},
		{flag: "port", env: "PORT", cmds: gw, def: "3000", valid: "a port number, 0 to 65535",
			usage: "port to serve dancers and the REST API on, every interface (the hosting platform's name)"},
		{flag: "listen", env: "PIKA_LISTEN", cmds: gw, valid: "host:port",
			usage: "host:port to serve on instead, e.g. 127.0.0.1:3000 behind a proxy on the same machine (default: :PORT)"},

		// The DJ's laptop: where plays come from.
		{flag: "data", env: "PIKA_DATA", cmds: lan, def: defaultDataDir(), defDoc: "the per-user data folder",
			usage: "folder where Pika! keeps its events, DJ id and reading positions"},
		{flag: "source", env: "PIKA_SOURCE", cmds: lan, valid: "one of " + auto.IDs(auto.All()),
			usage: "the DJ program to follow: " + auto.IDs(auto.All()) + " (default: the one found on this computer that was used last; `pika detect` shows what was found)"},
		{flag: "watch", env: "PIKA_WATCH", cmds: lan,
			usage: "with --source, where that program's files are; alone, a history file (M3U/M3U8, VirtualDJ) or a folder of them to play from"},
		{flag: "ignore-decks", env: "PIKA_IGNORE_DECKS", cmds: lan,
			usage: "decks never announced, comma-separated as your DJ program names them, e.g. 3,4 when those decks only play samples"},
		{flag: "min-audible", env: "PIKA_MIN_AUDIBLE", cmds: lan, def: "5s", valid: "a duration from 0s to 5m",
			usage: "how long a deck must be heard (fader up, playing) before it is announced, for programs that report faders (Engine DJ, VirtualDJ's Network Control)"},
		{flag: "source-listen", env: "PIKA_SOURCE_LISTEN", cmds: lan, valid: "host:port",
			usage: "where a source that is sent plays listens, e.g. Traktor's broadcast (default 127.0.0.1:8000)"},
		{flag: "import", env: "PIKA_IMPORT", cmds: lan, isBool: true, def: "false", valid: "true or false",
			usage: "bring in the entries already in a history file the first time it is seen (otherwise only new plays count)"},
		{flag: "dj-name", env: "PIKA_DJ_NAME", cmds: lan, def: "DJ", valid: "1 to 100 characters",
			usage: "your name, as dancers see it"},
		{flag: "demo", env: "PIKA_DEMO", cmds: lan, isBool: true, def: "false", valid: "true or false",
			usage: "play a built-in list of tracks, into a temporary data folder (never the real one)"},
		{flag: "demo-every", env: "PIKA_DEMO_EVERY", cmds: lan, def: "20s", valid: "a duration of at least 1s",
			usage: "time between demo tracks"},

		// What dancers see.
		{flag: "public-url", env: "PIKA_PUBLIC_URL", cmds: lan, valid: "an http:// or https:// URL",
			usage: "the URL phones use, printed and put in QR codes (default http://<this laptop's LAN address>:<port>)"},
		{flag: "public-url", env: "PIKA_PUBLIC_URL", cmds: gw, valid: "an http:// or https:// URL",
			usage: "the URL dancers use, the base of links and QR codes, e.g. https://pika.example.com (default: taken from each request's Host)"},
		{flag: "cors-origin", env: "CORS_ORIGIN", cmds: []string{"lan", "gateway"},
			usage: "Access-Control-Allow-Origin for /api (default: none, same origin only)"},

		// PostgreSQL.
		{flag: "database-url", env: "DATABASE_URL", cmds: lan, secret: maskURL, valid: "a PostgreSQL URL",
			usage: "PostgreSQL to keep the history in, e.g. postgres://pika@localhost/pika (default: none; LAN mode needs no PostgreSQL)"},
		{flag: "database-url", env: "DATABASE_URL", cmds: gw, secret: maskURL, valid: "a PostgreSQL URL",
			usage: "PostgreSQL with the DJ accounts and the history (journals, profiles, charts), e.g. postgres://pika@db/pika (default: none; those endpoints answer 503)"},
		{flag: "database-url", env: "DATABASE_URL", cmds: pers, secret: maskURL, valid: "a PostgreSQL URL", required: true,
			usage: "PostgreSQL to write to, e.g. postgres://pika@db/pika (required)"},
		{flag: "database-url", env: "DATABASE_URL", cmds: []string{"migrate"}, secret: maskURL, valid: "a PostgreSQL URL", required: true,
			usage: "the PostgreSQL database, e.g. postgres://pika:secret@localhost:5432/pika"},

		// The DJ's laptop: limits, profiler, cloud link.
		{flag: "actions-per-ip", env: "PIKA_ACTIONS_PER_IP", cmds: lan, def: "60000", valid: "a whole number, at least 1",
			usage: "dancer actions a minute from one network address: only a high ceiling against floods, because a venue can put 2,000 phones behind one address (limits per dancer come first)"},
		{flag: "pprof", env: "PIKA_PPROF", cmds: lan, valid: "a loopback host:port",
			usage: "serve Go's profiler (/debug/pprof/) on this loopback address, e.g. 127.0.0.1:6060; never on the dancers' port (default: off)"},
		{flag: "cloud", env: "PIKA_CLOUD_URL", cmds: lan, secret: maskURL, valid: "wss://host[:port][/path], with --cloud-token",
			usage: "link this laptop to the Pika! cloud at this wss:// URL (wss://host[:port][/path]), so dancers can follow from anywhere; everything here keeps working when the link is down (default: none, LAN only)"},
		{flag: "cloud-token", env: "PIKA_CLOUD_TOKEN", cmds: lan, secret: maskAll, valid: "an API token (pika_dj…), with --cloud",
			usage: "your API token (pika_…) for --cloud; required with it"},

		// A cloud gateway.
		{flag: "id", env: "PIKA_GATEWAY_ID", cmds: gw, defDoc: "gw-<host name>-<random>", valid: "1 to 64 characters, no spaces, dots or wildcards",
			usage: "this gateway's name in presence reports, unique among the gateways: the DJ side keeps one report per name (default: gw-<host name>-<random>, new at each start)"},
		{flag: "drain-notice", env: "PIKA_DRAIN_NOTICE", cmds: gw, def: "3s", valid: "a duration from 0s to 1m",
			usage: "on SIGTERM, how long /healthz says \"draining\" (503) before the phones are told to reconnect elsewhere: longer than the load balancer's health-check interval; 0s closes them at once"},

		// The cloud services' NATS connection.
		{flag: "nats-url", env: "PIKA_NATS_URL", cmds: gw, required: true, valid: "nats://, tls://, ws:// or wss:// URLs, comma-separated",
			usage: "the cloud's NATS nodes, comma-separated, e.g. nats://nats-1:4222,nats://nats-2:4222,nats://nats-3:4222 (required)"},
		{flag: "nats-url", env: "PIKA_NATS_URL", cmds: pers, required: true, valid: "nats://, tls://, ws:// or wss:// URLs, comma-separated",
			usage: "NATS server(s) holding the DJs' streams, comma-separated, e.g. nats://127.0.0.1:4222 (required)"},
		{flag: "nats-user", env: "PIKA_NATS_USER", cmds: gw, def: "gateway", valid: "no spaces",
			usage: "user to connect to NATS as; --nats-user= (empty) connects without credentials, for nodes that check none"},
		{flag: "nats-user", env: "PIKA_NATS_USER", cmds: pers, def: "persister", valid: "no spaces",
			usage: "user to connect to NATS as (the cloud's `pika nats` knows \"persister\"); --nats-user= (empty) connects without credentials, for a bus that checks none"},
		{flag: "nats-password", env: "PIKA_NATS_PASSWORD", cmds: gw, secret: maskAll, valid: "required with a user, none without",
			usage: "the NATS user's password (the nodes' PIKA_NATS_GATEWAY_PASSWORD); required with a user; prefer the variable: flags show in ps"},
		{flag: "nats-password", env: "PIKA_NATS_PASSWORD", cmds: pers, secret: maskAll, valid: "required with a user, none without",
			usage: "the NATS user's password (the node's PIKA_NATS_PERSISTER_PASSWORD); required with a user; prefer the variable: flags show in ps"},

		// The persister.
		{flag: "streams", env: "PIKA_STREAMS", cmds: pers, valid: "stream names starting with DJ_, ACT_, CLOUD_DJ_, CLOUD_ACT_ or CLOUD_CROWD_, comma-separated",
			usage: "streams to persist, comma-separated, e.g. DJ_x,ACT_x,CLOUD_DJ_x (default: every DJ_, ACT_, CLOUD_DJ_, CLOUD_ACT_ and CLOUD_CROWD_ stream, looked for every 5 s)"},

		// A cloud NATS node (docs/cloud.md).
		{flag: "name", env: "PIKA_NATS_NAME", cmds: node, def: host, defDoc: "the host name", valid: "no spaces, dots, * or >",
			usage: "this node's name, unique in the cluster and the same at every restart (JetStream knows its replicas by it)"},
		{flag: "data", env: "PIKA_NATS_DATA", cmds: node, required: true, valid: "an existing folder",
			usage: "folder where this node keeps its JetStream files; it must exist (required)"},
		{flag: "routes", env: "PIKA_NATS_ROUTES", cmds: node, required: true, valid: "nats://host:port URLs, comma-separated",
			usage: "the cluster URLs of the nodes, comma-separated, e.g. nats://nats-1:6222,nats://nats-2:6222,nats://nats-3:6222; listing this node too is fine (required)"},
		{flag: "listen", env: "PIKA_NATS_LISTEN", cmds: node, def: ":4222", valid: "host:port",
			usage: "address for clients: gateways, the persister (never dancers)"},
		{flag: "cluster-listen", env: "PIKA_NATS_CLUSTER_LISTEN", cmds: node, def: ":6222", valid: "host:port",
			usage: "address the other nodes' routes reach"},
		{flag: "ws-listen", env: "PIKA_NATS_WS_LISTEN", cmds: node, def: ":8080", valid: "host:port or off",
			usage: "WebSocket address (plain HTTP: TLS ends at the tunnel) where DJs' laptops link as leaf nodes on /leafnode; off: none"},
		{flag: "leaf-listen", env: "PIKA_NATS_LEAF_LISTEN", cmds: node, def: "127.0.0.1:0", valid: "host:port or off",
			usage: "plain TCP leaf address; nats-server needs one for the WebSocket leaf endpoint, so by default it takes any port on loopback only"},
		{flag: "monitor-listen", env: "PIKA_NATS_MONITOR_LISTEN", cmds: node, def: ":8222", valid: "host:port or off",
			usage: "HTTP monitoring address: /healthz (200 once this node serves JetStream with the cluster), /varz, /jsz, /routez, /leafz; off: none"},
		{flag: "domain", env: "PIKA_NATS_DOMAIN", cmds: node, def: natsserver.CloudDomain, valid: "no spaces, dots, * or >",
			usage: "JetStream domain of the cloud; DJs' servers reach its API as $JS.<domain>.API"},
		{flag: "cluster-name", env: "PIKA_NATS_CLUSTER", cmds: node, def: "pika", valid: "no spaces",
			usage: "cluster name, the same on every node"},
		{flag: "sync", env: "PIKA_NATS_SYNC", cmds: node, def: "always", valid: "always or interval",
			usage: "always: each write is on disk before it is acknowledged; interval: JetStream's default, on disk within 2 minutes (docs/cloud.md measures both)"},
		{flag: "database-url", env: "PIKA_NATS_DATABASE_URL", cmds: node, secret: maskURL, valid: "a postgres:// URL",
			usage: "PostgreSQL holding the DJ accounts, whose API tokens let DJs connect (default: none, and then no DJ can connect)"},
		{flag: "gateway-password", env: "PIKA_NATS_GATEWAY_PASSWORD", cmds: node, secret: maskAll, valid: "at least 16 characters",
			usage: "password of the user \"gateway\" (prefer the variable: flags show in ps) (default: none, no gateway can connect)"},
		{flag: "persister-password", env: "PIKA_NATS_PERSISTER_PASSWORD", cmds: node, secret: maskAll, valid: "at least 16 characters",
			usage: "password of the user \"persister\" (default: none, the persister cannot connect)"},
		{flag: "admin-password", env: "PIKA_NATS_ADMIN_PASSWORD", cmds: node, secret: maskAll, valid: "at least 16 characters",
			usage: "password of the user \"admin\", who may do anything, for operators (default: none, no admin)"},

		// Observing every process (internal/obs, docs/operations.md).
		{flag: "metrics-listen", env: "PIKA_METRICS_LISTEN", cmds: []string{"lan", "gateway", "persister", "nats"}, valid: "host:port",
			usage: "address to serve Prometheus metrics (/metrics) and this process's health (/healthz) on, a port of their own, e.g. :9090 (default: off)"},
		{flag: "metrics-addr", env: "PIKA_METRICS_ADDR", cmds: pers, valid: "host:port", deprecated: "PIKA_METRICS_LISTEN",
			usage: "the old name of --metrics-listen/PIKA_METRICS_LISTEN, still read when that is not set"},
		{flag: "environment", env: "PIKA_ENVIRONMENT", cmds: all, def: "development", valid: "production, staging or development",
			usage: "which deployment this is, stamped on error reports"},
		{flag: "sentry-dsn", env: "SENTRY_DSN", cmds: all, secret: maskDSN, valid: "https://<key>@<host>/<project>",
			usage: "Sentry DSN for this process's error reports, scrubbed of dancer ids, addresses and tokens (default: none, no reports)"},
		{flag: "sentry-public-dsn", env: "SENTRY_PUBLIC_DSN", cmds: []string{"lan", "gateway"}, secret: maskDSN, valid: "https://<key>@<host>/<project>",
			usage: "Sentry DSN for the pages' error reports, which reach it scrubbed through this server's /api/errors (default: none, the pages report nothing)"},
		{flag: "sentry-traces-sample-rate", env: "SENTRY_TRACES_SAMPLE_RATE", cmds: all, def: "0.05", valid: "a number from 0 to 1",
			usage: "share of requests traced in Sentry; 0 turns tracing off"},
		{flag: "log-level", env: "PIKA_LOG_LEVEL", cmds: all, def: "info", valid: logLevels,
			usage: logLevels},
	}
}

// settingsFor is the table of one command, in the table's order.
func settingsFor(cmd string) []setting {
	var out []setting
	for _, s := range settingsTable() {
		if slices.Contains(s.cmds, cmd) {
			out = append(out, s)
		}
	}
	return out
}

func lanSettings() []setting       { return settingsFor("lan") }
func gatewaySettings() []setting   { return settingsFor("gateway") }
func persisterSettings() []setting { return settingsFor("persister") }
func natsSettings() []setting      { return settingsFor("nats") }
func migrateSettings() []setting   { return settingsFor("migrate") }

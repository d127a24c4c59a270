package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/pika-dj/pika/accounts"
	"github.com/pika-dj/pika/desktop/detect/auto"
	"github.com/pika-dj/pika/persister"
)

// setting is one row of the configuration table: every setting has a flag
// and an environment variable, and a flag wins over the environment. The
// existing deployment's names (PORT, DATABASE_URL, CORS_ORIGIN, SENTRY_DSN)
// are kept as they are; the rest are PIKA_….
type setting struct {
	flag, env string
	def       string // shown in help; "" = none
	usage     string
	isBool    bool
}

// lanSettings is the table for `pika lan`. Later commands extend it.
func lanSettings() []setting {
	return []setting{
		{flag: "addr", env: "PIKA_ADDR", def: ":3000", usage: "address to serve on; :3000 is every interface (phones can join), 127.0.0.1:3000 this laptop only (public Wi-Fi)"},
		{flag: "port", env: "PORT", usage: "port to serve on, if --addr/PIKA_ADDR is not given (the existing deployment's name)"},
		{flag: "data", env: "PIKA_DATA", def: defaultDataDir(), usage: "folder where Pika! keeps its events, DJ id and reading positions"},
		{flag: "source", env: "PIKA_SOURCE", usage: "the DJ program to follow: " + auto.IDs(auto.All()) + " (default: the one found on this computer that was used last; `pika detect` shows what was found)"},
		{flag: "watch", env: "PIKA_WATCH", usage: "with --source, where that program's files are; alone, a history file (M3U/M3U8, VirtualDJ) or a folder of them to play from"},
		{flag: "ignore-decks", env: "PIKA_IGNORE_DECKS", usage: "decks never announced, comma-separated as your DJ program names them, e.g. 3,4 when those decks only play samples"},
		{flag: "min-audible", env: "PIKA_MIN_AUDIBLE", def: "5s", usage: "how long a deck must be heard (fader up, playing) before it is announced, for programs that report faders (Engine DJ, VirtualDJ's Network Control)"},
		{flag: "source-listen", env: "PIKA_SOURCE_LISTEN", usage: "where a source that is sent plays listens, e.g. Traktor's broadcast (default 127.0.0.1:8000)"},
		{flag: "import", env: "PIKA_IMPORT", isBool: true, def: "false", usage: "bring in the entries already in a history file the first time it is seen (otherwise only new plays count)"},
		{flag: "dj-name", env: "PIKA_DJ_NAME", def: "DJ", usage: "your name, as dancers see it"},
		{flag: "demo", env: "PIKA_DEMO", isBool: true, def: "false", usage: "play a built-in list of tracks, into a temporary data folder (never the real one)"},
		{flag: "demo-every", env: "PIKA_DEMO_EVERY", def: "20s", usage: "time between demo tracks"},
		{flag: "public-url", env: "PIKA_PUBLIC_URL", usage: "the URL phones use, printed and put in QR codes (default http://<this laptop's LAN address>:<port>)"},
		{flag: "cors-origin", env: "CORS_ORIGIN", usage: "Access-Control-Allow-Origin for /api (empty: same origin only)"},
		{flag: "database-url", env: "DATABASE_URL", usage: "PostgreSQL to keep the history in, e.g. postgres://pika@localhost/pika (default: none; LAN mode needs no PostgreSQL)"},
		{flag: "log-level", env: "PIKA_LOG_LEVEL", def: "info", usage: "debug, info, warn or error"},
		{flag: "actions-per-ip", env: "PIKA_ACTIONS_PER_IP", def: "60000", usage: "dancer actions a minute from one network address: only a high ceiling against floods, because a venue can put 2,000 phones behind one address (limits per dancer come first)"},
		{flag: "pprof", env: "PIKA_PPROF", usage: "serve Go's profiler (/debug/pprof/) on this loopback address, e.g. 127.0.0.1:6060; never on the dancers' port (default: off)"},
		{flag: "cloud", env: "PIKA_CLOUD_URL", usage: "link this laptop to the Pika! cloud at this wss:// URL (wss://host[:port][/path]), so dancers can follow from anywhere; everything here keeps working when the link is down (default: none, LAN only)"},
		{flag: "cloud-token", env: "PIKA_CLOUD_TOKEN", usage: "your API token (pika_…) for --cloud; required with it"},
	}
}

// persisterSettings is the table for `pika persister`.
func persisterSettings() []setting {
	return []setting{
		{flag: "nats-url", env: "PIKA_NATS_URL", usage: "NATS server(s) holding the DJs' streams, comma-separated, e.g. nats://127.0.0.1:4222 (required)"},
		{flag: "nats-user", env: "PIKA_NATS_USER", def: "persister", usage: "user to connect to NATS as (the cloud's `pika nats` knows \"persister\"); --nats-user= (empty) connects without credentials, for a bus that checks none"},
		{flag: "nats-password", env: "PIKA_NATS_PASSWORD", usage: "the NATS user's password (the node's PIKA_NATS_PERSISTER_PASSWORD); required with a user; prefer the variable: flags show in ps"},
		{flag: "database-url", env: "DATABASE_URL", usage: "PostgreSQL to write to, e.g. postgres://pika@db/pika (required)"},
		{flag: "streams", env: "PIKA_STREAMS", usage: "streams to persist, comma-separated, e.g. DJ_x,ACT_x,CLOUD_DJ_x (default: every DJ_, ACT_, CLOUD_DJ_, CLOUD_ACT_ and CLOUD_CROWD_ stream, looked for every 30 s)"},
		{flag: "metrics-addr", env: "PIKA_METRICS_ADDR", usage: "address to serve Prometheus metrics on at /metrics, e.g. :9102 (default: off)"},
		{flag: "log-level", env: "PIKA_LOG_LEVEL", def: "info", usage: "debug, info, warn or error"},
	}
}

// persisterConfig is `pika persister`'s effective configuration.
type persisterConfig struct {
	NATSURL     string
	NATS        natsCreds
	DatabaseURL string
	Streams     []string // empty: discover
	MetricsAddr string
	LogLevel    string
}

// parsePersister builds and validates `pika persister`'s configuration.
func parsePersister(args []string, getenv func(string) string, help io.Writer) (persisterConfig, error) {
	v, err := parseSettings("persister", persisterSettings(), args, getenv, help)
	if err != nil {
		return persisterConfig{}, err
	}
	var bad []string
	badf := func(format string, a ...any) { bad = append(bad, fmt.Sprintf(format, a...)) }
	cfg := persisterConfig{NATSURL: strings.TrimSpace(v["nats-url"]), DatabaseURL: strings.TrimSpace(v["database-url"]),
		MetricsAddr: strings.TrimSpace(v["metrics-addr"]), LogLevel: strings.ToLower(v["log-level"])}
	if cfg.NATSURL == "" {
		badf("--nats-url/PIKA_NATS_URL: required, e.g. nats://127.0.0.1:4222")
	} else if err := checkNATSURLs(cfg.NATSURL); err != nil {
		badf("--nats-url/PIKA_NATS_URL: %v", err)
	}
	cfg.NATS = natsCreds{User: strings.TrimSpace(v["nats-user"]), Password: v["nats-password"]}
	if err := cfg.NATS.check(); err != nil {
		badf("%v", err)
	}
	if _, err := checkDatabaseURL(cfg.DatabaseURL); err != nil {
		badf("%v", err)
	}
	for _, s := range strings.Split(v["streams"], ",") {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if !validStreamName(s) {
			badf("--streams/PIKA_STREAMS %q: each must be a stream name starting with DJ_, ACT_, CLOUD_DJ_, CLOUD_ACT_ or CLOUD_CROWD_", s)
			continue
		}
		cfg.Streams = append(cfg.Streams, s)
	}
	if cfg.MetricsAddr != "" {
		if _, port, err := net.SplitHostPort(cfg.MetricsAddr); err != nil {
			badf("--metrics-addr/PIKA_METRICS_ADDR %q: must be host:port, e.g. :9102", cfg.MetricsAddr)
		} else if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
			badf("--metrics-addr/PIKA_METRICS_ADDR %q: bad port", cfg.MetricsAddr)
		}
	}
	switch cfg.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		badf("--log-level/PIKA_LOG_LEVEL %q: must be debug, info, warn or error", cfg.LogLevel)
	}
	if len(bad) > 0 {
		return cfg, usageError{"pika persister: bad configuration:\n  " + strings.Join(bad, "\n  ")}
	}
	return cfg, nil
}

// gatewaySettings is the table for `pika gateway`, a cloud gateway.
func gatewaySettings() []setting {
	return []setting{
		{flag: "port", env: "PORT", def: "3000", usage: "port to serve dancers and the REST API on, every interface (the hosting platform's name)"},
		{flag: "listen", env: "PIKA_LISTEN", usage: "host:port to serve on instead, e.g. 127.0.0.1:3000 behind a proxy on the same machine (default: :PORT)"},
		{flag: "nats-url", env: "PIKA_NATS_URL", usage: "the cloud's NATS nodes, comma-separated, e.g. nats://nats-1:4222,nats://nats-2:4222,nats://nats-3:4222 (required)"},
		{flag: "nats-user", env: "PIKA_NATS_USER", def: "gateway", usage: "user to connect to NATS as; --nats-user= (empty) connects without credentials, for nodes that check none"},
		{flag: "nats-password", env: "PIKA_NATS_PASSWORD", usage: "the NATS user's password (the nodes' PIKA_NATS_GATEWAY_PASSWORD); required with a user; prefer the variable: flags show in ps"},
		{flag: "database-url", env: "DATABASE_URL", usage: "PostgreSQL with the DJ accounts and the history (journals, profiles, charts), e.g. postgres://pika@db/pika (default: none; those endpoints answer 503)"},
		{flag: "public-url", env: "PIKA_PUBLIC_URL", usage: "the URL dancers use, the base of links and QR codes, e.g. https://pika.example.com (default: taken from each request's Host)"},
		{flag: "cors-origin", env: "CORS_ORIGIN", usage: "Access-Control-Allow-Origin for /api (default: none, same origin only)"},
		{flag: "id", env: "PIKA_GATEWAY_ID", usage: "this gateway's name in presence reports, unique among the gateways: the DJ side keeps one report per name (default: gw-<host name>-<random>, new at each start)"},
		{flag: "drain-notice", env: "PIKA_DRAIN_NOTICE", def: "3s", usage: "on SIGTERM, how long /healthz says \"draining\" (503) before the phones are told to reconnect elsewhere: longer than the load balancer's health-check interval; 0s closes them at once"},
		{flag: "sentry-dsn", env: "SENTRY_DSN", usage: "Sentry DSN for error reports; checked, not used yet (issue 8 wires Sentry) (default: none)"},
		{flag: "log-level", env: "PIKA_LOG_LEVEL", def: "info", usage: "debug, info, warn or error"},
	}
}

// gatewayConfig is `pika gateway`'s effective configuration.
type gatewayConfig struct {
	Addr        string
	NATSURL     string
	NATS        natsCreds
	DatabaseURL string
	PublicURL   string
	CORSOrigin  string
	ID          string
	DrainNotice time.Duration
	SentryDSN   string
	LogLevel    string
}

// parseGateway builds and validates `pika gateway`'s configuration. newID
// makes the default gateway id.
func parseGateway(args []string, getenv func(string) string, help io.Writer, newID func() string) (gatewayConfig, error) {
	v, err := parseSettings("gateway", gatewaySettings(), args, getenv, help)
	if err != nil {
		return gatewayConfig{}, err
	}
	var bad []string
	badf := func(format string, a ...any) { bad = append(bad, fmt.Sprintf(format, a...)) }
	cfg := gatewayConfig{NATSURL: strings.TrimSpace(v["nats-url"]), DatabaseURL: strings.TrimSpace(v["database-url"]),
		NATS:      natsCreds{User: strings.TrimSpace(v["nats-user"]), Password: v["nats-password"]},
		PublicURL: strings.TrimRight(strings.TrimSpace(v["public-url"]), "/"), CORSOrigin: strings.TrimSpace(v["cors-origin"]),
		ID: strings.TrimSpace(v["id"]), SentryDSN: strings.TrimSpace(v["sentry-dsn"]), LogLevel: strings.ToLower(v["log-level"])}

	if p := strings.TrimSpace(v["port"]); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 0 || n > 65535 {
			badf("--port/PORT %q: must be a port number from 0 to 65535", p)
		}
		cfg.Addr = ":" + p
	}
	if l := strings.TrimSpace(v["listen"]); l != "" {
		cfg.Addr = l
		if _, port, err := net.SplitHostPort(l); err != nil {
			badf("--listen/PIKA_LISTEN %q: must be host:port, e.g. :3000 or 127.0.0.1:3000", l)
		} else if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
			badf("--listen/PIKA_LISTEN %q: bad port", l)
		}
	}
	if cfg.NATSURL == "" {
		badf("--nats-url/PIKA_NATS_URL: required, e.g. nats://nats-1:4222,nats://nats-2:4222,nats://nats-3:4222")
	} else if err := checkNATSURLs(cfg.NATSURL); err != nil {
		badf("--nats-url/PIKA_NATS_URL: %v", err)
	}
	if err := cfg.NATS.check(); err != nil {
		badf("%v", err)
	}
	if cfg.DatabaseURL != "" {
		if _, err := checkDatabaseURL(cfg.DatabaseURL); err != nil {
			badf("%v", err)
		}
	}
	if cfg.PublicURL != "" {
		u, err := url.Parse(cfg.PublicURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			badf("--public-url/PIKA_PUBLIC_URL %q: must be an http:// or https:// URL", cfg.PublicURL)
		}
	}
	if cfg.ID == "" {
		cfg.ID = newID()
	} else if len(cfg.ID) > 64 || strings.ContainsAny(cfg.ID, " \t\r\n.*>") {
		badf("--id/PIKA_GATEWAY_ID %q: 1 to 64 characters, no spaces, dots or wildcards", cfg.ID)
	}
	if d, err := time.ParseDuration(strings.TrimSpace(v["drain-notice"])); err != nil || d < 0 || d > time.Minute {
		badf("--drain-notice/PIKA_DRAIN_NOTICE %q: a duration from 0s to 1m, e.g. 3s", v["drain-notice"])
	} else {
		cfg.DrainNotice = d
	}
	if cfg.SentryDSN != "" {
		// A DSN is https://<key>@<host>/<project>; the message never shows
		// it, as the key is a credential.
		u, err := url.Parse(cfg.SentryDSN)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User == nil || strings.Trim(u.Path, "/") == "" {
			badf("--sentry-dsn/SENTRY_DSN: not a Sentry DSN like https://<key>@<host>/<project>")
		}
	}
	switch cfg.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		badf("--log-level/PIKA_LOG_LEVEL %q: must be debug, info, warn or error", cfg.LogLevel)
	}
	if len(bad) > 0 {
		return cfg, usageError{"pika gateway: bad configuration:\n  " + strings.Join(bad, "\n  ")}
	}
	return cfg, nil
}

// checkNATSURLs accepts what nats.Connect does: one URL or a comma list,
// each nats://, tls://, ws:// or wss:// with a host.
func checkNATSURLs(list string) error {
	for _, s := range strings.Split(list, ",") {
		u, err := url.Parse(strings.TrimSpace(s))
		if err != nil || u.Host == "" {
			return fmt.Errorf("%q is not a URL like nats://host:4222", s)
		}
		switch u.Scheme {
		case "nats", "tls", "ws", "wss":
		default:
			return fmt.Errorf("%q: scheme must be nats, tls, ws or wss", s)
		}
	}
	return nil
}

// validStreamName reports whether s names a stream the persister reads
// (persister.Understands) and a name JetStream allows.
func validStreamName(s string) bool {
	if !persister.Understands(s) || len(s) > 255 {
		return false
	}
	return !strings.ContainsAny(s, ".*>/\\ \t\r\n")
}

// natsCreds is who a cloud service connects to NATS as. The cloud's nodes
// (`pika nats`) know the users "gateway" and "persister" by password; an
// empty user connects without credentials, for a bus that checks none.
type natsCreds struct {
	User, Password string
}

// check refuses a user without a password: the cloud's nodes would refuse
// the connection, and a retry loop saying "authorization violation" every
// second is a worse way to learn it than a line at start. The message
// never repeats the password.
func (c natsCreds) check() error {
	switch {
	case c.User == "" && c.Password != "":
		return errors.New("--nats-password/PIKA_NATS_PASSWORD is set but the user is empty: set --nats-user/PIKA_NATS_USER too")
	case c.User != "" && c.Password == "":
		return fmt.Errorf("--nats-password/PIKA_NATS_PASSWORD: required to connect as %q (the password set on the NATS nodes for that user)", c.User)
	case strings.ContainsAny(c.User, " \t\r\n"):
		return fmt.Errorf("--nats-user/PIKA_NATS_USER %q: no spaces", c.User)
	}
	return nil
}

// lanConfig is `pika lan`'s effective configuration.
type lanConfig struct {
	Addr  string
	Data  string
	Watch string
	// Source is the product id the DJ chose ("" = detect); SourceListen
	// where a listening source listens ("" = its default).
	Source, SourceListen string
	// IgnoreDecks and MinAudible tune the audible-not-cued policy.
	IgnoreDecks []string
	MinAudible  time.Duration
	Import      bool
	DJName      string
	Demo        bool
	DemoEvery   time.Duration
	PublicURL   string
	CORSOrigin  string
	LogLevel    string
	// DatabaseURL, if set, runs the persister in-process.
	DatabaseURL string
	// PProf is the loopback address of the profiler; empty: off.
	PProf string
	// ActionsPerIP is the per-address ceiling on dancer actions a minute.
	ActionsPerIP int
	// Cloud, if set, is the cloud's leaf URL with the DJ's credentials as
	// its user ("dj") and password (the API token): what the embedded
	// server links to.
	Cloud *url.URL
}

// cloudUser is the user name of every DJ's leaf link: the cloud tells DJs
// apart by the token, which is the password.
const cloudUser = "dj"

// parseSettings resolves each setting: flag, else environment, else
// default. It reports every bad value, one line each.
func parseSettings(name string, table []setting, args []string, getenv func(string) string, help io.Writer) (map[string]string, error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	vals := map[string]*string{}
	bools := map[string]*bool{}
	for _, s := range table {
		if s.isBool {
			bools[s.flag] = fs.Bool(s.flag, false, s.usage)
		} else {
			vals[s.flag] = fs.String(s.flag, "", s.usage)
		}
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			printHelp(help, name, table)
			return nil, errHelp
		}
		return nil, usageError{fmt.Sprintf("pika %s: %v (pika %s --help lists the flags)", name, err, name)}
	}
	if fs.NArg() > 0 {
		return nil, usageError{fmt.Sprintf("pika %s: unexpected argument %q (pika %s --help lists the flags)", name, fs.Arg(0), name)}
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	out := map[string]string{}
	for _, s := range table {
		v := s.def
		if e := getenv(s.env); e != "" {
			v = e
		}
		if set[s.flag] {
			if s.isBool {
				v = strconv.FormatBool(*bools[s.flag])
			} else {
				v = *vals[s.flag]
			}
		}
		out[s.flag] = v
	}
	return out, nil
}

// errHelp means --help was printed: not a failure.
var errHelp = errors.New("help shown")

func printHelp(w io.Writer, name string, table []setting) {
	fmt.Fprintf(w, "Usage: pika %s [flags]\n\nEvery flag has an environment variable; a flag wins over the environment.\n\n", name)
	for _, s := range table {
		arg := " VALUE"
		if s.isBool {
			arg = ""
		}
		fmt.Fprintf(w, "  --%s%s  (%s)\n      %s", s.flag, arg, s.env, s.usage)
		if s.def != "" && !s.isBool {
			fmt.Fprintf(w, " [default %s]", s.def)
		}
		fmt.Fprintln(w)
	}
}

// parseLAN builds and validates `pika lan`'s configuration.
func parseLAN(args []string, getenv func(string) string, help io.Writer) (lanConfig, error) {
	v, err := parseSettings("lan", lanSettings(), args, getenv, help)
	if err != nil {
		return lanConfig{}, err
	}
	var bad []string
	badf := func(format string, a ...any) { bad = append(bad, fmt.Sprintf(format, a...)) }
	cfg := lanConfig{Addr: v["addr"], Data: v["data"], Watch: v["watch"],
		Source: strings.ToLower(strings.TrimSpace(v["source"])), SourceListen: strings.TrimSpace(v["source-listen"]), DJName: strings.TrimSpace(v["dj-name"]),
		PublicURL: strings.TrimRight(v["public-url"], "/"), CORSOrigin: v["cors-origin"], LogLevel: strings.ToLower(v["log-level"]),
		DatabaseURL: strings.TrimSpace(v["database-url"]), PProf: strings.TrimSpace(v["pprof"])}
	if cfg.PProf != "" {
		// The profiler shows memory, goroutines and command lines: it is for
		// the laptop's owner, so a network address is refused, not guessed at.
		host, _, err := net.SplitHostPort(cfg.PProf)
		if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
			badf("--pprof/PIKA_PPROF %q: must be a loopback address such as 127.0.0.1:6060 (the profiler is never served to the network)", cfg.PProf)
		}
	}
	if cfg.DatabaseURL != "" {
		if _, err := checkDatabaseURL(cfg.DatabaseURL); err != nil {
			badf("%v", err)
		}
	}
	if u, err := parseCloud(strings.TrimSpace(v["cloud"]), strings.TrimSpace(v["cloud-token"])); err != nil {
		badf("%v", err)
	} else {
		cfg.Cloud = u
	}
	if n, err := strconv.Atoi(v["actions-per-ip"]); err != nil || n < 1 {
		badf("--actions-per-ip/PIKA_ACTIONS_PER_IP %q: must be a number of actions a minute, at least 1", v["actions-per-ip"])
	} else {
		cfg.ActionsPerIP = n
	}

	// PORT only chooses the port when no address was given explicitly.
	if p := v["port"]; p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 0 || n > 65535 {
			badf("--port/PORT %q: must be a port number from 0 to 65535", p)
		} else if getenv("PIKA_ADDR") == "" && !flagGiven(args, "addr") {
			cfg.Addr = ":" + p
		}
	}
	if _, port, err := net.SplitHostPort(cfg.Addr); err != nil {
		badf("--addr/PIKA_ADDR %q: must be host:port, e.g. :3000 or 127.0.0.1:3000", cfg.Addr)
	} else if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		badf("--addr/PIKA_ADDR %q: bad port", cfg.Addr)
	}
	for _, b := range []struct {
		name string
		dst  *bool
	}{{"import", &cfg.Import}, {"demo", &cfg.Demo}} {
		x, err := strconv.ParseBool(v[b.name])
		if err != nil {
			badf("--%s: %q is not true or false", b.name, v[b.name])
		}
		*b.dst = x
	}
	if d, err := time.ParseDuration(v["demo-every"]); err != nil || d < time.Second {
		badf("--demo-every/PIKA_DEMO_EVERY %q: must be a duration of at least 1s, e.g. 20s", v["demo-every"])
	} else {
		cfg.DemoEvery = d
	}
	if cfg.DJName == "" || utf8.RuneCountInString(cfg.DJName) > 100 {
		badf("--dj-name/PIKA_DJ_NAME: must be 1 to 100 characters")
	}
	if cfg.PublicURL != "" {
		u, err := url.Parse(cfg.PublicURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			badf("--public-url/PIKA_PUBLIC_URL %q: must be an http:// or https:// URL", cfg.PublicURL)
		}
	}
	switch cfg.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		badf("--log-level/PIKA_LOG_LEVEL %q: must be debug, info, warn or error", cfg.LogLevel)
	}
	if cfg.Demo && (cfg.Watch != "" || cfg.Source != "") {
		badf("--demo and --watch/--source: choose one source")
	}
	if cfg.Source != "" {
		if _, ok := auto.Find(auto.All(), cfg.Source); !ok {
			badf("--source/PIKA_SOURCE %q: not a program Pika! knows; choose one of %s", cfg.Source, auto.IDs(auto.All()))
		}
	}
	for _, d := range strings.Split(v["ignore-decks"], ",") {
		if d = strings.TrimSpace(d); d != "" {
			cfg.IgnoreDecks = append(cfg.IgnoreDecks, d)
		}
	}
	if d, err := time.ParseDuration(v["min-audible"]); err != nil || d < 0 || d > 5*time.Minute {
		badf("--min-audible/PIKA_MIN_AUDIBLE %q: a duration from 0s to 5m, e.g. 5s", v["min-audible"])
	} else {
		cfg.MinAudible = d
	}
	if cfg.SourceListen != "" {
		if _, _, err := net.SplitHostPort(cfg.SourceListen); err != nil {
			badf("--source-listen/PIKA_SOURCE_LISTEN %q: must be host:port, e.g. 127.0.0.1:8000", cfg.SourceListen)
		}
	}
	if cfg.Data == "" && !cfg.Demo {
		badf("--data/PIKA_DATA: no data folder (and no home folder to default to)")
	}
	if len(bad) > 0 {
		return cfg, usageError{"pika lan: bad configuration:\n  " + strings.Join(bad, "\n  ")}
	}
	return cfg, nil
}

// parseCloud checks --cloud and --cloud-token together and returns the leaf
// URL carrying the token, or nil when neither is set. The messages never
// repeat the token: they end up in terminals and bug reports.
func parseCloud(raw, token string) (*url.URL, error) {
	if raw == "" {
		if token != "" {
			return nil, errors.New("--cloud-token/PIKA_CLOUD_TOKEN is set but --cloud/PIKA_CLOUD_URL is not: say which cloud to link to, e.g. --cloud wss://cloud.example.com")
		}
		return nil, nil
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("--cloud/PIKA_CLOUD_URL: not a URL; use wss://host[:port][/path]")
	}
	switch {
	case u.Scheme != "wss" && u.Scheme != "ws":
		return nil, fmt.Errorf("--cloud/PIKA_CLOUD_URL %q: must start with wss:// (ws:// without TLS, for tests and local setups)", u.Redacted())
	case u.Hostname() == "":
		return nil, fmt.Errorf("--cloud/PIKA_CLOUD_URL %q: no host; use wss://host[:port][/path]", u.Redacted())
	case u.User != nil:
		return nil, fmt.Errorf("--cloud/PIKA_CLOUD_URL %q: put no user or password in the URL; the token goes in --cloud-token/PIKA_CLOUD_TOKEN", u.Redacted())
	case u.RawQuery != "" || u.Fragment != "":
		return nil, fmt.Errorf("--cloud/PIKA_CLOUD_URL %q: no ?query or #fragment; use wss://host[:port][/path]", u.Redacted())
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return nil, fmt.Errorf("--cloud/PIKA_CLOUD_URL %q: bad port", u.Redacted())
		}
	}
	if token == "" {
		return nil, errors.New("--cloud/PIKA_CLOUD_URL needs --cloud-token/PIKA_CLOUD_TOKEN: the API token (pika_…) you got when logging in to your account")
	}
	if !accounts.WellFormedToken(token) {
		return nil, fmt.Errorf("--cloud-token/PIKA_CLOUD_TOKEN: not a well-formed API token (%s…, copied whole from your account)", accounts.TokenPrefix)
	}
	u.User = url.UserPassword(cloudUser, token)
	return u, nil
}

// flagGiven reports whether args set --name (or -name).
func flagGiven(args []string, name string) bool {
	for _, a := range args {
		if a == "--" {
			return false
		}
		a = strings.TrimLeft(a, "-")
		if a == name || strings.HasPrefix(a, name+"=") {
			return true
		}
	}
	return false
}

// defaultDataDir is the per-user data folder: $XDG_DATA_HOME/pika or
// ~/.local/share/pika on Linux, ~/Library/Application Support/Pika on
// macOS, %LOCALAPPDATA%\Pika on Windows.
func defaultDataDir() string {
	home, _ := os.UserHomeDir()
	switch runtime.GOOS {
	case "windows":
		if d := os.Getenv("LOCALAPPDATA"); d != "" {
			return filepath.Join(d, "Pika")
		}
	case "darwin":
		if home != "" {
			return filepath.Join(home, "Library", "Application Support", "Pika")
		}
	default:
		if d := os.Getenv("XDG_DATA_HOME"); d != "" {
			return filepath.Join(d, "pika")
		}
	}
	if home == "" {
		return ""
	}
	return filepath.Join(home, ".local", "share", "pika")
}

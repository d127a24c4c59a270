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

// persisterConfig is `pika persister`'s effective configuration.
type persisterConfig struct {
	NATSURL     string
	NATS        natsCreds
	DatabaseURL string
	Streams     []string // empty: discover
	LogLevel    string
	Obs         obsConfig
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
		LogLevel: strings.ToLower(v["log-level"])}
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
	cfg.Obs = parseObs(v, badf)
	checkLogLevel(cfg.LogLevel, badf)
	if len(bad) > 0 {
		return cfg, usageError{"pika persister: bad configuration:\n  " + strings.Join(bad, "\n  ")}
	}
	return cfg, nil
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
	LogLevel    string
	Obs         obsConfig
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
		ID: strings.TrimSpace(v["id"]), LogLevel: strings.ToLower(v["log-level"])}

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
	cfg.Obs = parseObs(v, badf)
	checkLogLevel(cfg.LogLevel, badf)
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
	Obs   obsConfig
}

// cloudUser is the user name of every DJ's leaf link: the cloud tells DJs
// apart by the token, which is the password.
const cloudUser = "dj"

// parseSettings resolves each setting: flag, else environment, else
// default. It reports every bad value, one line each.
func parseSettings(name string, table []setting, args []string, getenv func(string) string, help io.Writer) (map[string]string, error) {
	r, err := resolveSettings(name, table, args, getenv, help)
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(r))
	for k, v := range r {
		out[k] = v.value
	}
	return out, nil
}

// Where a setting's value came from, as `pika config` says it.
const (
	fromFlag    = "flag"
	fromEnv     = "environment"
	fromDefault = "default"
	fromUnset   = "unset"
)

// resolved is a setting's value and where it came from.
type resolved struct {
	value, from string
}

// resolveSettings is parseSettings, saying where each value came from.
func resolveSettings(name string, table []setting, args []string, getenv func(string) string, help io.Writer) (map[string]resolved, error) {
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
	out := map[string]resolved{}
	for _, s := range table {
		v := resolved{s.def, fromDefault}
		if s.def == "" {
			v.from = fromUnset
		}
		if e := getenv(s.env); e != "" {
			v = resolved{e, fromEnv}
		}
		if set[s.flag] {
			if s.isBool {
				v = resolved{strconv.FormatBool(*bools[s.flag]), fromFlag}
			} else {
				v = resolved{*vals[s.flag], fromFlag}
			}
		}
		out[s.flag] = v
	}
	return out, nil
}

// errHelp means --help was printed: not a failure.
var errHelp = errors.New("help shown")

func printHelp(w io.Writer, name string, table []setting) {
	fmt.Fprintf(w, "Usage: pika %s [flags]\n\nEvery flag has an environment variable; a flag wins over the environment.\ndocs/configuration.md lists them all; pika config %s shows their values.\n\n", name, name)
	for _, s := range table {
		arg := " VALUE"
		if s.isBool {
			arg = ""
		}
		fmt.Fprintf(w, "  --%s%s  (%s)\n      %s", s.flag, arg, s.env, s.usage)
		if s.def != "" && !s.isBool {
			fmt.Fprintf(w, " [default %s]", s.def)
		}
		if s.deprecated != "" {
			fmt.Fprintf(w, " [deprecated: use %s]", s.deprecated)
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
		env  string
	}{{"import", &cfg.Import, "PIKA_IMPORT"}, {"demo", &cfg.Demo, "PIKA_DEMO"}} {
		x, err := strconv.ParseBool(v[b.name])
		if err != nil {
			badf("--%s/%s %q: must be true or false", b.name, b.env, v[b.name])
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
	checkLogLevel(cfg.LogLevel, badf)
	cfg.Obs = parseObs(v, badf)
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
	if err := accounts.CheckTokenFormat(token); err != nil {
		if errors.Is(err, accounts.ErrOldToken) {
			return nil, errors.New("--cloud-token/PIKA_CLOUD_TOKEN: this token has the old format (no DJ id); make a new one in your account (it starts with pika_dj)")
		}
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

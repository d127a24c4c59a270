package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// validEnv is, for each command, an environment its parse function accepts
// as it is: each case below changes one variable of it.
func validEnv(t *testing.T) map[string]map[string]string {
	dir := t.TempDir()
	return map[string]map[string]string{
		"lan":       {"PIKA_DATA": dir},
		"gateway":   {"PIKA_NATS_URL": "nats://127.0.0.1:4222", "PIKA_NATS_PASSWORD": "gateway-password-0123"},
		"persister": {"PIKA_NATS_URL": "nats://127.0.0.1:4222", "PIKA_NATS_PASSWORD": "persister-password-01", "DATABASE_URL": "postgres://pika@db/pika"},
		"nats":      {"PIKA_NATS_DATA": dir, "PIKA_NATS_ROUTES": "nats://nats-1:6222,nats://nats-2:6222"},
		"migrate":   {"DATABASE_URL": "postgres://pika@db/pika"},
	}
}

// parseFor runs cmd's parse function on an environment.
func parseFor(cmd string, env map[string]string) error {
	return checkConfig(cmd, nil, func(k string) string { return env[k] })
}

// badValue is, for each variable the table says is checked, a value it
// refuses ("" removes the variable: it is required). A key "cmd:VAR" is
// for one command only. extra is set beside it (a token needs its cloud).
type badValue struct {
	value string
	extra map[string]string
}

var badValues = map[string]badValue{
	"PIKA_ADDR":                    {value: "nope"},
	"PORT":                         {value: "x"},
	"PIKA_LISTEN":                  {value: "nope"},
	"PIKA_SOURCE":                  {value: "winamp"},
	"PIKA_MIN_AUDIBLE":             {value: "-1s"},
	"PIKA_SOURCE_LISTEN":           {value: "nope"},
	"PIKA_IMPORT":                  {value: "maybe"},
	"PIKA_DJ_NAME":                 {value: strings.Repeat("x", 101)},
	"PIKA_DEMO":                    {value: "maybe"},
	"PIKA_DEMO_EVERY":              {value: "1ms"},
	"PIKA_PUBLIC_URL":              {value: "ftp://x"},
	"DATABASE_URL":                 {value: "mysql://u:dbsecret@h/db"},
	"migrate:DATABASE_URL":         {value: ""},
	"persister:DATABASE_URL":       {value: ""},
	"PIKA_ACTIONS_PER_IP":          {value: "0"},
	"PIKA_PPROF":                   {value: ":6060"},
	"PIKA_CLOUD_URL":               {value: "https://cloud.example.com", extra: map[string]string{"PIKA_CLOUD_TOKEN": testToken}},
	"PIKA_CLOUD_TOKEN":             {value: "pika_short", extra: map[string]string{"PIKA_CLOUD_URL": "wss://cloud.example.com"}},
	"PIKA_GATEWAY_ID":              {value: "a.b"},
	"PIKA_DRAIN_NOTICE":            {value: "5m"},
	"PIKA_NATS_URL":                {value: ""},
	"PIKA_NATS_USER":               {value: "a b"},
	"PIKA_NATS_PASSWORD":           {value: ""},
	"PIKA_STREAMS":                 {value: "KV_x"},
	"PIKA_NATS_NAME":               {value: "a.b"},
	"PIKA_NATS_DATA":               {value: ""},
	"PIKA_NATS_ROUTES":             {value: ""},
	"PIKA_NATS_LISTEN":             {value: "nope"},
	"PIKA_NATS_CLUSTER_LISTEN":     {value: "nope"},
	"PIKA_NATS_WS_LISTEN":          {value: "nope"},
	"PIKA_NATS_LEAF_LISTEN":        {value: "nope"},
	"PIKA_NATS_MONITOR_LISTEN":     {value: "nope"},
	"PIKA_NATS_DOMAIN":             {value: "a.b"},
	"PIKA_NATS_CLUSTER":            {value: "a b"},
	"PIKA_NATS_SYNC":               {value: "sometimes"},
	"PIKA_NATS_DATABASE_URL":       {value: "mysql://u:dbsecret@h/db"},
	"PIKA_NATS_GATEWAY_PASSWORD":   {value: "short"},
	"PIKA_NATS_PERSISTER_PASSWORD": {value: "short"},
	"PIKA_NATS_ADMIN_PASSWORD":     {value: "short"},
	"PIKA_METRICS_LISTEN":          {value: "nope"},
	"PIKA_METRICS_ADDR":            {value: "nope"},
	"PIKA_ENVIRONMENT":             {value: "prod"},
	"SENTRY_DSN":                   {value: "https://o1.ingest.sentry.io/42"},
	"SENTRY_PUBLIC_DSN":            {value: "not a dsn"},
	"SENTRY_TRACES_SAMPLE_RATE":    {value: "2"},
	"PIKA_LOG_LEVEL":               {value: "loud"},
}

// TestConfigEveryBadValue: for every variable the table says is checked,
// in every command that reads it, a bad (or missing, when required) value
// is refused as a usage error (exit 2) with a line naming the variable,
// and the command accepts the same environment without it.
func TestConfigEveryBadValue(t *testing.T) {
	for _, s := range settingsTable() {
		if s.valid == "" && !s.required {
			continue
		}
		for _, cmd := range s.cmds {
			t.Run(cmd+"/"+s.env, func(t *testing.T) {
				env := validEnv(t)[cmd]
				if err := parseFor(cmd, env); err != nil {
					t.Fatalf("the valid environment is refused: %v", err)
				}
				bv, ok := badValues[cmd+":"+s.env]
				if !ok {
					if bv, ok = badValues[s.env]; !ok {
						t.Fatalf("no bad value to try for %s: add one to badValues", s.env)
					}
				}
				for k, v := range bv.extra {
					env[k] = v
				}
				if bv.value == "" {
					delete(env, s.env)
				} else {
					env[s.env] = bv.value
				}
				err := parseFor(cmd, env)
				var ue usageError
				if !errors.As(err, &ue) {
					t.Fatalf("%s=%q: want a usage error (exit 2), got %v", s.env, bv.value, err)
				}
				var lines []string
				for _, l := range strings.Split(ue.msg, "\n") {
					if strings.Contains(l, s.env) {
						lines = append(lines, l)
					}
				}
				if len(lines) != 1 {
					t.Errorf("%s=%q: want one line naming %s, got:\n%s", s.env, bv.value, s.env, ue.msg)
				}
				if strings.Contains(ue.msg, "dbsecret") || strings.Contains(ue.msg, "goroutine") {
					t.Errorf("the message shows a password or a stack:\n%s", ue.msg)
				}
			})
		}
	}
}

// TestConfigBadValueExits2 runs the binary: a bad configuration is exit
// status 2, one line per bad value, and never a stack trace.
func TestConfigBadValueExits2(t *testing.T) {
	bin := pikaBinary(t)
	for _, c := range []struct {
		args []string
		env  []string
		want []string
	}{
		{[]string{"gateway"}, []string{"PIKA_ENVIRONMENT=prod", "SENTRY_TRACES_SAMPLE_RATE=x"}, []string{"PIKA_NATS_URL", "PIKA_NATS_PASSWORD", "PIKA_ENVIRONMENT", "SENTRY_TRACES_SAMPLE_RATE"}},
		{[]string{"persister"}, []string{"PIKA_METRICS_LISTEN=nope", "DATABASE_URL=postgres://u:dbsecret@h:x/db"}, []string{"PIKA_NATS_URL", "PIKA_NATS_PASSWORD", "PIKA_METRICS_LISTEN", "DATABASE_URL"}},
		{[]string{"nats"}, []string{"SENTRY_DSN=https://key@sentry.example.com"}, []string{"PIKA_NATS_DATA", "PIKA_NATS_ROUTES", "SENTRY_DSN"}},
		{[]string{"migrate", "up"}, []string{"DATABASE_URL=postgres://pika@db/pika", "PIKA_LOG_LEVEL=loud"}, []string{"PIKA_LOG_LEVEL"}},
		{[]string{"lan"}, []string{"PIKA_DEMO_EVERY=0s", "SENTRY_PUBLIC_DSN=x"}, []string{"PIKA_DEMO_EVERY", "SENTRY_PUBLIC_DSN"}},
	} {
		cmd := exec.Command(bin, c.args...)
		cmd.Env = append([]string{"HOME=" + t.TempDir(), "PATH=" + os.Getenv("PATH")}, c.env...)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 2 {
			t.Errorf("pika %v: %v, want exit status 2\n%s", c.args, err, out.String())
			continue
		}
		// One line per problem, under a heading when there are several.
		lines, want := strings.Split(strings.TrimSpace(out.String()), "\n"), len(c.want)
		if want > 1 {
			want++
		}
		if len(lines) != want {
			t.Errorf("pika %v: want %d lines:\n%s", c.args, want, out.String())
		}
		for _, w := range c.want {
			if !strings.Contains(out.String(), w) {
				t.Errorf("pika %v: no line names %s:\n%s", c.args, w, out.String())
			}
		}
		if strings.Contains(out.String(), "goroutine") || strings.Contains(out.String(), "dbsecret") {
			t.Errorf("pika %v: a stack trace or a password:\n%s", c.args, out.String())
		}
	}
}

// TestConfigTableIsConsistent: no two rows of one command share a flag or
// a variable, every row names known commands, and a default is valid.
func TestConfigTableIsConsistent(t *testing.T) {
	for _, cmd := range allCommands() {
		flags, envs := map[string]bool{}, map[string]bool{}
		for _, s := range settingsFor(cmd) {
			if flags[s.flag] || envs[s.env] {
				t.Errorf("%s: --%s/%s twice", cmd, s.flag, s.env)
			}
			flags[s.flag], envs[s.env] = true, true
			if s.usage == "" {
				t.Errorf("%s: %s has no meaning", cmd, s.env)
			}
		}
		if err := parseFor(cmd, validEnv(t)[cmd]); err != nil {
			t.Errorf("%s: the defaults with the required values are refused: %v", cmd, err)
		}
	}
	for _, s := range settingsTable() {
		for _, c := range s.cmds {
			if !slices.Contains(allCommands(), c) {
				t.Errorf("%s: unknown command %q", s.env, c)
			}
		}
	}
}

// TestConfigMasksSecrets: `pika config` shows every value and where it
// came from, and never a password, token or DSN key.
func TestConfigMasksSecrets(t *testing.T) {
	secrets := []string{"dbsecret", "natsgwsecret", "nodegwsecret-0123456789", "nodepersecret-0123456789", "nodeadminsecret-0123456789",
		"sentrykey123", "publickey456", testToken[len("pika_dj"):], "nodedbsecret", "kvsecret"}
	env := map[string]string{
		"DATABASE_URL":                 "postgres://pika:dbsecret@db:5432/pika?sslmode=disable",
		"PIKA_NATS_URL":                "nats://nats-1:4222",
		"PIKA_NATS_PASSWORD":           "natsgwsecret",
		"PIKA_NATS_GATEWAY_PASSWORD":   "nodegwsecret-0123456789",
		"PIKA_NATS_PERSISTER_PASSWORD": "nodepersecret-0123456789",
		"PIKA_NATS_ADMIN_PASSWORD":     "nodeadminsecret-0123456789",
		"PIKA_NATS_DATABASE_URL":       "postgres://pika:nodedbsecret@db/pika",
		"SENTRY_DSN":                   "https://sentrykey123@o1.ingest.sentry.io/42",
		"SENTRY_PUBLIC_DSN":            "https://publickey456@o1.ingest.sentry.io/43",
		"PIKA_CLOUD_URL":               "wss://cloud.example.com",
		"PIKA_CLOUD_TOKEN":             testToken,
		"PIKA_ENVIRONMENT":             "staging",
		"PIKA_METRICS_LISTEN":          ":9090",
	}
	run := func(args ...string) (string, error) {
		var out bytes.Buffer
		a := &app{getenv: func(k string) string { return env[k] }, stdout: &out, stderr: &out}
		err := a.run(context.Background(), append([]string{"config"}, args...))
		s := out.String()
		for _, secret := range secrets {
			if strings.Contains(s, secret) {
				t.Errorf("pika config %v shows the secret %q:\n%s", args, secret, s)
			}
		}
		return s, err
	}

	out, err := run()
	if err != nil {
		t.Fatalf("pika config: %v\n%s", err, out)
	}
	for _, want := range []string{
		"pika lan", "pika gateway", "pika persister", "pika nats", "pika migrate",
		"postgres://pika:****@db:5432/pika?sslmode=disable", "postgres://pika:****@db/pika",
		"https://****@o1.ingest.sentry.io/42", "https://****@o1.ingest.sentry.io/43",
		"PIKA_ENVIRONMENT", "staging", "(environment)", "(default)", "0.05",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("pika config lacks %q:\n%s", want, out)
		}
	}
	for in, want := range map[string]string{
		"host=db user=pika password=kvsecret dbname=pika": "host=db user=pika password=**** dbname=pika",
		"host=db password='kv secret' dbname=pika":        "host=db password=**** dbname=pika",
		"postgres://db/pika?user=pika&password=kvsecret":  "postgres://db/pika?user=pika&password=****",
		"postgres://pika@db/pika":                         "postgres://pika@db/pika",
		"not a url: kvsecret":                             "****",
	} {
		if got := maskValue(maskURL, in); got != want {
			t.Errorf("maskValue(%q) = %q, want %q", in, got, want)
		}
	}
	if n := strings.Count(out, "****"); n < 10 {
		t.Errorf("%d masked values, want at least 10:\n%s", n, out)
	}

	// One command, with a flag: its values only, each with its origin, and
	// its own check of them.
	out, err = run("gateway", "--port", "4000", "--nats-password", "natsgwsecret")
	if err != nil {
		t.Fatalf("pika config gateway: %v\n%s", err, out)
	}
	for _, re := range []string{`PORT\s+4000\s+\(flag\)`, `PIKA_NATS_PASSWORD\s+\*\*\*\*\s+\(flag\)`, `PIKA_DRAIN_NOTICE\s+3s\s+\(default\)`,
		`PIKA_LISTEN\s+-\s+\(unset\)`, `PIKA_GATEWAY_ID\s+-\s+\(default: gw-<host name>-<random>\)`, "configuration ok"} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("pika config gateway lacks %s:\n%s", re, out)
		}
	}
	if strings.Contains(out, "pika lan") || strings.Contains(out, "PIKA_NATS_ROUTES") {
		t.Errorf("pika config gateway shows other commands:\n%s", out)
	}

	// A bad value in the command asked about: its lines, exit 2.
	env["PIKA_NATS_SYNC"] = "sometimes"
	env["PIKA_NATS_ADMIN_PASSWORD"] = "shortsecret"
	secrets = append(secrets, "shortsecret")
	out, err = run("nats")
	var ue usageError
	if !errors.As(err, &ue) || !strings.Contains(out, "--sync/PIKA_NATS_SYNC") || !strings.Contains(out, "PIKA_NATS_ADMIN_PASSWORD: at least 16") {
		t.Errorf("pika config nats with bad values: %v, want exit 2 and the lines:\n%s", err, out)
	}
	if out, err := run("persister", "--help"); err != nil || !strings.Contains(out, "PIKA_METRICS_LISTEN") {
		t.Errorf("pika config persister --help: %v\n%s", err, out)
	}
	if _, err := run("nope"); !errors.As(err, &ue) {
		t.Errorf("pika config nope: %v, want a usage error", err)
	}
}

// TestConfigCloudTokenOldFormat: a token of the first format (no DJ id)
// gets its own advice, not "not well-formed".
func TestConfigCloudTokenOldFormat(t *testing.T) {
	old := "pika_" + base64.RawURLEncoding.EncodeToString(make([]byte, 32))
	_, err := parseCloud("wss://cloud.example.com", old)
	if err == nil || !strings.Contains(err.Error(), "old format") || !strings.Contains(err.Error(), "pika_dj") || strings.Contains(err.Error(), old) {
		t.Errorf("old token: %v", err)
	}
	_, err = parseCloud("wss://cloud.example.com", "pika_nope")
	if err == nil || !strings.Contains(err.Error(), "not a well-formed API token") {
		t.Errorf("malformed token: %v", err)
	}
	if u, err := parseCloud("wss://cloud.example.com", testToken); err != nil || u == nil {
		t.Errorf("good token: %v", err)
	}
}

// TestHealth: `pika health` exits 0 on 2xx, and 1 with one line on
// anything else (a status, a refused connection).
func TestHealth(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" {
			fmt.Fprintln(w, "ok")
			return
		}
		http.Error(w, "draining\nsecond line", http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	closed := httptest.NewServer(http.NotFoundHandler())
	closedURL := closed.URL
	closed.Close()

	run := func(args ...string) (string, error) {
		var out bytes.Buffer
		a := &app{getenv: func(string) string { return "" }, stdout: &out, stderr: &out}
		err := a.run(context.Background(), append([]string{"health"}, args...))
		return out.String(), err
	}
	if out, err := run(srv.URL + "/healthz"); err != nil {
		t.Errorf("healthy: %v %s", err, out)
	}
	_, err := run(srv.URL + "/other")
	var ue usageError
	if err == nil || errors.As(err, &ue) || !strings.Contains(err.Error(), "503") || !strings.Contains(err.Error(), "draining") || strings.Contains(err.Error(), "\n") {
		t.Errorf("503: %v, want one line with the status and the reason", err)
	}
	if _, err = run(closedURL + "/healthz"); err == nil || errors.As(err, &ue) || strings.Contains(err.Error(), "\n") {
		t.Errorf("refused: %v, want one line", err)
	}
	for _, args := range [][]string{nil, {"localhost:3000"}, {"a", "b"}} {
		if _, err := run(args...); !errors.As(err, &ue) {
			t.Errorf("pika health %v: %v, want a usage error", args, err)
		}
	}
}

var updateDocs = flag.Bool("update", false, "rewrite docs/configuration.md's table from the code")

// TestConfigurationDocsMatchCode: docs/configuration.md's table is the
// code's (go test -run TestConfigurationDocsMatchCode -update rewrites
// it): every variable is there with its default, and the doc names no
// variable the code lacks.
func TestConfigurationDocsMatchCode(t *testing.T) {
	path := filepath.Join("..", "..", "docs", "configuration.md")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	if *updateDocs {
		doc, err = replaceDocTable(doc, configurationTable())
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
	}

	// Every row, with its default, in a row of the doc's table.
	rows := map[string][]string{} // variable → the doc's rows naming it
	for _, l := range strings.Split(doc, "\n") {
		if m := regexp.MustCompile("^\\| `([A-Z][A-Z0-9_]*)`").FindStringSubmatch(l); m != nil {
			rows[m[1]] = append(rows[m[1]], l)
		}
	}
	known := map[string]bool{}
	for _, s := range settingsTable() {
		known[s.env] = true
		def := docDefault(s)
		found := false
		for _, r := range rows[s.env] {
			if strings.Contains(r, "`--"+s.flag+"`") && strings.Contains(r, def) && strings.Contains(r, strings.Join(s.cmds, ", ")) {
				found = true
			}
		}
		if !found {
			t.Errorf("docs/configuration.md has no row for %s (--%s, %s) with default %s", s.env, s.flag, strings.Join(s.cmds, ", "), def)
		}
	}
	// No variable the code lacks, anywhere in the doc.
	for _, m := range regexp.MustCompile(`\b(?:PIKA_[A-Z0-9_]+|SENTRY_[A-Z0-9_]+)\b`).FindAllString(doc, -1) {
		if !known[m] && !docOnly[m] {
			t.Errorf("docs/configuration.md names %s, which no command reads", m)
		}
	}
	if !strings.Contains(doc, configurationTable()) {
		t.Errorf("docs/configuration.md's table differs from the code: go test ./cmd/pika -run TestConfigurationDocsMatchCode -update")
	}
}

// docOnly are names the doc may mention that are not a command's: the
// compose files' own variables.
var docOnly = map[string]bool{"PIKA_VERSION": true, "PIKA_IMAGE": true, "PIKA_BIND": true}

// replaceDocTable puts table between the doc's markers.
func replaceDocTable(doc, table string) (string, error) {
	const begin, end = "<!-- table: begin -->\n", "<!-- table: end -->"
	i, j := strings.Index(doc, begin), strings.Index(doc, end)
	if i < 0 || j < i {
		return "", errors.New("docs/configuration.md: no table markers")
	}
	return doc[:i+len(begin)] + table + doc[j:], nil
}

// docDefault is how the doc's table shows a setting's default.
func docDefault(s setting) string {
	switch {
	case s.defDoc != "":
		return docCell(s.defDoc)
	case s.def != "":
		return "`" + s.def + "`"
	case s.required:
		return "required"
	}
	return "none"
}

// docCell escapes text for a cell of a Markdown table: a pipe would end
// the cell, and <word> would be read as HTML.
func docCell(s string) string {
	return strings.NewReplacer("|", `\|`, "<", "&lt;", ">", "&gt;").Replace(s)
}

// configurationTable is the code's table as docs/configuration.md shows it.
func configurationTable() string {
	var b strings.Builder
	b.WriteString("| Variable | Flag | Commands | Default | Secret | Accepted values | Meaning |\n")
	b.WriteString("|---|---|---|---|---|---|---|\n")
	for _, s := range settingsTable() {
		secret := ""
		if s.secret != "" {
			secret = "yes"
		}
		valid := s.valid
		if valid == "" {
			valid = "any"
		}
		usage := s.usage
		if s.deprecated != "" {
			usage = "**Deprecated**: " + usage
		}
		fmt.Fprintf(&b, "| `%s` | `--%s` | %s | %s | %s | %s | %s |\n", s.env, s.flag, strings.Join(s.cmds, ", "), docDefault(s), secret, docCell(valid), docCell(usage))
	}
	return b.String()
}

package main

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"time"
)

// TestGatewayConfig: `pika gateway`'s settings, their defaults, and their
// mistakes (one line each, never echoing a secret).
func TestGatewayConfig(t *testing.T) {
	id := func() string { return "gw-test-1" }
	env := map[string]string{"PIKA_NATS_URL": "nats://n1:4222, nats://n2:4222", "PIKA_NATS_PASSWORD": "gateway-password-16"}
	getenv := func(k string) string { return env[k] }
	cfg, err := parseGateway(nil, getenv, io.Discard, id)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Addr != ":3000" || cfg.NATS.User != "gateway" || cfg.ID != "gw-test-1" || cfg.LogLevel != "info" || cfg.DatabaseURL != "" || cfg.DrainNotice != 3*time.Second {
		t.Fatalf("defaults: %+v", cfg)
	}
	env["PORT"], env["PIKA_GATEWAY_ID"], env["CORS_ORIGIN"] = "8080", "gateway-2", "https://pika.example.com"
	env["PIKA_PUBLIC_URL"], env["SENTRY_DSN"] = "https://pika.example.com/", "https://key@o1.ingest.sentry.io/42"
	if cfg, err = parseGateway(nil, getenv, io.Discard, id); err != nil {
		t.Fatal(err)
	}
	if cfg.Addr != ":8080" || cfg.ID != "gateway-2" || cfg.PublicURL != "https://pika.example.com" || cfg.CORSOrigin != "https://pika.example.com" {
		t.Fatalf("from the environment: %+v", cfg)
	}
	env["PIKA_LISTEN"] = "127.0.0.1:9000" // wins over PORT
	if cfg, err = parseGateway(nil, getenv, io.Discard, id); err != nil || cfg.Addr != "127.0.0.1:9000" {
		t.Fatalf("PIKA_LISTEN: %q, %v", cfg.Addr, err)
	}
	if cfg, err = parseGateway([]string{"--listen", "127.0.0.1:9001"}, getenv, io.Discard, id); err != nil || cfg.Addr != "127.0.0.1:9001" {
		t.Fatalf("--listen: %q, %v", cfg.Addr, err)
	}

	_, err = parseGateway([]string{"--port", "x", "--listen", "nope", "--nats-url", "http://n1", "--nats-user", "svc", "--nats-password", "",
		"--database-url", "mysql://u:dbsecret@h/db", "--public-url", "ftp://x", "--id", "a.b", "--sentry-dsn", "https://o1.ingest.sentry.io/42",
		"--log-level", "loud", "--drain-notice", "5m"}, func(string) string { return "" }, io.Discard, id)
	var ue usageError
	if !errors.As(err, &ue) {
		t.Fatalf("want a usage error, got %v", err)
	}
	for _, want := range []string{`--port/PORT "x"`, `--listen/PIKA_LISTEN "nope"`, "--nats-url/PIKA_NATS_URL", `required to connect as "svc"`,
		"--database-url/DATABASE_URL", "--public-url/PIKA_PUBLIC_URL", `--id/PIKA_GATEWAY_ID "a.b"`, "--sentry-dsn/SENTRY_DSN", "--log-level/PIKA_LOG_LEVEL", "--drain-notice/PIKA_DRAIN_NOTICE"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if n := strings.Count(err.Error(), "\n  "); n != 10 {
		t.Errorf("%d problem lines, want 10:\n%v", n, err)
	}
	if strings.Contains(err.Error(), "dbsecret") {
		t.Errorf("the database password was printed:\n%v", err)
	}

	// --help documents every setting with its variable and default.
	var help bytes.Buffer
	if _, err := parseGateway([]string{"--help"}, getenv, &help, id); !errors.Is(err, errHelp) {
		t.Fatalf("--help: %v", err)
	}
	for _, want := range []string{"PORT", "[default 3000]", "PIKA_LISTEN", "PIKA_NATS_URL", "PIKA_NATS_USER", "[default gateway]", "PIKA_NATS_PASSWORD",
		"DATABASE_URL", "PIKA_PUBLIC_URL", "CORS_ORIGIN", "PIKA_GATEWAY_ID", "PIKA_DRAIN_NOTICE", "[default 3s]", "SENTRY_DSN", "SENTRY_PUBLIC_DSN", "PIKA_METRICS_LISTEN", "PIKA_ENVIRONMENT", "PIKA_LOG_LEVEL"} {
		if !strings.Contains(help.String(), want) {
			t.Errorf("help lacks %q:\n%s", want, help.String())
		}
	}
	if a, b := defaultGatewayID(), defaultGatewayID(); a == b || !strings.HasPrefix(a, "gw-") || strings.ContainsAny(a, ". ") {
		t.Errorf("default ids %q and %q: want unique gw-… without dots", a, b)
	}
}

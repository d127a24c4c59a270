package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/pika-dj/pika/bus"
	"github.com/pika-dj/pika/bus/natsserver"
	"github.com/pika-dj/pika/internal/testenv"
)

// listeningNATS is a NATS JetStream server with a client port, as a cloud
// service's NATS.
func listeningNATS(t *testing.T) *natsserver.Server {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	srv, err := natsserver.Start(ctx, natsserver.Config{StoreDir: t.TempDir(), Domain: bus.NewDJID(), Listen: "127.0.0.1:0", NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	return srv
}

// scrape GETs url and returns its status and body, or 0 when it does not
// answer.
func scrape(url string) (int, string) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// healthExit runs `pika health url` and returns its exit status and output.
func healthExit(t *testing.T, bin, url string) (int, string) {
	t.Helper()
	out, err := exec.Command(bin, "health", url).CombinedOutput()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, string(out)
	case errors.As(err, &ee):
		return ee.ExitCode(), string(out)
	}
	t.Fatalf("pika health: %v", err)
	return -1, ""
}

// TestGatewayMetricsAndHealth: `pika gateway` with PIKA_METRICS_LISTEN
// serves its series and /healthz (JetStream answers) on a port of their
// own, and `pika health` reads it.
func TestGatewayMetricsAndHealth(t *testing.T) {
	srv := listeningNATS(t)
	metrics := freeAddr(t)
	env := map[string]string{"PIKA_NATS_URL": srv.ClientURL(), "PIKA_LISTEN": freeAddr(t), "PIKA_METRICS_LISTEN": metrics,
		"PIKA_DRAIN_NOTICE": "0s", "PIKA_ENVIRONMENT": "staging", "SENTRY_PUBLIC_DSN": "https://key@sentry.example.com/1"}
	ctx, cancel := context.WithCancel(context.Background())
	out := &lockedBuffer{}
	done := make(chan error, 1)
	a := &app{getenv: func(k string) string { return env[k] }, stdout: out, stderr: out}
	go func() { done <- a.run(ctx, []string{"gateway", "--nats-user="}) }()
	defer func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("pika gateway: %v", err)
			}
		case <-time.After(20 * time.Second):
			t.Error("pika gateway did not stop within 20 s")
		}
		if t.Failed() {
			t.Logf("pika gateway output:\n%s", out)
		}
	}()

	testenv.Eventually(t, 30*time.Second, "the gateway's /healthz on PIKA_METRICS_LISTEN says ok", func() bool {
		code, _ := scrape("http://" + metrics + "/healthz")
		return code == http.StatusOK
	})
	if code, body := healthExit(t, pikaBinary(t), "http://"+metrics+"/healthz"); code != 0 {
		t.Errorf("pika health: exit %d: %s", code, body)
	}
	_, body := scrape("http://" + metrics + "/metrics")
	for _, want := range []string{"pika_gateway_sockets", "go_goroutines"} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	// The pages may report errors: the gateway was given the public DSN.
	resp, err := http.Post("http://"+env["PIKA_LISTEN"]+"/api/errors", "application/x-sentry-envelope", strings.NewReader(""))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		t.Errorf("POST /api/errors answers 404: SENTRY_PUBLIC_DSN did not reach the gateway")
	}
}

// TestLANMetricsAndHealth: `pika lan` serves metrics only when asked, with
// its NATS server's and its gateway's series.
func TestLANMetricsAndHealth(t *testing.T) {
	metrics := freeAddr(t)
	startLANWith(t, map[string]string{"PIKA_METRICS_LISTEN": metrics}, "--demo")
	testenv.Eventually(t, 30*time.Second, "pika lan's /healthz says ok", func() bool {
		code, _ := scrape("http://" + metrics + "/healthz")
		return code == http.StatusOK
	})
	_, body := scrape("http://" + metrics + "/metrics")
	for _, want := range []string{"pika_gateway_sockets", "pika_nats_connections"} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// TestPersisterHealthz: the persister's /healthz, which compose's health
// check reads, says ok once NATS and PostgreSQL answer, and says which is
// missing otherwise (pika health exits 1 with that line).
func TestPersisterHealthz(t *testing.T) {
	bin := pikaBinary(t)
	dsn := testenv.Postgres(t)
	srv := listeningNATS(t)
	up, down := freeAddr(t), freeAddr(t)
	start := func(natsURL, metrics string) {
		cmd := exec.Command(bin, "persister")
		cmd.Env = append(os.Environ(), "PIKA_NATS_URL="+natsURL, "PIKA_NATS_PASSWORD=ignored-by-an-open-bus", "DATABASE_URL="+dsn, "PIKA_METRICS_LISTEN="+metrics, "PIKA_METRICS_ADDR=")
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			if t.Failed() {
				t.Logf("pika persister output:\n%s", out.String())
			}
		})
	}
	start(srv.ClientURL(), up)
	start("nats://"+freeAddr(t), down) // nothing listens there

	testenv.Eventually(t, 30*time.Second, "pika health exits 0 against the persister", func() bool {
		code, _ := healthExit(t, bin, "http://"+up+"/healthz")
		return code == 0
	})
	var code int
	var out string
	testenv.Eventually(t, 30*time.Second, "the persister without NATS serves its /healthz", func() bool {
		code, out = healthExit(t, bin, "http://"+down+"/healthz")
		return strings.Contains(out, "503")
	})
	if code != 1 || !strings.Contains(out, "NATS is not connected") || strings.Count(strings.TrimSpace(out), "\n") != 0 {
		t.Errorf("pika health against a persister without NATS: exit %d, %q; want 1 and one line saying why", code, out)
	}
}

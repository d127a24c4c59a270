package obs

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

func TestScrubEnvelope(t *testing.T) {
	const client, ip, secret = "c-0123456789abcdef0123", "198.51.100.4", "0123456789abcdef0123456789abcdef"
	event := `{"event_id":"fedcba9876543210fedcba9876543210","message":"boom for ` + client + `","user":{"ip_address":"` + ip + `"},` +
		`"request":{"url":"https://pika.example/dj#s=x&k=` + secret + `","headers":{"User-Agent":"x","X-Forwarded-For":"` + ip + `"}},` +
		`"exception":{"values":[{"type":"TypeError","value":"x of ` + ip + `","stacktrace":{"frames":[{"filename":"/assets/session.js","lineno":3}]}}]},` +
		`"release":"evil","environment":"evil","server_name":"my-phone"}`
	env := `{"event_id":"fedcba9876543210fedcba9876543210","dsn":"http://other@evil/1"}` + "\n" +
		`{"type":"attachment","length":5}` + "\nhello\n" +
		`{"type":"event","length":` + strconv.Itoa(len(event)) + `}` + "\n" + event + "\n"
	out, err := ScrubEnvelope([]byte(env), "http://key@127.0.0.1:1/1", "v1.2.3", "staging")
	if err != nil {
		t.Fatal(err)
	}
	s := string(out)
	for _, leak := range []string{client, ip, secret, "hello", "evil", "my-phone", "User-Agent"} {
		if strings.Contains(s, leak) {
			t.Errorf("envelope still holds %q:\n%s", leak, s)
		}
	}
	for _, want := range []string{`"release":"v1.2.3"`, `"environment":"staging"`, `"url":"https://pika.example/dj"`, `"lineno":3`, `"event_id":"fedcba9876543210fedcba9876543210"`, `"dsn":"http://key@127.0.0.1:1/1"`} {
		if !strings.Contains(s, want) {
			t.Errorf("envelope lacks %s:\n%s", want, s)
		}
	}
	for _, bad := range []string{"", "{}\n", "{}\n" + `{"type":"session"}` + "\n{}\n", "{}\n" + `{"type":"event","length":999}` + "\n{}"} {
		if _, err := ScrubEnvelope([]byte(bad), "d", "", ""); err == nil {
			t.Errorf("ScrubEnvelope(%q) accepted it", bad)
		}
	}
}

func TestServeMetrics(t *testing.T) {
	reg := NewRegistry()
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "pika_test_total", Help: "test"})
	reg.MustRegister(c)
	c.Add(3)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	notReady := errors.New("bus unreachable from 10.1.2.3")
	readyErr := make(chan error, 1)
	readyErr <- notReady
	ready := func(context.Context) error {
		err := <-readyErr
		readyErr <- nil // ready from the second call on
		return err
	}
	done := make(chan error, 1)
	go func() { done <- ServeMetricsOn(ctx, ln, reg, ready, nil) }()
	base := "http://" + ln.Addr().String()

	get := func(path string) (int, string) {
		t.Helper()
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("/healthz"); code != 503 || !strings.Contains(body, "bus unreachable from [ip]") {
		t.Errorf("not ready: %d %q", code, body)
	}
	if code, body := get("/healthz"); code != 200 || strings.TrimSpace(body) != "ok" {
		t.Errorf("ready: %d %q", code, body)
	}
	code, body := get("/metrics")
	for _, want := range []string{"pika_test_total 3", "go_goroutines", "process_"} {
		if code != 200 || !strings.Contains(body, want) {
			t.Errorf("/metrics %d lacks %s", code, want)
		}
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("ServeMetrics after cancel: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("ServeMetrics did not stop with its context")
	}
}

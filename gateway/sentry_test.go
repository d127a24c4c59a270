package gateway

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gorilla/websocket"

	"github.com/pika-dj/pika/internal/obs"
	"github.com/pika-dj/pika/internal/testenv"
	"github.com/pika-dj/pika/web"
)

// fakeSentry is a local Sentry: it keeps every envelope posted to it.
type fakeSentry struct {
	dsn string
	mu  sync.Mutex
	got []string // envelope bodies
	hdr []http.Header
}

func newFakeSentry(t *testing.T) *fakeSentry {
	t.Helper()
	f := &fakeSentry{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if r.URL.Path != "/api/1/envelope/" {
			t.Errorf("fake Sentry: POST to %s", r.URL.Path)
		}
		f.mu.Lock()
		f.got = append(f.got, string(b))
		f.hdr = append(f.hdr, r.Header.Clone())
		f.mu.Unlock()
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(srv.Close)
	f.dsn = "http://publickey@" + strings.TrimPrefix(srv.URL, "http://") + "/1"
	return f
}

// envelopes waits for at least n envelopes and returns them.
func (f *fakeSentry) envelopes(t *testing.T, n int) []string {
	t.Helper()
	testenv.Eventually(t, 15*time.Second, "envelopes at the fake Sentry", func() bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		return len(f.got) >= n
	})
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.got...)
}

// What a dancer's request carries that must never reach Sentry.
const (
	leakClient = "c-0123456789abcdef0123"
	leakIP     = "203.0.113.77"
	leakToken  = "pika_dj01JD2Z8Q3N_s3cr3tT0k3n"
	leakSecret = "0123456789abcdef0123456789abcdef"
)

func assertNoLeak(t *testing.T, what, body string) {
	t.Helper()
	for _, leak := range []string{leakClient, leakIP, leakToken, "s3cr3tT0k3n", leakSecret} {
		if strings.Contains(body, leak) {
			t.Errorf("%s holds %q:\n%s", what, leak, body)
		}
	}
}

// TestPanicReachesSentryScrubbed is must-show 5: a panic in a gateway
// handler reaches a local fake Sentry with release and environment, the
// route's pattern and no dancer id, IP address or token, and the gateway
// keeps serving.
func TestPanicReachesSentryScrubbed(t *testing.T) {
	fake := newFakeSentry(t)
	hub, err := obs.NewSentryHub(obs.SentryOptions{DSN: fake.dsn, Release: "pika@1.2.3-test", Environment: "staging"})
	if err != nil {
		t.Fatal(err)
	}
	// A handler that panics with everything it was given in the message,
	// added before the gateway serves (fiber's routes are not safe to add later).
	e := newEnv(t, func(c *Config) { c.Sentry = hub }, func(gw *Gateway) {
		gw.App().Get("/test-panic/:client", func(c *fiber.Ctx) error {
			panic("boom for " + c.Params("client") + " from " + c.Get("X-Forwarded-For") + " with " + c.Get("Authorization") + " k=" + c.Query("k"))
		})
	})
	req, _ := http.NewRequest("GET", e.url+"/test-panic/"+leakClient+"?clientId="+leakClient+"&k="+leakSecret, nil)
	req.Header.Set("X-Forwarded-For", leakIP)
	req.Header.Set("Authorization", "Bearer "+leakToken)
	req.Header.Set("Cookie", "pika_session="+leakToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 500 || !strings.Contains(string(body), `"code":"internal"`) {
		t.Fatalf("panicking handler answered %d %s", resp.StatusCode, body)
	}
	// Still serving.
	if code, _, _ := testenv.Request(t, "GET", e.url+"/healthz", ""); code != 200 {
		t.Fatalf("after the panic /healthz answers %d", code)
	}
	hub.Flush(10 * time.Second)
	env := fake.envelopes(t, 1)[0]
	t.Logf("envelope: %d bytes", len(env))
	for _, want := range []string{`"release":"pika@1.2.3-test"`, `"environment":"staging"`, `/test-panic/:client`, "boom for [id]"} {
		if !strings.Contains(env, want) {
			t.Errorf("envelope lacks %s:\n%s", want, env)
		}
	}
	assertNoLeak(t, "the panic's envelope", env)
}

// TestPageErrorTunnel: a page's envelope posted to /api/errors reaches the
// fake Sentry scrubbed and stamped with our release and environment; the
// pages are told reports are on; without a DSN there is no tunnel.
func TestPageErrorTunnel(t *testing.T) {
	fake := newFakeSentry(t)
	e := newEnv(t, func(c *Config) {
		c.PublicSentryDSN, c.Release, c.Environment = fake.dsn, "pika@1.2.3-test", "production"
		c.Assets = web.Assets()
	})
	event := `{"event_id":"fedcba9876543210fedcba9876543210","platform":"javascript","level":"error",` +
		`"exception":{"values":[{"type":"TypeError","value":"x is undefined for ` + leakClient + `",` +
		`"stacktrace":{"frames":[{"filename":"/assets/session.js","lineno":42,"colno":7}]}}]},` +
		`"request":{"url":"http://pika.local/dj#s=01JD2Z8Q3N4M5P6R7S8T9V0W1X&k=` + leakSecret + `","headers":{"X-Forwarded-For":"` + leakIP + `"}},` +
		`"user":{"id":"` + leakClient + `","ip_address":"` + leakIP + `"},"release":"page","environment":"page"}`
	envelope := `{"event_id":"fedcba9876543210fedcba9876543210","sent_at":"2026-11-26T07:00:00Z"}` + "\n" +
		`{"type":"event","length":` + strconv.Itoa(len(event)) + "}\n" + event + "\n"
	post := func(body []byte) int {
		t.Helper()
		resp, err := http.Post(e.url+"/api/errors", "text/plain;charset=UTF-8", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := post([]byte(envelope)); code != 204 {
		t.Fatalf("POST /api/errors: %d", code)
	}
	got := fake.envelopes(t, 1)[0]
	for _, want := range []string{`"release":"pika@1.2.3-test"`, `"environment":"production"`, `"url":"http://pika.local/dj"`, `"lineno":42`, `"dsn":"` + fake.dsn + `"`} {
		if !strings.Contains(got, want) {
			t.Errorf("forwarded envelope lacks %s:\n%s", want, got)
		}
	}
	assertNoLeak(t, "the forwarded envelope", got)
	fake.mu.Lock()
	if auth := fake.hdr[0].Get("X-Sentry-Auth"); !strings.Contains(auth, "sentry_key=publickey") {
		t.Errorf("X-Sentry-Auth = %q", auth)
	}
	fake.mu.Unlock()

	if code := post(bytes.Repeat([]byte("x"), maxErrorEnvelope+1)); code != 413 {
		t.Errorf("oversized report: %d, want 413", code)
	}
	if code := post([]byte("not an envelope")); code != 400 {
		t.Errorf("garbage: %d, want 400", code)
	}
	// The per-address limit: a page reports each error once.
	limited := false
	for range errorsPerIPPerMin + 1 {
		if post([]byte("{}")) == 429 {
			limited = true
			break
		}
	}
	if !limited {
		t.Errorf("no 429 after %d reports from one address", errorsPerIPPerMin+1)
	}
	_, _, page := testenv.Request(t, "GET", e.url+"/s/01JD2Z8Q3N4M5P6R7S8T9V0W1X", "")
	if !bytes.Contains(page, errorsScript[len("<head>"):]) {
		t.Errorf("the dancer page is not told reports are on:\n%.300s", page)
	}

	off := newEnv(t, func(c *Config) { c.Assets = web.Assets() })
	resp, err := http.Post(off.url+"/api/errors", "text/plain", strings.NewReader(envelope))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Errorf("without a DSN /api/errors answers %d, want 404", resp.StatusCode)
	}
	_, _, page = testenv.Request(t, "GET", off.url+"/s/01JD2Z8Q3N4M5P6R7S8T9V0W1X", "")
	if bytes.Contains(page, []byte("errors.js")) {
		t.Error("without a DSN the page is told reports are on")
	}
}

// TestPageReporter runs the pages' reporter (web/static/assets/report.js)
// in node against a real gateway: the envelope it builds goes through
// /api/errors to the fake Sentry, with the error, its frames, the page's
// path without the fragment's DJ secret, and our release. (The host here
// is 127.0.0.1, so it is scrubbed too.)
func TestPageReporter(t *testing.T) {
	node := testenv.Need(t, "node")
	fake := newFakeSentry(t)
	e := newEnv(t, func(c *Config) {
		c.PublicSentryDSN, c.Release, c.Environment = fake.dsn, "pika@1.2.3-test", "production"
	})
	report, err := filepath.Abs("../web/static/assets/report.js")
	if err != nil {
		t.Fatal(err)
	}
	script := `
globalThis.location = new URL(process.argv[2] + '/dj?x=1#s=01JD2Z8Q3N4M5P6R7S8T9V0W1X&k=` + leakSecret + `');
const realFetch = fetch;
globalThis.fetch = async (u, o) => {
  const r = await realFetch(new URL(u, location.href), o);
  if (r.status !== 204) { console.error('status', r.status); process.exit(1); }
  return r;
};
const { report } = await import(process.argv[3]);
function deep() { throw new TypeError('cannot read x of ` + leakClient + `'); }
try { deep(); } catch (err) { await report(err); }
`
	path := filepath.Join(t.TempDir(), "report.mjs")
	if err := os.WriteFile(path, []byte(script), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, node, path, e.url, "file://"+report).CombinedOutput()
	if err != nil {
		t.Fatalf("node: %v\n%s", err, out)
	}
	got := fake.envelopes(t, 1)[0]
	for _, want := range []string{`"type":"TypeError"`, `cannot read x of [id]`, `"function":"deep"`, `"release":"pika@1.2.3-test"`, `"url":"http://[ip]:` + e.url[strings.LastIndexByte(e.url, ':')+1:] + `/dj"`} {
		if !strings.Contains(got, want) {
			t.Errorf("the page's report lacks %s:\n%s", want, got)
		}
	}
	assertNoLeak(t, "the page's report", got)
	if strings.Contains(got, "x=1") || strings.Contains(got, "#s=") {
		t.Errorf("the page's report holds the query or fragment:\n%s", got)
	}
}

// TestFrameHandlerPanic: a panic while answering a dancer's frame closes
// that socket with 1011 and is reported; the gateway serves the others.
func TestFrameHandlerPanic(t *testing.T) {
	fake := newFakeSentry(t)
	hub, err := obs.NewSentryHub(obs.SentryOptions{DSN: fake.dsn, Release: "pika@1.2.3-test", Environment: "staging"})
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, func(c *Config) { c.Sentry = hub })
	broken, fine := e.startSession("DJ"), e.startSession("DJ")
	victim, other := e.dial(), e.dial()
	victim.subscribeAs(leakClient, broken, nil)
	other.subscribeAs("c-other-phone-1", fine, nil)
	play := e.play(broken, "A", "B")
	victim.expect("track.played")
	// Break the session's action store, so storing the next action
	// panics (outside any lock: take reads it after f.mu, which orders
	// this write before that read).
	f := e.gw.hub.followed(broken)
	f.mu.Lock()
	store := f.store
	f.store = nil
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		f.store = store
		f.mu.Unlock()
	}()
	victim.send(frame{"type": "like", "ref": "x", "playId": play.ID})
	for {
		_, err := victim.next(5 * time.Second)
		if err == nil {
			continue
		}
		if !websocket.IsCloseError(err, closeInternal) {
			t.Fatalf("the panicking socket ended with %v, want %d", err, closeInternal)
		}
		break
	}
	e.play(fine, "C", "D")
	other.expect("track.played")
	hub.Flush(10 * time.Second)
	env := fake.envelopes(t, 1)[0]
	if !strings.Contains(env, `"in":"frame handler"`) || !strings.Contains(env, `"release":"pika@1.2.3-test"`) {
		t.Errorf("report lacks the place or the release:\n%.2000s", env)
	}
	assertNoLeak(t, "the frame handler's report", env)
}

// TestRequestsTraced: with tracing on, a REST request is a transaction
// named by its route pattern, with our release and environment and none of
// the ids in its URL.
func TestRequestsTraced(t *testing.T) {
	fake := newFakeSentry(t)
	hub, err := obs.NewSentryHub(obs.SentryOptions{DSN: fake.dsn, Release: "pika@1.2.3-test", Environment: "staging", TracesSampleRate: 1})
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, func(c *Config) { c.Sentry = hub })
	sid := e.startSession("DJ")
	req, _ := http.NewRequest("GET", e.url+"/api/sessions/"+sid+"?clientId="+leakClient, nil)
	req.Header.Set("X-Forwarded-For", leakIP)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	hub.Flush(10 * time.Second)
	var tx string
	for _, env := range fake.envelopes(t, 1) {
		if strings.Contains(env, `"type":"transaction"`) {
			tx = env
		}
	}
	if tx == "" {
		t.Fatal("no transaction envelope reached the fake Sentry")
	}
	for _, want := range []string{`GET /api/sessions/:id`, `"release":"pika@1.2.3-test"`, `"environment":"staging"`} {
		if !strings.Contains(tx, want) {
			t.Errorf("transaction lacks %s:\n%s", want, tx)
		}
	}
	if strings.Contains(tx, sid) {
		t.Errorf("the transaction carries the session id %s:\n%s", sid, tx)
	}
	assertNoLeak(t, "the transaction", tx)
}

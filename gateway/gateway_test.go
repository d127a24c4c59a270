package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/pika-dj/pika/bus"
	"github.com/pika-dj/pika/internal/testenv"
)

// env is a gateway on a real listener over a real embedded NATS server.
type env struct {
	t   *testing.T
	bus *testenv.Bus
	gw  *Gateway
	url string // http://127.0.0.1:port
	seq map[string]uint64
}

// newEnv serves a gateway on a fresh bus; before, if given, runs before it
// serves (routes may only be added then).
func newEnv(t *testing.T, tweak func(*Config), before ...func(*Gateway)) *env {
	t.Helper()
	b := testenv.NATS(t)
	gw, url := startGateway(t, b, tweak, before...)
	return &env{t: t, bus: b, gw: gw, url: url, seq: map[string]uint64{}}
}

// startGateway serves a gateway over b on a real listener until the test
// ends.
func startGateway(t *testing.T, b *testenv.Bus, tweak func(*Config), before ...func(*Gateway)) (*Gateway, string) {
	t.Helper()
	cfg := Config{JS: b.JS, Conn: b.Conn, KV: b.KV, Stream: bus.StreamName(b.DJ), ActionsStream: bus.ActionsStreamName(b.DJ)}
	if tweak != nil {
		tweak(&cfg)
	}
	gw, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range before {
		f(gw)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = gw.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := gw.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return gw, "http://" + ln.Addr().String()
}

// publish stores an event for sid with the next seq, as the DJ side would,
// and keeps the KV state in step.
func (e *env) publish(sid string, typ bus.Type, fill func(*bus.Event)) bus.Event {
	e.t.Helper()
	e.seq[sid]++
	now := time.Now().UTC()
	ev := bus.Event{V: bus.Version, ID: bus.NewID(now), Type: typ, Session: sid, Seq: e.seq[sid], At: now, DJ: e.bus.DJ}
	if fill != nil {
		fill(&ev)
	}
	ctx := context.Background()
	if _, err := bus.Publish(ctx, e.bus.JS, ev, nil); err != nil {
		e.t.Fatal(err)
	}
	st, _, err := bus.GetState(ctx, e.bus.KV, sid)
	if err != nil {
		e.t.Fatal(err)
	}
	st.Apply(ev)
	if err := bus.PutState(ctx, e.bus.KV, st); err != nil {
		e.t.Fatal(err)
	}
	return ev
}

// caughtUp waits until the gateway's feed of sid has folded event seq: a
// stored event reaches the feed a moment after the publish returns.
func (e *env) caughtUp(sid string, seq uint64) {
	e.t.Helper()
	testenv.Eventually(e.t, 5*time.Second, fmt.Sprintf("feed of %s at seq %d", sid, seq), func() bool {
		e.gw.hub.mu.Lock()
		f := e.gw.hub.feeds[sid]
		e.gw.hub.mu.Unlock()
		if f == nil {
			return false
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		return f.state.Seq >= seq
	})
}

func (e *env) startSession(name string) string {
	sid := bus.NewID(time.Now())
	e.publish(sid, bus.TypeSessionStarted, func(ev *bus.Event) { ev.Started = &bus.SessionStarted{DJName: name} })
	return sid
}

func (e *env) play(sid, artist, title string) bus.Event {
	return e.publish(sid, bus.TypeTrackPlayed, func(ev *bus.Event) {
		tr := bus.NewTrack(artist, title)
		tr.BPM = 96
		ev.Play = &bus.Play{Track: tr, Source: "test"}
	})
}

// client is a real WebSocket client. A reader goroutine feeds frames into
// a channel, because a timed-out read breaks a gorilla connection for good.
type client struct {
	t      *testing.T
	ws     *websocket.Conn
	frames chan frame
	err    chan error // the read error that ended the reader
}

func (e *env) dial() *client {
	e.t.Helper()
	return e.dialURL(e.url)
}

// dialURL opens a socket to the gateway serving base.
func (e *env) dialURL(base string) *client {
	e.t.Helper()
	ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(base, "http")+"/ws", nil)
	if err != nil {
		e.t.Fatal(err)
	}
	c := &client{t: e.t, ws: ws, frames: make(chan frame, 1024), err: make(chan error, 1)}
	go func() {
		for {
			_, data, err := ws.ReadMessage()
			if err != nil {
				c.err <- err
				close(c.frames)
				return
			}
			var f frame
			if json.Unmarshal(data, &f) != nil {
				f = frame{"type": "NON-JSON", "raw": string(data)}
			}
			c.frames <- f
		}
	}()
	e.t.Cleanup(func() { ws.Close() })
	return c
}

func (c *client) send(v any) {
	c.t.Helper()
	var err error
	if s, ok := v.(string); ok {
		err = c.ws.WriteMessage(websocket.TextMessage, []byte(s))
	} else {
		err = c.ws.WriteJSON(v)
	}
	if err != nil {
		c.t.Fatal(err)
	}
}

// frame is any server frame, decoded loosely for assertions.
type frame map[string]any

func (f frame) str(k string) string  { s, _ := f[k].(string); return s }
func (f frame) num(k string) float64 { n, _ := f[k].(float64); return n }

var errNoFrame = errors.New("no frame in time")

// next returns the next frame within d, or the error that closed the socket.
func (c *client) next(d time.Duration) (frame, error) {
	select {
	case f, ok := <-c.frames:
		if !ok {
			err := <-c.err
			c.err <- err // keep it for later calls
			return nil, err
		}
		return f, nil
	case <-time.After(d):
		return nil, errNoFrame
	}
}

// expect reads the next frame, failing unless it is of type typ.
func (c *client) expect(typ string) frame {
	c.t.Helper()
	f, err := c.next(5 * time.Second)
	if err != nil {
		c.t.Fatalf("waiting for %s: %v", typ, err)
	}
	if f.str("type") != typ {
		c.t.Fatalf("waiting for %s, got %v", typ, f)
	}
	return f
}

// quiet asserts that no frame at all arrives within d.
func (c *client) quiet(d time.Duration) {
	c.t.Helper()
	deadline := time.Now().Add(d)
	for {
		f, err := c.next(time.Until(deadline))
		if errors.Is(err, errNoFrame) {
			return
		}
		if err != nil {
			c.t.Fatalf("expected silence, socket closed: %v", err)
		}
		c.t.Fatalf("expected nothing, got %v", f)
	}
}

func (c *client) subscribe(sid string, lastSeq *uint64) frame {
	c.t.Helper()
	return c.subscribeAs("c-test-"+sid[20:], sid, lastSeq)
}

func (c *client) subscribeAs(clientID, sid string, lastSeq *uint64) frame {
	c.t.Helper()
	f := frame{"type": "subscribe", "ref": "s1", "sessionId": sid, "clientId": clientID}
	if lastSeq != nil {
		f["lastSeq"] = *lastSeq
	}
	c.send(f)
	ok := c.expect(frameOK)
	if ok.str("ref") != "s1" {
		c.t.Fatalf("ok without our ref: %v", ok)
	}
	return c.expect(frameSnapshot)
}

func TestSubscribeSnapshotAndIsolation(t *testing.T) {
	e := newEnv(t, nil)
	a := e.startSession("DJ A")
	e.play(a, "Example Band", "Slow Dance")
	b := e.startSession("DJ B")

	ca, cb := e.dial(), e.dial()
	snap := ca.subscribe(a, nil)
	if snap.num("seq") != 2 {
		t.Fatalf("snapshot seq %v, want 2", snap["seq"])
	}
	np, _ := snap["nowPlaying"].(map[string]any)
	if np == nil || np["title"] != "Slow Dance" || np["bpm"].(float64) != 96 {
		t.Fatalf("snapshot nowPlaying = %v", snap["nowPlaying"])
	}
	if snap.num("listenerCount") != 1 {
		t.Fatalf("snapshot listenerCount %v, want 1 (the phone itself)", snap["listenerCount"])
	}
	if sess := snap["session"].(map[string]any); sess["djName"] != "DJ A" || sess["status"] != "live" {
		t.Fatalf("snapshot session = %v", sess)
	}
	if _, has := snap["resume"]; has {
		t.Fatal("resume without lastSeq")
	}
	cb.subscribe(b, nil)

	ev := e.play(a, "Other Artist", "Next Song")
	got := ca.expect(string(bus.TypeTrackPlayed))
	if got.str("id") != ev.ID || got.num("seq") != 3 || got.str("sessionId") != a {
		t.Fatalf("event frame = %v", got)
	}
	cb.quiet(300 * time.Millisecond)

	// The other session's events reach only its own socket.
	e.play(b, "B Artist", "B Song")
	if f := cb.expect(string(bus.TypeTrackPlayed)); f.str("sessionId") != b {
		t.Fatalf("b got %v", f)
	}
	ca.quiet(300 * time.Millisecond)
}

func TestResumeFromLastSeq(t *testing.T) {
	e := newEnv(t, nil)
	e.gw.hub.ringLen = 4 // keep few events so a long gap is easy to make
	sid := e.startSession("DJ")
	for _, title := range []string{"One", "Two", "Three"} {
		e.play(sid, "A", title)
	}
	last := uint64(2)
	snap := e.dial().subscribe(sid, &last)
	r, _ := snap["resume"].(map[string]any)
	if r == nil || r["complete"] != true || r["from"].(float64) != 2 {
		t.Fatalf("resume = %v", snap["resume"])
	}
	missed := r["missed"].([]any)
	if len(missed) != 2 || missed[0].(map[string]any)["seq"].(float64) != 3 || missed[1].(map[string]any)["seq"].(float64) != 4 {
		t.Fatalf("missed = %v", missed)
	}
	for _, title := range []string{"Four", "Five", "Six"} {
		e.play(sid, "A", title)
	}
	e.caughtUp(sid, 7)
	// Seq 2 is now older than the 4 events kept: the snapshot says so.
	snap = e.dial().subscribe(sid, &last)
	r = snap["resume"].(map[string]any)
	if r["complete"] != false || len(r["missed"].([]any)) != 0 || snap.num("seq") != 7 {
		t.Fatalf("long gap: resume = %v seq %v", r, snap["seq"])
	}
	hist := snap["history"].([]any)
	if len(hist) != 6 || hist[0].(map[string]any)["title"] != "Six" {
		t.Fatalf("history = %v", hist)
	}
	// Up to date: complete, nothing missed.
	up := uint64(7)
	snap = e.dial().subscribe(sid, &up)
	if r = snap["resume"].(map[string]any); r["complete"] != true || len(r["missed"].([]any)) != 0 {
		t.Fatalf("up to date: resume = %v", r)
	}
}

func TestPingAndReplies(t *testing.T) {
	e := newEnv(t, nil)
	c := e.dial()
	c.send(`{"type":"ping","ref":42}`)
	if f := c.expect(framePong); f.num("ref") != 42 || f.str("serverTime") == "" {
		t.Fatalf("pong = %v", f)
	}
	c.send(`{"type":"ping"}`)
	c.expect(framePong)
}

// TestBadInput sends every kind of bad frame on one socket while a second
// socket follows a session: each bad frame gets an error (or a documented
// close) and the second socket sees nothing but its own events.
func TestBadInput(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.RatePerSec, c.RateBurst, c.FloodClose = 1000, 1000, 100 })
	sid := e.startSession("DJ")
	watcher := e.dial()
	watcher.subscribe(sid, nil)

	bad := e.dial()
	deep := strings.Repeat("[", 1500) + strings.Repeat("]", 1500)
	cases := []struct {
		name, code string
		send       func()
	}{
		{"not json", codeBadJSON, func() { bad.send("hello") }},
		{"array", codeBadJSON, func() { bad.send("[1,2]") }},
		{"truncated", codeBadJSON, func() { bad.send(`{"type":"subscribe"`) }},
		{"deep nesting", codeBadJSON, func() { bad.send(`{"type":"ping","x":` + deep + `}`) }},
		{"deep nesting top", codeBadJSON, func() { bad.send(deep) }},
		{"invalid utf-8", codeBadUTF8, func() {
			_ = bad.ws.WriteMessage(websocket.TextMessage, []byte("{\"type\":\"ping\",\"ref\":\"\xff\xfe\"}"))
		}},
		{"binary", codeBinaryUnsupported, func() { _ = bad.ws.WriteMessage(websocket.BinaryMessage, []byte(`{"type":"ping"}`)) }},
		{"no type", codeUnknownType, func() { bad.send(`{"ref":"x"}`) }},
		{"unknown type", codeUnknownType, func() { bad.send(`{"type":"dance","ref":"x"}`) }},
		{"action before subscribe", codeNotSubscribed, func() {
			bad.send(`{"type":"like","ref":"x","playId":"` + bus.NewID(time.Now()) + `"}`)
		}},
		{"empty batch", codeBadRequest, func() { bad.send(`{"type":"likes","ref":"x","items":[]}`) }},
		{"dj without secret", codeForbidden, func() {
			bad.send(`{"type":"dj","ref":"x","sessionId":"` + sid + `","command":"session.end"}`)
		}},
		{"bad ref", codeBadRequest, func() { bad.send(`{"type":"ping","ref":{"a":1}}`) }},
		{"long ref", codeBadRequest, func() { bad.send(`{"type":"ping","ref":"` + strings.Repeat("r", 65) + `"}`) }},
		{"bad session id", codeBadRequest, func() {
			bad.send(`{"type":"subscribe","ref":"x","sessionId":"pika.s.>","clientId":"c-12345678"}`)
		}},
		{"bad client id", codeBadRequest, func() {
			bad.send(`{"type":"subscribe","ref":"x","sessionId":"` + sid + `","clientId":"<script>"}`)
		}},
		{"unknown session", codeUnknownSession, func() {
			bad.send(`{"type":"subscribe","ref":"x","sessionId":"` + bus.NewID(time.Now()) + `","clientId":"c-12345678"}`)
		}},
		{"hostile strings", codeUnknownType, func() { bad.send(`{"type":"<img src=x onerror=alert(1)>\u0000","ref":"x"}`) }},
	}
	for _, tc := range cases {
		tc.send()
		f := bad.expect(frameError)
		if f.str("code") != tc.code || f.str("reason") == "" {
			t.Errorf("%s: got %v, want code %s with a reason", tc.name, f, tc.code)
		}
	}
	// The socket still works after all that.
	bad.send(`{"type":"ping","ref":"alive"}`)
	bad.expect(framePong)
	watcher.quiet(200 * time.Millisecond)

	// Over the size limit: closed with 1009.
	bad.send(`{"type":"ping","pad":"` + strings.Repeat("x", 13000) + `"}`)
	if _, err := bad.next(5 * time.Second); !websocket.IsCloseError(err, websocket.CloseMessageTooBig) {
		t.Fatalf("oversized frame: %v, want close 1009", err)
	}

	// Nothing changed for anyone else.
	e.play(sid, "Still", "Here")
	watcher.expect(string(bus.TypeTrackPlayed))
}

func TestFloodIsLimitedThenClosed(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.RatePerSec, c.RateBurst, c.FloodClose = 5, 5, 30 })
	sid := e.startSession("DJ")
	watcher := e.dial()
	watcher.subscribe(sid, nil)
	c := e.dial()
	limited := 0
	var closeErr error
	for i := 0; i < 200 && closeErr == nil; i++ {
		if err := c.ws.WriteMessage(websocket.TextMessage, []byte(`{"type":"ping"}`)); err != nil {
			break
		}
	}
	for closeErr == nil {
		f, err := c.next(5 * time.Second)
		if err != nil {
			closeErr = err
			break
		}
		if f.str("type") == frameError && f.str("code") == codeRateLimited {
			limited++
		}
	}
	if limited == 0 {
		t.Fatal("no rate_limited error before the close")
	}
	if !websocket.IsCloseError(closeErr, closePolicy) {
		t.Fatalf("flood ended with %v, want close %d", closeErr, closePolicy)
	}
	e.play(sid, "Still", "Here")
	watcher.expect(string(bus.TypeTrackPlayed))
}

func TestSlowConsumerIsDropped(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.QueueLen = 4 })
	sid := e.startSession("DJ")
	slow, fast := e.dial(), e.dial()
	slow.subscribeAs("c-slow-phone", sid, nil)
	fast.subscribeAs("c-fast-phone", sid, nil)
	// Hold the slow socket's writer, as a phone that stopped reading would
	// once its kernel buffers filled.
	var sc *conn
	e.gw.mu.Lock()
	for c := range e.gw.conns {
		if c.clientID == "c-slow-phone" {
			sc = c
		}
	}
	e.gw.mu.Unlock()
	if sc == nil {
		t.Fatal("slow socket not found")
	}
	sc.writeMu.Lock()
	held := true
	defer func() {
		if held {
			sc.writeMu.Unlock()
		}
	}()
	for i := range 6 {
		e.play(sid, "A", "Song "+string(rune('A'+i)))
	}
	for range 6 {
		fast.expect(string(bus.TypeTrackPlayed))
	}
	held = false
	sc.writeMu.Unlock()
	for {
		_, err := slow.next(5 * time.Second)
		if err == nil {
			continue // what was queued before the overflow
		}
		if !websocket.IsCloseError(err, closeTooSlow) {
			t.Fatalf("slow socket ended with %v, want close %d", err, closeTooSlow)
		}
		break
	}
	// The fast phone is still served.
	e.play(sid, "A", "After")
	fast.expect(string(bus.TypeTrackPlayed))
}

func TestShutdownClosesWith1001(t *testing.T) {
	e := newEnv(t, nil)
	sid := e.startSession("DJ")
	c := e.dial()
	c.subscribe(sid, nil)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = e.gw.Shutdown(ctx)
	}()
	for {
		_, err := c.next(5 * time.Second)
		if err == nil {
			continue
		}
		if !websocket.IsCloseError(err, closeGoingAway) {
			t.Fatalf("shutdown: %v, want close 1001", err)
		}
		return
	}
}

func getJSON(t *testing.T, url string, wantStatus int, into any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != wantStatus {
		t.Fatalf("GET %s: %d %s, want %d", url, resp.StatusCode, body, wantStatus)
	}
	if into != nil {
		if err := json.Unmarshal(body, into); err != nil {
			t.Fatalf("GET %s: %v in %s", url, err, body)
		}
	}
}

func TestREST(t *testing.T) {
	e := newEnv(t, nil)
	a := e.startSession("DJ A")
	e.play(a, "Example Band", "Slow Dance")
	e.play(a, "Example Band", "Fast Dance")
	ended := e.startSession("DJ Gone")
	e.publish(ended, bus.TypeSessionEnded, func(ev *bus.Event) { ev.Ended = &bus.SessionEnded{Reason: bus.EndByDJ} })
	c := e.dial()
	c.subscribe(a, nil)

	var list []SessionInfo
	testenv.Eventually(t, 5*time.Second, "listener counted", func() bool {
		getJSON(t, e.url+"/api/sessions", 200, &list)
		return len(list) == 1 && list[0].ListenerCount == 1
	})
	if s := list[0]; s.ID != a || s.DJName != "DJ A" || s.CurrentTrack == nil || s.CurrentTrack.Title != "Fast Dance" ||
		s.CurrentTrack.BPM != 96 || s.StartedAt.IsZero() {
		t.Fatalf("sessions = %+v", list)
	}
	var one SessionInfo
	getJSON(t, e.url+"/api/sessions/"+ended, 200, &one)
	if one.Status != "ended" || one.EndReason != bus.EndByDJ || one.EndedAt == nil {
		t.Fatalf("ended session = %+v", one)
	}
	var hist []bus.PlayedTrack
	getJSON(t, e.url+"/api/sessions/"+a+"/history", 200, &hist)
	if len(hist) != 2 || hist[0].Title != "Fast Dance" || hist[1].Title != "Slow Dance" {
		t.Fatalf("history = %+v", hist)
	}
	getJSON(t, e.url+"/api/sessions/"+a+"/history?limit=1", 200, &hist)
	if len(hist) != 1 {
		t.Fatalf("limit=1 gave %d", len(hist))
	}
	var rerr RESTError
	getJSON(t, e.url+"/api/sessions/"+bus.NewID(time.Now()), 404, &rerr)
	if rerr.Code != codeUnknownSession || rerr.Reason == "" {
		t.Fatalf("404 body = %+v", rerr)
	}
	getJSON(t, e.url+"/api/sessions/..%2F..%2Fetc", 400, &rerr)
	getJSON(t, e.url+"/api/sessions/"+a+"/history?limit=0", 400, &rerr)
	getJSON(t, e.url+"/api/nope", 404, &rerr)
	var h Health
	getJSON(t, e.url+"/healthz", 200, &h)
	if h.Status != "ok" || h.Sockets != 1 {
		t.Fatalf("health = %+v", h)
	}
	resp, err := http.Get(e.url + "/api/sessions/" + a + "/qr.png")
	if err != nil {
		t.Fatal(err)
	}
	png, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(string(png), "\x89PNG") {
		t.Fatalf("qr: %d, %d bytes", resp.StatusCode, len(png))
	}
}

// TestRESTFlood: past the per-address ceiling the API answers 429 with a
// reason, and sockets are untouched.
func TestRESTFlood(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.APIPerIPPerMinute = 20 })
	sid := e.startSession("DJ")
	c := e.dial()
	c.subscribe(sid, nil)
	limited := 0
	for range 40 {
		resp, err := http.Get(e.url + "/api/sessions")
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode == http.StatusTooManyRequests {
			var rerr RESTError
			if json.NewDecoder(resp.Body).Decode(&rerr) != nil || rerr.Code != codeRateLimited || rerr.Reason == "" {
				t.Fatalf("429 body = %+v", rerr)
			}
			limited++
		}
		resp.Body.Close()
	}
	if limited != 20 {
		t.Fatalf("%d of 40 requests limited, want 20", limited)
	}
	e.play(sid, "Still", "Here")
	c.expect(string(bus.TypeTrackPlayed))
}

// TestMaxSockets: past the limit a socket is closed with 1013 and the ones
// already open keep working.
func TestMaxSockets(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.MaxSockets = 2 })
	sid := e.startSession("DJ")
	a, b := e.dial(), e.dial()
	a.subscribe(sid, nil)
	b.subscribe(sid, nil)
	third := e.dial()
	if _, err := third.next(5 * time.Second); !websocket.IsCloseError(err, closeTryLater) {
		t.Fatalf("third socket: %v, want close %d", err, closeTryLater)
	}
	e.play(sid, "Still", "Here")
	a.expect(string(bus.TypeTrackPlayed))
}

// TestServerPings: the server pings every socket at the WebSocket level,
// and a socket that answers stays open.
func TestServerPings(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.PingInterval = time.Second })
	sid := e.startSession("DJ")
	pinged := make(chan struct{}, 1)
	ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(e.url, "http")+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	ws.SetPingHandler(func(data string) error {
		select {
		case pinged <- struct{}{}:
		default:
		}
		return ws.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(time.Second))
	})
	if err := ws.WriteJSON(frame{"type": "subscribe", "sessionId": sid, "clientId": "c-ping-test"}); err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			if _, _, err := ws.ReadMessage(); err != nil {
				return
			}
		}
	}()
	select {
	case <-pinged:
	case <-time.After(5 * time.Second):
		t.Fatal("no WebSocket ping within 5 s at a 1 s interval")
	}
}

// TestReconnectMissesThree: a phone that disconnects, misses three events
// and reconnects with its lastSeq gets exactly those three and
// recovered: true; one that missed more than the ring holds gets a fresh
// snapshot and recovered: false.
func TestReconnectMissesThree(t *testing.T) {
	e := newEnv(t, nil)
	e.gw.hub.ringLen = 8
	sid := e.startSession("DJ")
	e.play(sid, "A", "Before")
	phone := e.dial()
	snap := phone.subscribe(sid, nil)
	last := uint64(snap.num("seq"))
	phone.ws.Close() // the phone goes to sleep

	var want []string
	for _, title := range []string{"Missed One", "Missed Two", "Missed Three"} {
		want = append(want, e.play(sid, "A", title).ID)
	}
	e.caughtUp(sid, last+3)
	snap = e.dial().subscribe(sid, &last)
	missed := snap["resume"].(map[string]any)["missed"].([]any)
	if snap["recovered"] != true || len(missed) != 3 {
		t.Fatalf("recovered %v, %d missed, want true and 3", snap["recovered"], len(missed))
	}
	for i, m := range missed {
		ev := m.(map[string]any)
		if ev["id"] != want[i] || uint64(ev["seq"].(float64)) != last+uint64(i)+1 {
			t.Fatalf("missed[%d] = %v, want event %s with seq %d", i, ev, want[i], last+uint64(i)+1)
		}
	}
	// Past the ring's 8 events: a fresh snapshot, recovered false.
	for i := range 9 {
		e.play(sid, "A", fmt.Sprintf("Later %d", i))
	}
	e.caughtUp(sid, last+12)
	snap = e.dial().subscribe(sid, &last)
	if snap["recovered"] != false || len(snap["resume"].(map[string]any)["missed"].([]any)) != 0 {
		t.Fatalf("long sleep: recovered %v resume %v", snap["recovered"], snap["resume"])
	}
	if np := snap["nowPlaying"].(map[string]any); np["title"] != "Later 8" {
		t.Fatalf("fresh snapshot nowPlaying = %v", np)
	}
}

// TestDrain: a draining gateway's /healthz turns 503 at once while its
// phones stay connected; after the notice they are closed with 1001.
func TestDrain(t *testing.T) {
	e := newEnv(t, nil)
	sid := e.startSession("DJ")
	c := e.dial()
	c.subscribe(sid, nil)
	getJSON(t, e.url+"/healthz", 200, nil)
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		done <- e.gw.Drain(ctx, 2*time.Second)
	}()
	testenv.Eventually(t, 5*time.Second, "healthz 503 while draining", func() bool {
		resp, err := http.Get(e.url + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusServiceUnavailable
	})
	// Still served during the notice: a play reaches the phone.
	e.play(sid, "A", "During the notice")
	c.expect(string(bus.TypeTrackPlayed))
	for {
		_, err := c.next(5 * time.Second)
		if err == nil {
			continue
		}
		if !websocket.IsCloseError(err, closeGoingAway) {
			t.Fatalf("drain: %v, want close 1001", err)
		}
		break
	}
	if err := <-done; err != nil {
		t.Fatalf("drain: %v", err)
	}
}

// TestJoinURLFollowsDancerURL: the share link and the QR code use
// Config.DancerURL while it answers (LAN + cloud: the cloud's address while
// the link is up), else the request's own origin.
func TestJoinURLFollowsDancerURL(t *testing.T) {
	var mu sync.Mutex
	cloudUp := false
	e := newEnv(t, func(c *Config) {
		c.DancerURL = func() string {
			mu.Lock()
			defer mu.Unlock()
			if cloudUp {
				return "https://pika.example.com"
			}
			return ""
		}
	})
	sid := e.startSession("DJ")
	var info SessionInfo
	getJSON(t, e.url+"/api/sessions/"+sid, 200, &info)
	if want := e.url + "/s/" + sid; info.JoinURL != want {
		t.Errorf("link down: joinUrl %q, want %q", info.JoinURL, want)
	}
	mu.Lock()
	cloudUp = true
	mu.Unlock()
	getJSON(t, e.url+"/api/sessions/"+sid, 200, &info)
	if want := "https://pika.example.com/s/" + sid; info.JoinURL != want {
		t.Errorf("link up: joinUrl %q, want %q", info.JoinURL, want)
	}
}

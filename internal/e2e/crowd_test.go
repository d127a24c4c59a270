package e2e

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/pika-dj/pika/bus"
	"github.com/pika-dj/pika/desktop"
	"github.com/pika-dj/pika/gateway"
	"github.com/pika-dj/pika/internal/testenv"
)

// djSide runs the engine and its crowd owner on b until the test ends.
func djSide(t *testing.T, b *testenv.Bus) (*desktop.Engine, *desktop.Owner) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	eng, err := desktop.New(desktop.Config{DJ: b.DJ, DJName: "DJ E2E", JS: b.JS, KV: b.KV})
	if err != nil {
		t.Fatal(err)
	}
	if err := eng.Start(ctx); err != nil {
		t.Fatal(err)
	}
	own, err := desktop.NewOwner(ctx, eng, desktop.OwnerConfig{Conn: b.Conn, JS: b.JS, SecretDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); _ = eng.Run(ctx) }()
	go func() { defer wg.Done(); _ = own.Run(ctx) }()
	t.Cleanup(func() { cancel(); wg.Wait() })
	return eng, own
}

// startGateway serves one gateway on 127.0.0.1 and returns its base URL.
func startGateway(t *testing.T, b *testenv.Bus, id string) string {
	t.Helper()
	gw, err := gateway.New(gateway.Config{JS: b.JS, KV: b.KV, Conn: b.Conn, ID: id,
		Stream: bus.StreamName(b.DJ), ActionsStream: bus.ActionsStreamName(b.DJ)})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = gw.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = gw.Shutdown(ctx)
	})
	return "http://" + ln.Addr().String()
}

// phone is a real WebSocket client keeping every frame it receives.
type phone struct {
	*testenv.Phone
	t *testing.T
}

func dial(t *testing.T, base string) *phone {
	t.Helper()
	return &phone{Phone: testenv.Dial(t, base), t: t}
}

func (p *phone) send(f map[string]any) {
	p.t.Helper()
	p.Send(f)
}

// wait returns the first frame for which ok is true.
func (p *phone) wait(what string, ok func(map[string]any) bool) map[string]any {
	p.t.Helper()
	return p.Wait(10*time.Second, what, ok)
}

func (p *phone) reply(ref string) map[string]any {
	p.t.Helper()
	return p.wait("reply to "+ref, func(f map[string]any) bool {
		return f["ref"] == ref && (f["type"] == "ok" || f["type"] == "error")
	})
}

func (p *phone) subscribe(sid, client string) {
	p.t.Helper()
	p.send(map[string]any{"type": "subscribe", "ref": "sub", "sessionId": sid, "clientId": client})
	if r := p.reply("sub"); r["type"] != "ok" {
		p.t.Fatalf("subscribe: %v", r)
	}
	p.wait("snapshot", func(f map[string]any) bool { return f["type"] == "snapshot" })
}

func tallyWhere(ok func(likes map[string]any, listeners float64) bool) func(map[string]any) bool {
	return func(f map[string]any) bool {
		if f["type"] != bus.TallyType {
			return false
		}
		likes, _ := f["likes"].(map[string]any)
		n, _ := f["listeners"].(float64)
		return ok(likes, n)
	}
}

// TestTwoGatewaysOneBus: a like sent through gateway 1 updates the count
// seen through gateway 2, and the listener count is the union of both
// gateways' dancers (one dancer on both counts once).
func TestTwoGatewaysOneBus(t *testing.T) {
	b := testenv.NATS(t)
	eng, _ := djSide(t, b)
	play, _, err := eng.Play(context.Background(), desktop.Detected{Track: bus.NewTrack("Example Band", "Slow Dance"), Source: "test"})
	if err != nil {
		t.Fatal(err)
	}
	sid := play.Session
	g1, g2 := startGateway(t, b, "gw-1"), startGateway(t, b, "gw-2")

	a1 := dial(t, g1)
	a1.subscribe(sid, "c-dancer-a")
	a2 := dial(t, g2) // the same dancer's second tab, on the other gateway
	a2.subscribe(sid, "c-dancer-a")
	bob := dial(t, g2)
	bob.subscribe(sid, "c-dancer-b")

	a1.send(map[string]any{"type": "like", "ref": "l1", "playId": play.ID})
	if r := a1.reply("l1"); r["type"] != "ok" {
		t.Fatalf("like through gateway 1: %v", r)
	}
	bob.wait("gateway 2 shows the like from gateway 1", tallyWhere(func(likes map[string]any, _ float64) bool {
		n, _ := likes[play.ID].(float64)
		return n == 1
	}))
	bob.wait("two distinct dancers across both gateways", tallyWhere(func(_ map[string]any, n float64) bool { return n == 2 }))

	// The like is the dancer's own on the other gateway too.
	a3 := dial(t, g2)
	a3.send(map[string]any{"type": "subscribe", "ref": "s3", "sessionId": sid, "clientId": "c-dancer-a"})
	snap := a3.wait("snapshot", func(f map[string]any) bool { return f["type"] == "snapshot" })
	mine, _ := snap["mine"].(map[string]any)
	likes, _ := mine["likes"].([]any)
	if len(likes) != 1 || likes[0] != play.ID {
		t.Fatalf("snapshot mine on gateway 2 = %v", snap["mine"])
	}
	// A second like by the same dancer through gateway 2 changes nothing.
	a3.send(map[string]any{"type": "like", "ref": "l2", "playId": play.ID})
	if r := a3.reply("l2"); r["type"] != "ok" || r["duplicate"] != true {
		t.Fatalf("second like through gateway 2: %v", r)
	}
}

// TestConsoleSubscribe: a console subscribing with the DJ secret sees the
// plays withheld from dancers while the track list is paused, and is not
// counted as a listener; a wrong secret is refused.
func TestConsoleSubscribe(t *testing.T) {
	b := testenv.NATS(t)
	eng, own := djSide(t, b)
	ctx := context.Background()
	first, _, err := eng.Play(ctx, desktop.Detected{Track: bus.NewTrack("Band", "Public Song"), Source: "test"})
	if err != nil {
		t.Fatal(err)
	}
	sid := first.Session
	var secret string
	testenv.Eventually(t, 5*time.Second, "the session's secret", func() bool {
		var ok bool
		secret, ok = own.Secret(sid)
		return ok
	})
	g := startGateway(t, b, "gw-console")

	intruder := dial(t, g)
	intruder.send(map[string]any{"type": "subscribe", "ref": "x", "sessionId": sid, "clientId": "c-intruder", "secret": bus.NewSecret()})
	if r := intruder.reply("x"); r["type"] != "error" || r["code"] != "forbidden" {
		t.Fatalf("subscribe with a wrong secret: %v", r)
	}

	console := dial(t, g)
	console.send(map[string]any{"type": "subscribe", "ref": "c", "sessionId": sid, "clientId": "c-console", "secret": secret})
	if r := console.reply("c"); r["type"] != "ok" {
		t.Fatalf("console subscribe: %v", r)
	}
	dancer := dial(t, g)
	dancer.subscribe(sid, "c-dancer-1")

	// Pause through the console, then play: the dancer gets the play
	// withheld, the console gets the track.
	console.send(map[string]any{"type": "dj", "ref": "p", "sessionId": sid, "secret": secret, "command": "broadcast.pause"})
	if r := console.reply("p"); r["type"] != "ok" {
		t.Fatalf("pause: %v", r)
	}
	if _, _, err := eng.Play(ctx, desktop.Detected{Track: bus.NewTrack("Band", "Private Song"), Source: "test"}); err != nil {
		t.Fatal(err)
	}
	console.wait("the console sees the private play", func(f map[string]any) bool {
		p, _ := f["play"].(map[string]any)
		tr, _ := p["track"].(map[string]any)
		return f["type"] == "track.played" && tr["title"] == "Private Song"
	})
	dancer.wait("the dancer gets the play withheld", func(f map[string]any) bool {
		return f["type"] == "track.played" && f["hidden"] == true
	})
	for _, f := range dancer.Frames() {
		if p, ok := f["play"].(map[string]any); ok && p["track"].(map[string]any)["title"] == "Private Song" {
			t.Fatalf("the dancer received the withheld track: %v", f)
		}
	}
	// Only the dancer listens: were the console counted, this gateway's
	// own count (which REST reports when it is larger) would stay at 2.
	testenv.Eventually(t, 10*time.Second, "one listener: the console does not count", func() bool {
		resp, err := http.Get(g + "/api/sessions/" + sid)
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var info gateway.SessionInfo
		return json.NewDecoder(resp.Body).Decode(&info) == nil && info.ListenerCount == 1
	})
}

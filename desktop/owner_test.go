package desktop

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/pika-dj/pika/bus"
	"github.com/pika-dj/pika/internal/testenv"
)

// ownerEnv is an Engine and its Owner on a real embedded server, with a
// subscriber recording every tally.
type ownerEnv struct {
	t      *testing.T
	b      *testenv.Bus
	eng    *Engine
	own    *Owner
	mu     sync.Mutex
	tally  map[string]bus.Tally
	secret map[string]string
}

func newOwnerEnv(t *testing.T) *ownerEnv {
	t.Helper()
	b := testenv.NATS(t)
	e := &ownerEnv{t: t, b: b, tally: map[string]bus.Tally{}, secret: map[string]string{}}
	eng, err := New(Config{DJ: b.DJ, DJName: "DJ Owner", JS: b.JS, KV: b.KV})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := eng.Start(ctx); err != nil {
		t.Fatal(err)
	}
	own, err := NewOwner(ctx, eng, OwnerConfig{Conn: b.Conn, JS: b.JS, SecretDir: t.TempDir(),
		OnNewSecret: func(sid, secret string) { e.mu.Lock(); e.secret[sid] = secret; e.mu.Unlock() }})
	if err != nil {
		t.Fatal(err)
	}
	sub, err := b.Conn.Subscribe(bus.AllTallies, func(m *nats.Msg) {
		var tl bus.Tally
		if json.Unmarshal(m.Data, &tl) == nil {
			e.mu.Lock()
			e.tally[tl.Session] = tl
			e.mu.Unlock()
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- own.Run(ctx) }()
	t.Cleanup(func() {
		_ = sub.Unsubscribe()
		cancel()
		if err := <-done; err != nil {
			t.Errorf("owner: %v", err)
		}
	})
	e.eng, e.own = eng, own
	return e
}

func (e *ownerEnv) play(title string) bus.Event {
	e.t.Helper()
	ev, _, err := e.eng.Play(context.Background(), Detected{Track: bus.NewTrack("Artist", title), Source: "test"})
	if err != nil {
		e.t.Fatal(err)
	}
	return ev
}

func (e *ownerEnv) act(a bus.Action) {
	e.t.Helper()
	a.V, a.At = bus.Version, time.Now().UTC()
	if a.ID == "" {
		a.ID = bus.NewID(a.At)
	}
	if _, err := bus.PublishAction(context.Background(), e.b.JS, a, nil); err != nil {
		e.t.Fatal(err)
	}
}

func (e *ownerEnv) command(c bus.Command) bus.CommandReply {
	e.t.Helper()
	c.V = bus.Version
	data, _ := json.Marshal(c)
	m, err := e.b.Conn.Request(bus.CommandSubject(c.Session), data, 5*time.Second)
	if err != nil {
		e.t.Fatal(err)
	}
	var r bus.CommandReply
	if err := json.Unmarshal(m.Data, &r); err != nil {
		e.t.Fatal(err)
	}
	return r
}

func (e *ownerEnv) waitTally(sid, what string, ok func(bus.Tally) bool) bus.Tally {
	e.t.Helper()
	var got bus.Tally
	testenv.Eventually(e.t, 10*time.Second, what, func() bool {
		e.mu.Lock()
		defer e.mu.Unlock()
		got = e.tally[sid]
		return got.Session == sid && ok(got)
	})
	return got
}

func (e *ownerEnv) secretOf(sid string) string {
	e.t.Helper()
	var s string
	testenv.Eventually(e.t, 5*time.Second, "secret made", func() bool {
		e.mu.Lock()
		defer e.mu.Unlock()
		s = e.secret[sid]
		return s != ""
	})
	return s
}

func TestOwnerFoldsActionsIntoTallies(t *testing.T) {
	e := newOwnerEnv(t)
	p := e.play("Song One")
	sid := p.Session
	for _, c := range []string{"c-dancer-1", "c-dancer-2", "c-dancer-3"} {
		e.act(bus.Action{Kind: bus.ActLike, Session: sid, Client: c, PlayID: p.ID})
	}
	e.act(bus.Action{Kind: bus.ActLike, Session: sid, Client: "c-dancer-1", PlayID: p.ID}) // a second like: no change
	e.act(bus.Action{Kind: bus.ActTempo, Session: sid, Client: "c-dancer-1", PlayID: p.ID, Tempo: bus.TempoFaster})
	e.act(bus.Action{Kind: bus.ActThanks, Session: sid, Client: "c-dancer-2"})
	tl := e.waitTally(sid, "3 likes, 1 faster, 1 thanks", func(tl bus.Tally) bool {
		return tl.Likes[p.ID] == 3 && tl.Tempo != nil && tl.Tempo.Faster == 1 && tl.Thanks == 1
	})
	if tl.Type != bus.TallyType || tl.At.IsZero() {
		t.Fatalf("tally = %+v", tl)
	}
	// The tally is kept for gateways that start later.
	kv, err := e.b.JS.KeyValue(context.Background(), bus.TalliesBucket)
	if err != nil {
		t.Fatal(err)
	}
	got, err := kv.Get(context.Background(), sid)
	if err != nil || len(got.Value()) == 0 {
		t.Fatalf("tally not saved: %v", err)
	}
}

func TestOwnerCountsListenersAcrossGateways(t *testing.T) {
	e := newOwnerEnv(t)
	sid := e.play("Song").Session
	report := func(gw string, clients ...string) {
		b, _ := json.Marshal(bus.Presence{V: 1, Gateway: gw, Session: sid, Clients: clients, At: time.Now()})
		if err := e.b.Conn.Publish(bus.PresenceSubject(sid), b); err != nil {
			t.Fatal(err)
		}
	}
	// Gateways report every couple of seconds; so does this test, until
	// the owner has counted them.
	e.waitTally(sid, "3 distinct listeners over two gateways", func(tl bus.Tally) bool {
		report("gw1", "c-aaaaaaaa", "c-bbbbbbbb")
		report("gw2", "c-bbbbbbbb", "c-cccccccc")
		return tl.Listeners == 3
	})
}

func TestOwnerCommands(t *testing.T) {
	e := newOwnerEnv(t)
	p := e.play("Song")
	sid := p.Session
	secret := e.secretOf(sid)
	if s, ok := e.own.Secret(sid); !ok || s != secret {
		t.Fatal("the owner does not give back the session's secret")
	}

	// Without the secret nothing happens.
	for _, bad := range []string{"", "0000", bus.NewSecret()} {
		if r := e.command(bus.Command{Kind: bus.CmdBroadcastPause, Session: sid, Secret: bad}); r.OK || r.Code != bus.CodeForbidden {
			t.Fatalf("secret %q: %+v", bad, r)
		}
	}
	if st, _ := e.eng.State(); st.Paused {
		t.Fatal("a command without the secret changed the session")
	}

	cmd := func(c bus.Command) bus.CommandReply {
		c.Session, c.Secret = sid, secret
		return e.command(c)
	}
	r := cmd(bus.Command{Kind: bus.CmdPollStart, Question: "Tempo check", Options: []string{"Slower", "Perfect", "Faster"}, Seconds: 60})
	if !r.OK || !bus.ValidID(r.ID) {
		t.Fatalf("poll.start: %+v", r)
	}
	if r := cmd(bus.Command{Kind: bus.CmdPollStart, Question: "One option", Options: []string{"Only"}}); r.OK || r.Code != bus.CodeBadRequest || r.Reason == "" {
		t.Fatalf("a one-option poll: %+v", r)
	}
	zero, two := 0, 2
	e.act(bus.Action{Kind: bus.ActVote, Session: sid, Client: "c-voter-01", PollID: r.ID, Option: &zero})
	e.act(bus.Action{Kind: bus.ActVote, Session: sid, Client: "c-voter-02", PollID: r.ID, Option: &two})
	e.waitTally(sid, "two votes", func(tl bus.Tally) bool { return tl.Poll != nil && tl.Poll.Total == 2 })
	if r := cmd(bus.Command{Kind: bus.CmdPollEnd, PollID: r.ID}); !r.OK {
		t.Fatalf("poll.end: %+v", r)
	}
	st, _ := e.eng.State()
	if st.Poll != nil {
		t.Fatal("poll still open after poll.end")
	}
	if r := cmd(bus.Command{Kind: bus.CmdAnnounce, Text: "Last dance in 10", Seconds: 600}); !r.OK {
		t.Fatalf("announce: %+v", r)
	}
	if r := cmd(bus.Command{Kind: bus.CmdPlayCorrect, PlayID: p.ID, Title: "Right Title", Artist: "Right Artist"}); !r.OK {
		t.Fatalf("play.correct: %+v", r)
	}
	if r := cmd(bus.Command{Kind: bus.CmdPlayHide, PlayID: bus.NewID(time.Now())}); r.Code != bus.CodeNotFound {
		t.Fatalf("hide an unknown play: %+v", r)
	}
	if r := cmd(bus.Command{Kind: bus.CmdPlayHide, PlayID: p.ID}); !r.OK {
		t.Fatalf("play.hide: %+v", r)
	}
	for range 2 { // pausing twice is one pause
		if r := cmd(bus.Command{Kind: bus.CmdBroadcastPause}); !r.OK {
			t.Fatalf("pause: %+v", r)
		}
	}
	if r := cmd(bus.Command{Kind: bus.CmdSessionEnd}); !r.OK {
		t.Fatalf("session.end: %+v", r)
	}

	// What the stream holds, in order.
	var types []bus.Type
	var closed *bus.PollResult
	err := bus.ReadSession(context.Background(), e.b.JS, bus.StreamName(e.b.DJ), sid, func(ev bus.Event) error {
		types = append(types, ev.Type)
		if ev.Type == bus.TypePollClosed {
			closed = ev.PollResult
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []bus.Type{bus.TypeSessionStarted, bus.TypeTrackPlayed, bus.TypePollStarted, bus.TypePollClosed,
		bus.TypeAnnouncementMade, bus.TypePlayCorrected, bus.TypePlayHidden, bus.TypeBroadcastPaused, bus.TypeSessionEnded}
	if len(types) != len(want) {
		t.Fatalf("stream holds %v, want %v", types, want)
	}
	for i := range want {
		if types[i] != want[i] {
			t.Fatalf("stream holds %v, want %v", types, want)
		}
	}
	if closed.Reason != bus.PollEnded || closed.Total != 2 || closed.Counts[0] != 1 || closed.Counts[2] != 1 || closed.Winner != 0 {
		t.Fatalf("poll result = %+v", closed)
	}
}

func TestOwnerClosesPollWhenTimerEnds(t *testing.T) {
	e := newOwnerEnv(t)
	sid := e.play("Song").Session
	past := time.Now().Add(-time.Second).UTC()
	pollID := bus.NewID(time.Now())
	if _, err := e.eng.emit(context.Background(), sid, bus.TypePollStarted, func(_ *bus.SessionState, ev *bus.Event) error {
		ev.Poll = &bus.Poll{ID: pollID, Question: "Vibe?", Options: []string{"Yes", "No"}, EndsAt: &past}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 5*time.Second, "the timer closes the poll", func() bool {
		st, _ := e.eng.State()
		return st.Poll == nil
	})
}

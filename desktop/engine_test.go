package desktop_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/pika-dj/pika/bus"
	"github.com/pika-dj/pika/desktop"
	"github.com/pika-dj/pika/internal/testenv"
)

// clock is a settable Now for idle tests.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock(t time.Time) *clock { return &clock{t: t} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

func engine(t *testing.T, b *testenv.Bus, mod func(*desktop.Config)) *desktop.Engine {
	t.Helper()
	cfg := desktop.Config{DJ: b.DJ, DJName: "DJ Nova", JS: b.JS, KV: b.KV}
	if mod != nil {
		mod(&cfg)
	}
	e, err := desktop.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	return e
}

func detected(artist, title, key string) desktop.Detected {
	tr := bus.NewTrack(artist, title)
	tr.BPM, tr.Key = 96, "8A"
	return desktop.Detected{Track: tr, Key: key, Source: "virtualdj"}
}

func play(t *testing.T, e *desktop.Engine, d desktop.Detected) (bus.Event, bool) {
	t.Helper()
	ev, dup, err := e.Play(t.Context(), d)
	if err != nil {
		t.Fatal(err)
	}
	return ev, dup
}

// stored reads a session back from the stream and checks seq runs 1..n
// with no gap, no repeat and no repeated id.
func stored(t *testing.T, b *testenv.Bus, sid string) []bus.Event {
	t.Helper()
	var out []bus.Event
	ids := map[string]bool{}
	err := bus.ReadSession(t.Context(), b.JS, bus.StreamName(b.DJ), sid, func(ev bus.Event) error {
		if ev.Seq != uint64(len(out)+1) {
			return fmt.Errorf("event %d has seq %d", len(out)+1, ev.Seq)
		}
		if ids[ev.ID] {
			return fmt.Errorf("id %s stored twice", ev.ID)
		}
		ids[ev.ID] = true
		out = append(out, ev)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func types(evs []bus.Event) []bus.Type {
	var out []bus.Type
	for _, ev := range evs {
		out = append(out, ev.Type)
	}
	return out
}

func kvState(t *testing.T, b *testenv.Bus, sid string) bus.SessionState {
	t.Helper()
	st, found, err := bus.GetState(t.Context(), b.KV, sid)
	if err != nil || !found {
		t.Fatalf("state of %s: found=%v err=%v", sid, found, err)
	}
	return st
}

func live(t *testing.T, e *desktop.Engine) bus.SessionState {
	t.Helper()
	st, ok := e.State()
	if !ok {
		t.Fatal("no live session")
	}
	return st
}

func TestFirstPlayStartsSession(t *testing.T) {
	b := testenv.NATS(t)
	e := engine(t, b, nil)
	if _, ok := e.State(); ok {
		t.Fatal("a session is live before any play")
	}
	at := time.Now().Add(-3 * time.Second).UTC()
	d := detected("Example Band", "Slow Dance", "vdj-1")
	d.At = at
	ev, dup := play(t, e, d)
	if dup || ev.Seq != 2 || ev.Type != bus.TypeTrackPlayed || !ev.At.Equal(at) || ev.DJ != b.DJ {
		t.Fatalf("play = %+v dup=%v", ev, dup)
	}
	evs := stored(t, b, ev.Session)
	if len(evs) != 2 || evs[0].Type != bus.TypeSessionStarted || evs[0].Started.DJName != "DJ Nova" || !evs[0].At.Equal(at) {
		t.Fatalf("stored %v", types(evs))
	}
	if evs[1].ID != ev.ID || evs[1].Play.Source != "virtualdj" || evs[1].Play.Track.BPM != 96 {
		t.Fatalf("stored play %+v", evs[1])
	}
	st := kvState(t, b, ev.Session)
	if st.DJName != "DJ Nova" || st.Seq != 2 || st.Current == nil || st.Current.Title != "Slow Dance" ||
		st.Current.PlayID != ev.ID || st.Plays != 1 || !st.StartedAt.Equal(at) {
		t.Fatalf("kv state %+v", st)
	}
	if got := live(t, e); got.ID != ev.Session || got.Seq != 2 {
		t.Fatalf("State() = %+v", got)
	}
}

func TestSameSightingIsOnePlay(t *testing.T) {
	b := testenv.NATS(t)
	e := engine(t, b, nil)
	d := detected("Example Band", "Slow Dance", "vdj-1")
	d.At = time.Now().Add(-time.Minute)
	first, _ := play(t, e, d)
	again, dup := play(t, e, d)
	if !dup || again.ID != first.ID || again.Seq != first.Seq {
		t.Fatalf("second sighting: dup=%v %+v, first %+v", dup, again, first)
	}
	// Another key at the same time is another play.
	d2 := d
	d2.Key = "vdj-2"
	if ev, dup := play(t, e, d2); dup || ev.Seq != 3 {
		t.Fatalf("other key: dup=%v seq=%d", dup, ev.Seq)
	}
	if n := len(stored(t, b, first.Session)); n != 3 {
		t.Fatalf("%d events stored, want 3", n)
	}
}

func TestRestartRecoversStateSeqAndDedupe(t *testing.T) {
	dir, dj := t.TempDir(), bus.NewDJID()
	b1 := testenv.NATSAt(t, dir, dj)
	e1 := engine(t, b1, nil)
	base := time.Now().Add(-10 * time.Minute).UTC()
	d1 := detected("A", "One", "k1")
	d1.At = base
	d2 := detected("B", "Two", "k2")
	d2.At = base.Add(4 * time.Minute)
	p1, _ := play(t, e1, d1)
	p2, _ := play(t, e1, d2)
	sid := p1.Session
	b1.Conn.Close()
	b1.Server.Shutdown()

	b2 := testenv.NATSAt(t, dir, dj)
	e2 := engine(t, b2, nil)
	st := live(t, e2)
	if st.ID != sid || st.Seq != 3 || st.Plays != 2 || st.Current == nil || st.Current.PlayID != p2.ID || st.DJName != "DJ Nova" {
		t.Fatalf("recovered state %+v", st)
	}
	for _, d := range []desktop.Detected{d1, d2} {
		if ev, dup := play(t, e2, d); !dup || (ev.ID != p1.ID && ev.ID != p2.ID) {
			t.Fatalf("replayed sighting after restart: dup=%v %+v", dup, ev)
		}
	}
	ev, dup := play(t, e2, detected("C", "Three", "k3"))
	if dup || ev.Seq != 4 || ev.Session != sid {
		t.Fatalf("next play after restart: dup=%v seq=%d session=%s", dup, ev.Seq, ev.Session)
	}
	if evs := stored(t, b2, sid); len(evs) != 4 {
		t.Fatalf("stored %v", types(evs))
	}
	if got := kvState(t, b2, sid); got.Seq != 4 || got.Plays != 3 {
		t.Fatalf("kv after restart %+v", got)
	}
}

// A crash between publish and PutState leaves the bucket behind the stream,
// or without the session at all; recovery reads the stream.
func TestRecoverWhenBucketLags(t *testing.T) {
	b := testenv.NATS(t)
	ctx := t.Context()
	e1 := engine(t, b, nil)
	p1, _ := play(t, e1, detected("A", "One", "k1"))
	sid := p1.Session
	behind := kvState(t, b, sid) // seq 2
	p2, _ := play(t, e1, detected("B", "Two", "k2"))

	if err := bus.PutState(ctx, b.KV, behind); err != nil {
		t.Fatal(err)
	}
	e2 := engine(t, b, nil)
	if st := live(t, e2); st.Seq != 3 || st.Current.PlayID != p2.ID {
		t.Fatalf("recovered from a lagging bucket: %+v", st)
	}
	if got := kvState(t, b, sid); got.Seq != 3 {
		t.Fatalf("bucket not repaired: seq %d", got.Seq)
	}

	if err := b.KV.Delete(ctx, sid); err != nil {
		t.Fatal(err)
	}
	e3 := engine(t, b, nil)
	if st := live(t, e3); st.ID != sid || st.Seq != 3 {
		t.Fatalf("recovered without a bucket entry: %+v", st)
	}
	if ev, _ := play(t, e3, detected("C", "Three", "k3")); ev.Seq != 4 || ev.Session != sid {
		t.Fatalf("next play: seq %d session %s", ev.Seq, ev.Session)
	}
}

func TestStaleSessionEndsOnStart(t *testing.T) {
	b := testenv.NATS(t)
	t0 := time.Now().Add(-10 * time.Hour).UTC().Truncate(time.Millisecond)
	c := newClock(t0)
	e1 := engine(t, b, func(cfg *desktop.Config) { cfg.Now = c.Now })
	old, _ := play(t, e1, detected("A", "One", "k1"))

	// Within Idle the session continues.
	c.Set(t0.Add(3 * time.Hour))
	e2 := engine(t, b, func(cfg *desktop.Config) { cfg.Now = c.Now })
	if st := live(t, e2); st.ID != old.Session {
		t.Fatalf("session within idle did not continue: %+v", st)
	}

	c.Set(t0.Add(5 * time.Hour))
	e3 := engine(t, b, func(cfg *desktop.Config) { cfg.Now = c.Now })
	if st, ok := e3.State(); ok {
		t.Fatalf("stale session still live: %+v", st)
	}
	evs := stored(t, b, old.Session)
	end := evs[len(evs)-1]
	if len(evs) != 3 || end.Type != bus.TypeSessionEnded || end.Ended.Reason != bus.EndByIdle ||
		!end.At.Equal(t0.Add(bus.SessionIdleTimeout)) {
		t.Fatalf("stale session events %v, last %+v", types(evs), end)
	}
	if st := kvState(t, b, old.Session); st.EndedAt == nil || st.EndReason != bus.EndByIdle || st.Current != nil {
		t.Fatalf("kv of stale session %+v", st)
	}
	ev, _ := play(t, e3, detected("B", "Two", "k2"))
	if ev.Session == old.Session || ev.Seq != 2 {
		t.Fatalf("play after idle end: session %s seq %d", ev.Session, ev.Seq)
	}
	// A fourth engine does not end it again.
	e4 := engine(t, b, func(cfg *desktop.Config) { cfg.Now = c.Now })
	if st := live(t, e4); st.ID != ev.Session {
		t.Fatalf("new session not continued: %+v", st)
	}
	if n := len(stored(t, b, old.Session)); n != 3 {
		t.Fatalf("stale session got %d events", n)
	}
}

func TestRunEndsIdleSession(t *testing.T) {
	t.Run("injected clock", func(t *testing.T) {
		b := testenv.NATS(t)
		t0 := time.Now().Add(-3 * time.Hour).UTC().Truncate(time.Millisecond)
		c := newClock(t0)
		e := engine(t, b, func(cfg *desktop.Config) { cfg.Now = c.Now; cfg.Idle = time.Hour })
		p, _ := play(t, e, detected("A", "One", ""))
		c.Set(t0.Add(2 * time.Hour))
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- e.Run(ctx) }()
		testenv.Eventually(t, 5*time.Second, "Run did not end the idle session", func() bool {
			_, ok := e.State()
			return !ok
		})
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("Run returned %v", err)
		}
		evs := stored(t, b, p.Session)
		if end := evs[len(evs)-1]; end.Type != bus.TypeSessionEnded || end.Ended.Reason != bus.EndByIdle || !end.At.Equal(t0.Add(time.Hour)) {
			t.Fatalf("last event %+v", end)
		}
	})
	t.Run("real clock", func(t *testing.T) {
		b := testenv.NATS(t)
		e := engine(t, b, func(cfg *desktop.Config) { cfg.Idle = 300 * time.Millisecond })
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		done := make(chan error, 1)
		go func() { done <- e.Run(ctx) }()
		// Run is already waiting when the session starts: the play must wake it.
		p, _ := play(t, e, detected("A", "One", ""))
		testenv.Eventually(t, 5*time.Second, "Run did not end the idle session", func() bool {
			_, ok := e.State()
			return !ok
		})
		if evs := stored(t, b, p.Session); evs[len(evs)-1].Type != bus.TypeSessionEnded {
			t.Fatalf("stored %v", types(evs))
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("Run returned %v", err)
		}
	})
}

func TestEndThenPlayStartsNewSession(t *testing.T) {
	b := testenv.NATS(t)
	e := engine(t, b, nil)
	ctx := t.Context()
	if err := e.End(ctx, bus.EndByDJ); err != nil {
		t.Fatalf("End with no session: %v", err)
	}
	d := detected("A", "One", "k1")
	d.At = time.Now().Add(-time.Minute)
	first, _ := play(t, e, d)
	if err := e.End(ctx, "bored"); !errors.Is(err, bus.ErrInvalid) {
		t.Fatalf("End with a bad reason: %v", err)
	}
	if err := e.End(ctx, bus.EndByDJ); err != nil {
		t.Fatal(err)
	}
	if _, ok := e.State(); ok {
		t.Fatal("session live after End")
	}
	if st := kvState(t, b, first.Session); st.EndedAt == nil || st.EndReason != bus.EndByDJ {
		t.Fatalf("kv after End %+v", st)
	}
	// The detector re-reporting the same sighting does not reopen anything.
	if ev, dup := play(t, e, d); !dup || ev.ID != first.ID {
		t.Fatalf("old sighting after End: dup=%v %+v", dup, ev)
	}
	if _, ok := e.State(); ok {
		t.Fatal("an old sighting started a session")
	}
	next, dup := play(t, e, detected("B", "Two", "k2"))
	if dup || next.Session == first.Session || next.Seq != 2 {
		t.Fatalf("play after End: dup=%v session=%s seq=%d", dup, next.Session, next.Seq)
	}
	if got := types(stored(t, b, first.Session)); len(got) != 3 || got[2] != bus.TypeSessionEnded {
		t.Fatalf("ended session %v", got)
	}
}

func TestStopClearsCurrentTrack(t *testing.T) {
	b := testenv.NATS(t)
	e := engine(t, b, nil)
	ctx := t.Context()
	if err := e.Stop(ctx); err != nil {
		t.Fatalf("Stop with no session: %v", err)
	}
	p, _ := play(t, e, detected("A", "One", ""))
	if err := e.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if st := live(t, e); st.Current != nil || st.Seq != 3 || st.Plays != 1 {
		t.Fatalf("state after Stop %+v", st)
	}
	if st := kvState(t, b, p.Session); st.Current != nil || st.Seq != 3 {
		t.Fatalf("kv after Stop %+v", st)
	}
	if err := e.Stop(ctx); err != nil { // nothing plays: nothing published
		t.Fatal(err)
	}
	if got := types(stored(t, b, p.Session)); len(got) != 3 || got[2] != bus.TypeTrackStopped {
		t.Fatalf("stored %v", got)
	}
}

func TestConcurrentPlaysGetContiguousSeqs(t *testing.T) {
	b := testenv.NATS(t)
	e := engine(t, b, nil)
	const workers, each = 6, 8
	base := time.Now().Add(-time.Hour)
	var wg sync.WaitGroup
	var dups atomic.Int64
	errs := make(chan error, workers*each*2)
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				// Workers w and w^1 report the same sightings, as two
				// detectors reading one history file would.
				pair := w / 2
				d := detected(fmt.Sprintf("Artist %d", pair), fmt.Sprintf("Song %d", i), fmt.Sprintf("p%d-%d", pair, i))
				d.At = base.Add(time.Duration(pair*each+i) * time.Second)
				_, dup, err := e.Play(t.Context(), d)
				if err != nil {
					errs <- err
				}
				if dup {
					dups.Add(1)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	st := live(t, e)
	unique := workers / 2 * each
	evs := stored(t, b, st.ID) // checks 1..n, no gap, no repeat
	if len(evs) != unique+1 || st.Seq != uint64(unique+1) || st.Plays != unique || dups.Load() != int64(workers*each-unique) {
		t.Fatalf("%d events, seq %d, plays %d, dups %d; want %d plays", len(evs), st.Seq, st.Plays, dups.Load(), unique)
	}
}

func TestPlayRejectsBadInput(t *testing.T) {
	b := testenv.NATS(t)
	e := engine(t, b, nil)
	good := detected("A", "One", "")
	cases := map[string]func(*desktop.Detected){
		"empty title":      func(d *desktop.Detected) { d.Track = bus.NewTrack("A", " ") },
		"bpm too high":     func(d *desktop.Detected) { d.Track.BPM = 1000 },
		"bpm NaN":          func(d *desktop.Detected) { d.Track.BPM = math.NaN() },
		"wrong track id":   func(d *desktop.Detected) { d.Track.ID = "trk_0000" },
		"control char":     func(d *desktop.Detected) { d.Track = bus.NewTrack("A", "One\x00") },
		"bad source":       func(d *desktop.Detected) { d.Source = "Virtual DJ!" },
		"time before ulid": func(d *desktop.Detected) { d.At = time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC) },
		"time in future":   func(d *desktop.Detected) { d.At = time.Now().Add(24 * time.Hour) },
	}
	for name, mod := range cases {
		d := good
		mod(&d)
		if _, _, err := e.Play(t.Context(), d); !errors.Is(err, bus.ErrInvalid) {
			t.Errorf("%s: err = %v, want ErrInvalid", name, err)
		}
	}
	if _, ok := e.State(); ok {
		t.Fatal("bad input started a session")
	}
	// A track without an id gets one.
	d := good
	d.Track.ID = ""
	if ev, _ := play(t, e, d); ev.Play.Track.ID != bus.TrackID("A", "One") {
		t.Fatalf("track id %q", ev.Play.Track.ID)
	}
}

func TestNewChecksConfig(t *testing.T) {
	b := testenv.NATS(t)
	for name, cfg := range map[string]desktop.Config{
		"bad dj":    {DJ: "nope", JS: b.JS, KV: b.KV},
		"no js":     {DJ: b.DJ, KV: b.KV},
		"long name": {DJ: b.DJ, JS: b.JS, KV: b.KV, DJName: string(make([]rune, 200))},
		"negative":  {DJ: b.DJ, JS: b.JS, KV: b.KV, Idle: -time.Second},
	} {
		if _, err := desktop.New(cfg); err == nil {
			t.Errorf("%s: New accepted it", name)
		}
	}
}

// lossyJS stores every publish but, while drop is set, loses the answer, as
// a timeout after the server wrote the message would.
type lossyJS struct {
	jetstream.JetStream
	drop atomic.Bool
}

func (j *lossyJS) PublishMsg(ctx context.Context, msg *nats.Msg, opts ...jetstream.PublishOpt) (*jetstream.PubAck, error) {
	ack, err := j.JetStream.PublishMsg(ctx, msg, opts...)
	if j.drop.Load() {
		return nil, errors.New("answer lost")
	}
	return ack, err
}

// A publish that fails after the server stored the event must not let the
// next event reuse its seq: the event is published again, same id, first.
func TestLostAckKeepsSeqContiguous(t *testing.T) {
	b := testenv.NATS(t)
	js := &lossyJS{JetStream: b.JS}
	e := engine(t, b, func(cfg *desktop.Config) { cfg.JS = js })
	p1, _ := play(t, e, detected("A", "One", "k1"))

	js.drop.Store(true)
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	lost := detected("B", "Two", "k2")
	lost.At = time.Now() // a Key dedupes only with the same At: the id is derived from both
	if _, _, err := e.Play(ctx, lost); err == nil {
		t.Fatal("Play succeeded with every answer lost")
	}
	cancel()
	js.drop.Store(false)

	p3, dup := play(t, e, detected("C", "Three", "k3"))
	if dup || p3.Seq != 4 {
		t.Fatalf("play after a lost answer: dup=%v seq=%d", dup, p3.Seq)
	}
	// Retrying the failed play finds it stored.
	if ev, dup := play(t, e, lost); !dup || ev.Seq != 3 {
		t.Fatalf("retried play: dup=%v seq=%d", dup, ev.Seq)
	}
	evs := stored(t, b, p1.Session)
	if len(evs) != 4 || evs[2].Play.Track.Title != "Two" {
		t.Fatalf("stored %v", types(evs))
	}
	if st := live(t, e); st.Plays != 3 || st.Seq != 4 {
		t.Fatalf("state %+v", st)
	}
}

// TestSameKeyWithoutTimeIsOnePlay: a plain M3U entry has no time of its
// own, so each sighting is stamped when it is read; the source key alone
// must still make a second sighting (a restart, a rewritten file) one play.
func TestSameKeyWithoutTimeIsOnePlay(t *testing.T) {
	b := testenv.NATS(t)
	clk := newClock(time.Now().UTC())
	e := engine(t, b, func(c *desktop.Config) { c.Now = clk.Now })
	first, dup := play(t, e, detected("Plain", "Entry", "m3u-key-1"))
	if dup {
		t.Fatal("first sighting reported as duplicate")
	}
	clk.Set(clk.Now().Add(time.Minute))
	again, dup := play(t, e, detected("Plain", "Entry", "m3u-key-1"))
	if !dup || again.ID != first.ID {
		t.Fatalf("second sighting a minute later: dup=%v id %s, want the stored %s", dup, again.ID, first.ID)
	}
	// And after a restart, when the engine only knows what the stream says.
	e2 := engine(t, b, func(c *desktop.Config) { c.Now = clk.Now })
	clk.Set(clk.Now().Add(time.Minute))
	if _, dup := play(t, e2, detected("Plain", "Entry", "m3u-key-1")); !dup {
		t.Fatal("sighting after restart stored again")
	}
	if n := len(stored(t, b, first.Session)); n != 2 {
		t.Fatalf("session holds %d events, want 2 (started, one play)", n)
	}
}

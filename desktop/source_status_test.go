package desktop_test

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/pika-dj/pika/bus"
	"github.com/pika-dj/pika/desktop"
	"github.com/pika-dj/pika/desktop/detect"
	"github.com/pika-dj/pika/internal/testenv"
)

// scriptedSource is a detect.Source whose status the test sets.
type scriptedSource struct {
	mu sync.Mutex
	st detect.Status
}

func (s *scriptedSource) Name() string { return "serato" }
func (s *scriptedSource) Run(ctx context.Context, _ func(context.Context, detect.Entry) error) error {
	<-ctx.Done()
	return nil
}
func (s *scriptedSource) Status() detect.Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.st
}
func (s *scriptedSource) set(f func(*detect.Status)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(&s.st)
}

// TestSourceReporter: the live session's console hears what the detector
// does: an error in one clean line, then reading with the last track.
func TestSourceReporter(t *testing.T) {
	b := testenv.NATS(t)
	e := engine(t, b, nil)
	ev, _ := play(t, e, detected("Example Band", "Slow Dance", "k1"))
	got := make(chan bus.SourceStatus, 16)
	sub, err := b.Conn.Subscribe(bus.SourceSubject(ev.Session), func(m *nats.Msg) {
		var s bus.SourceStatus
		if err := json.Unmarshal(m.Data, &s); err != nil {
			t.Errorf("decode: %v", err)
		}
		got <- s
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()

	src := &scriptedSource{st: detect.Status{Source: "serato", Path: "/Music/master.sqlite",
		Err: "unsupported Serato DJ 4 database:\ntable history_entry lacks played"}}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r := desktop.NewSourceReporter(desktop.SourceReporter{Conn: b.Conn, Engine: e, Source: src, Name: "Serato DJ 4", Why: "Following Serato DJ 4."})
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()

	wait := func(what string, ok func(bus.SourceStatus) bool) bus.SourceStatus {
		t.Helper()
		deadline := time.After(10 * time.Second)
		for {
			select {
			case s := <-got:
				if ok(s) {
					return s
				}
			case <-deadline:
				t.Fatalf("no status %s within 10 s", what)
			}
		}
	}
	s := wait("error", func(s bus.SourceStatus) bool { return s.State == bus.SourceError })
	if s.Name != "Serato DJ 4" || strings.ContainsAny(s.Error, "\n\r") || !strings.Contains(s.Error, "lacks played") || s.Validate() != nil {
		t.Fatalf("error status %+v", s)
	}
	at := time.Date(2026, 11, 26, 21, 0, 0, 0, time.UTC)
	src.set(func(st *detect.Status) {
		st.Err = ""
		st.LastEntry = &detect.Entry{Artist: "Example Band", Title: "Slow Dance", PlayedAt: at}
	})
	s = wait("reading", func(s bus.SourceStatus) bool { return s.State == bus.SourceReading })
	if s.LastTrack != "Example Band – Slow Dance" || !s.LastAt.Equal(at) || s.Source != "serato" {
		t.Fatalf("reading status %+v", s)
	}
	// A console opening nudges it: the same status again, without waiting
	// for the 10 s repeat.
	r.Nudge()
	if again := wait("nudged", func(bus.SourceStatus) bool { return true }); again.LastTrack != s.LastTrack {
		t.Fatalf("nudged status %+v", again)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

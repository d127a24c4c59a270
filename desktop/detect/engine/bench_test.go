package engine

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/pika-dj/pika/desktop/detect"
)

// BenchmarkDetectionLatency: each iteration loads a new track on a playing
// deck with its fader up, as a unit pushes it over the StateMap, and waits
// until emit receives it. The source runs with its defaults (real clock,
// 500 ms read interval) except MinAudible, 1 ms, so the figure is the
// source's own delay: the network, the 20 ms settle of a load's burst of
// values, and the Decider's second look.
func BenchmarkDetectionLatency(b *testing.B) {
	listening := make(chan net.Addr, 1)
	src, err := New(Config{
		Listen:     "127.0.0.1:0",
		Policy:     detect.Policy{MinAudible: time.Millisecond},
		AnnounceTo: func() []*net.UDPAddr { return nil },
		onListen:   func(a net.Addr) { listening <- a },
	})
	if err != nil {
		b.Fatal(err)
	}
	got := make(chan detect.Entry, 1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- src.Run(ctx, func(_ context.Context, e detect.Entry) error { got <- e; return nil })
	}()
	defer func() { cancel(); <-done }()
	addr := (<-listening).(*net.UDPAddr)

	u := newFakeUnit(b, "prime4", "JP11")
	u.set(pathDeckCount, num(4), fader(1), num(1), dp(1, deckPlay), state(true))
	u.announceTo(addr)
	u.loadTrack(1, "Band", "Warm Up")
	select {
	case <-got:
	case <-time.After(10 * time.Second):
		b.Fatalf("no first detection: %+v", src.Status())
	}

	b.ResetTimer()
	start := time.Now()
	for i := range b.N {
		title := fmt.Sprintf("Track %d", i)
		u.loadTrack(1, "Band", title)
		select {
		case e := <-got:
			if e.Title != title {
				b.Fatalf("detected %q, want %q", e.Title, title)
			}
		case <-time.After(10 * time.Second):
			b.Fatalf("%q never detected: %+v", title, src.Status())
		}
	}
	b.ReportMetric(float64(time.Since(start).Microseconds())/1000/float64(b.N), "ms/detect")
}

package virtualdj

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"

	"github.com/pika-dj/pika/desktop/detect"
	"github.com/pika-dj/pika/desktop/detect/detecttest"
)

// BenchmarkDetectionLatency measures, on the plugin path with the default
// read interval, the time from a new track going on air in VirtualDJ to
// its announcement. The policy's MinAudible is set to 1 ms so the figure is
// the source's own latency; in use the DJ's MinAudible (5 s by default)
// comes on top. Reported: ms/detect, the mean over the changes.
func BenchmarkDetectionLatency(b *testing.B) {
	f := newFakeVDJ(b)
	s, err := New(Config{Addr: f.addr()}, filepath.Join(b.TempDir(), "VirtualDJ"),
		detect.Options{Policy: detect.Policy{MinAudible: time.Millisecond}})
	if err != nil {
		b.Fatal(err)
	}
	r := detecttest.RunSource(b, s)

	var total time.Duration
	b.ResetTimer()
	for i := range b.N {
		title := fmt.Sprintf("Track %d", i)
		// A DJ's change comes at any point between two reads, not just
		// after one: spread the changes over the read interval.
		time.Sleep(time.Duration(rand.Int64N(int64(detect.DefaultReadEvery))))
		start := time.Now()
		f.set(func(f *fakeVDJ) {
			f.decks["1"] = &fakeDeck{audible: true, title: title, artist: "Bench", path: "/Music/Bench - " + title + ".mp3"}
		})
		if e := r.Next(b); e.Title != title {
			b.Fatalf("announced %q, want %q", e.Title, title)
		}
		total += time.Since(start)
	}
	b.ReportMetric(float64(total.Microseconds())/1000/float64(b.N), "ms/detect")
}

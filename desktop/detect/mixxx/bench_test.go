package mixxx

import (
	"fmt"
	"testing"
	"time"

	"github.com/pika-dj/pika/desktop/detect/mixxx/mixxxtest"
)

// BenchmarkDetectionLatency: each iteration Mixxx appends a track to the
// history (one commit, CURRENT_TIMESTAMP, into the WAL) and waits until the
// running source, at its default read interval, hands the play over.
func BenchmarkDetectionLatency(b *testing.B) {
	s := mixxxtest.NewSet(b, b.TempDir(), time.Now().UTC())
	tracks := make([]int64, b.N)
	for i := range tracks {
		tracks[i] = s.Lib.Track(mixxxtest.Track{Artist: "Bench Band", Title: fmt.Sprintf("Take %d", i), BPM: 100, Key: "Am", Duration: 200,
			Location: fmt.Sprintf("/music/bench/take %d.mp3", i)})
	}
	_, r := run(b, s.Lib.Path, nil)
	r.WaitRead(b)
	b.ResetTimer()
	start := time.Now()
	for i := range b.N {
		s.Lib.AppendNow(s.Today, tracks[i])
		if e := r.Next(b); e.Title != fmt.Sprintf("Take %d", i) {
			b.Fatalf("got %q, want Take %d", e.Title, i)
		}
	}
	b.ReportMetric(float64(time.Since(start).Microseconds())/1000/float64(b.N), "ms/detect")
}

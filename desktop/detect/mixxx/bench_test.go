package mixxx

import (
	"fmt"
	"testing"
	"time"
)

// BenchmarkDetectionLatency: each iteration Mixxx appends a track to the
// history (one commit, CURRENT_TIMESTAMP, into the WAL) and waits until the
// running source, at its default read interval, hands the play over.
func BenchmarkDetectionLatency(b *testing.B) {
	s := newSet(b, b.TempDir(), time.Now().UTC())
	tracks := make([]int64, b.N)
	for i := range tracks {
		tracks[i] = s.lib.track("Bench Band", fmt.Sprintf("Take %d", i), "", 100, "Am", 200, fmt.Sprintf("/music/bench/take %d.mp3", i))
	}
	r := run(b, s.lib.path, nil)
	r.read(b)
	b.ResetTimer()
	start := time.Now()
	for i := range b.N {
		s.lib.appendNow(s.today, tracks[i])
		if e := r.next(b); e.Title != fmt.Sprintf("Take %d", i) {
			b.Fatalf("got %q, want Take %d", e.Title, i)
		}
	}
	b.ReportMetric(float64(time.Since(start).Microseconds())/1000/float64(b.N), "ms/detect")
}

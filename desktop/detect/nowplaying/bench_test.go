package nowplaying

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"
)

// BenchmarkDetectionLatency: each iteration the DJ program rewrites the file
// with the next track and waits until the running source, at its default
// read interval and stability window, hands the play over. Most of each
// detection is the stability window (DefaultStableFor).
func BenchmarkDetectionLatency(b *testing.B) {
	path := filepath.Join(b.TempDir(), "NowPlaying.txt")
	write(b, path, "", time.Time{})
	r := run(b, path, DefaultStableFor, nil)
	waitFor(b, "a first read", func() bool { return !r.src.Status().LastReadAt.IsZero() })
	b.ResetTimer()
	start := time.Now()
	for i := range b.N {
		write(b, path, fmt.Sprintf("Title: Take %d\nArtist: Bench Band\n", i), time.Time{})
		if e := r.next(b); e.Title != fmt.Sprintf("Take %d", i) {
			b.Fatalf("got %q, want Take %d", e.Title, i)
		}
	}
	b.ReportMetric(float64(time.Since(start).Microseconds())/1000/float64(b.N), "ms/detect")
}

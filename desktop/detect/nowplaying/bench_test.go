package nowplaying

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/pika-dj/pika/desktop/detect/detecttest"
)

// BenchmarkDetectionLatency: each iteration the DJ program rewrites the file
// with the next track and waits until the running source, at its default
// read interval and stability window, hands the play over. Most of each
// detection is the stability window (DefaultStableFor).
func BenchmarkDetectionLatency(b *testing.B) {
	path := filepath.Join(b.TempDir(), "NowPlaying.txt")
	detecttest.MkFile(b, path, "", time.Time{})
	_, r := run(b, path, DefaultStableFor, nil)
	r.WaitRead(b)
	b.ResetTimer()
	start := time.Now()
	for i := range b.N {
		detecttest.MkFile(b, path, fmt.Sprintf("Title: Take %d\nArtist: Bench Band\n", i), time.Time{})
		if e := r.Next(b); e.Title != fmt.Sprintf("Take %d", i) {
			b.Fatalf("got %q, want Take %d", e.Title, i)
		}
	}
	b.ReportMetric(float64(time.Since(start).Microseconds())/1000/float64(b.N), "ms/detect")
}

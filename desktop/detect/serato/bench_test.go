package serato

import (
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/pika-dj/pika/desktop/detect"
	"github.com/pika-dj/pika/desktop/detect/detecttest"
	"github.com/pika-dj/pika/desktop/detect/serato/seratotest"
)

// BenchmarkDetectionLatency: each iteration makes Serato's change (a
// played row committed to master.sqlite's WAL; a played row appended to the
// session file) and waits until the source hands the play over, with the
// default read interval.
func BenchmarkDetectionLatency(b *testing.B) {
	b.Run("serato4", func(b *testing.B) {
		dir := b.TempDir()
		m := seratotest.New(b, dir, seratotest.Schema4)
		s1 := m.OpenSession(time.Now(), -1)
		src, err := Product().Open(detect.Found{Product: ID4, Path: m.Path}, detect.Options{})
		if err != nil {
			b.Fatal(err)
		}
		benchDetect(b, src, func(i int) {
			m.Load(s1, seratotest.Load{Deck: strconv.Itoa(1 + i%2), Artist: "Bench", Title: "Track " + strconv.Itoa(i),
				At: time.Now().Add(time.Duration(i) * time.Second), Played: true})
		})
	})
	// As on a Mac where Serato's WAL writes fire no file event
	// (whatsnowplaying#1401): the regular reads alone.
	b.Run("serato4-no-file-events", func(b *testing.B) {
		m := seratotest.New(b, b.TempDir(), seratotest.Schema4)
		s1 := m.OpenSession(time.Now(), -1)
		src, err := detect.NewPolled(detect.PolledConfig{Name: ID4, Path: m.Path, Read: (&db4{path: m.Path}).read})
		if err != nil {
			b.Fatal(err)
		}
		benchDetect(b, src, func(i int) {
			m.Load(s1, seratotest.Load{Deck: strconv.Itoa(1 + i%2), Artist: "Bench", Title: "Track " + strconv.Itoa(i),
				At: time.Now().Add(time.Duration(i) * time.Second), Played: true})
		})
	})
	b.Run("serato3", func(b *testing.B) {
		dir := filepath.Join(b.TempDir(), "Sessions")
		f := newSessionFile(b, dir, 1)
		src, err := Session3Product().Open(detect.Found{Product: ID3, Path: dir}, detect.Options{})
		if err != nil {
			b.Fatal(err)
		}
		benchDetect(b, src, func(i int) {
			f.append(b, track{row: uint32(i + 1), deck: uint32(1 + i%2), artist: "Bench", title: "Track " + strconv.Itoa(i),
				start: time.Now().Add(time.Duration(i) * time.Second), played: true}.oent())
		})
	})
}

func benchDetect(b *testing.B, src detect.Source, change func(i int)) {
	r := detecttest.RunSource(b, src)
	// Let the first reads happen, so the timing is of detection only.
	r.WaitRead(b)

	var total time.Duration
	b.ResetTimer()
	for i := range b.N {
		start := time.Now()
		change(i)
		if e := r.Next(b); e.Title != "Track "+strconv.Itoa(i) {
			b.Fatalf("got %q at iteration %d", e.Title, i)
		}
		total += time.Since(start)
	}
	b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms/detect")
}

package rekordbox

import (
	"context"
	"database/sql"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/pika-dj/pika/desktop/detect"
)

// timedDB measures the Reads that found a change: decrypting what changed
// and querying the history.
type timedDB struct {
	database
	mu    sync.Mutex
	n     int
	total time.Duration
}

func (d *timedDB) Read(ctx context.Context, fn func(ctx context.Context, db *sql.DB) error) error {
	start := time.Now()
	err := d.database.Read(ctx, fn)
	if !errors.Is(err, errUnchanged) {
		d.mu.Lock()
		d.n++
		d.total += time.Since(start)
		d.mu.Unlock()
	}
	return err
}

// BenchmarkDetectionLatency: each iteration appends one real SQLCipher
// commit of a history row to master.db-wal, as rekordbox does once a track
// has played long enough, and waits until the source hands the play over,
// with the default read interval. rekordbox's own delay before it writes
// the row (about a minute of play) comes on top and dominates.
func BenchmarkDetectionLatency(b *testing.B) {
	stages := len(walStages(b)) - 1
	var (
		path   string
		got    chan detect.Entry
		stop   func()
		timing = &timedDB{}
	)
	start := func() {
		path = cipherFixture(b, 0)
		timing.database = testCipherDB(b, path)
		src, err := newSource(path, timing, detect.Options{}, detect.PolledConfig{})
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		got = make(chan detect.Entry, 16)
		done := make(chan struct{})
		go func() {
			defer close(done)
			src.Run(ctx, func(_ context.Context, e detect.Entry) error { got <- e; return nil })
		}()
		stop = func() { cancel(); <-done }
		waitFor(b, "the first read", func() bool { return !src.Status().LastReadAt.IsZero() })
	}
	start()
	b.ResetTimer()
	for i := range b.N {
		stage := i%stages + 1
		if stage == 1 && i > 0 { // the fixture's commits are used up: start over
			b.StopTimer()
			stop()
			start()
			b.StartTimer()
		}
		commitStage(b, path, stage)
		select {
		case <-got:
		case <-time.After(10 * time.Second):
			b.Fatalf("commit %d not detected within 10 s", stage)
		}
	}
	b.StopTimer()
	stop()
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/detect")
	timing.mu.Lock()
	defer timing.mu.Unlock()
	if timing.n > 0 {
		b.ReportMetric(float64(timing.total.Microseconds())/1000/float64(timing.n), "ms/read")
	}
}

package rekordbox

import (
	"context"
	"database/sql"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/pika-dj/pika/desktop/detect"
	"github.com/pika-dj/pika/desktop/detect/detecttest"
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
		got    *detecttest.Emitted
		timing = &timedDB{}
	)
	start := func() {
		path = cipherFixture(b, 0)
		timing.database = testCipherDB(b, path)
		src, err := newSource(path, timing, detect.Options{}, detect.PolledConfig{})
		if err != nil {
			b.Fatal(err)
		}
		got = detecttest.RunSource(b, src)
		got.WaitRead(b)
	}
	start()
	b.ResetTimer()
	for i := range b.N {
		stage := i%stages + 1
		if stage == 1 && i > 0 { // the fixture's commits are used up: start over
			b.StopTimer()
			got.Stop()
			start()
			b.StartTimer()
		}
		commitStage(b, path, stage)
		got.Next(b)
	}
	b.StopTimer()
	got.Stop()
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/detect")
	timing.mu.Lock()
	defer timing.mu.Unlock()
	if timing.n > 0 {
		b.ReportMetric(float64(timing.total.Microseconds())/1000/float64(timing.n), "ms/read")
	}
}

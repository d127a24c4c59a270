package pgstore_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/pika-dj/pika/bus"
)

// crowd makes n distinct actions of one session: mostly likes, some tempo
// votes and thank-yous, as a busy floor sends them.
func crowd(session string, n int, start time.Time) []bus.Action {
	out := make([]bus.Action, n)
	for i := range out {
		at := start.Add(time.Duration(i) * time.Millisecond)
		a := bus.Action{V: bus.Version, ID: bus.NewID(at), Session: session, Client: fmt.Sprintf("client-%06d", i), At: at}
		switch i % 10 {
		case 8:
			a.Kind, a.PlayID, a.Tempo = bus.ActTempo, bus.NewID(start), bus.TempoFaster
		case 9:
			a.Kind = bus.ActThanks
		default:
			a.Kind, a.PlayID = bus.ActLike, bus.NewID(start)
		}
		out[i] = a
	}
	return out
}

// TestWriteBatchConcurrent: writers sharing rows (two persister replicas
// given overlapping redeliveries) neither deadlock nor double anything.
func TestWriteBatchConcurrent(t *testing.T) {
	t.Parallel()
	st := newStore(t)
	n := newNight()
	more := crowd(n.session, 400, t0)
	want := newStore(t)
	write(t, want, n.events, slices.Concat(n.actions, more))

	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(w), 1))
			for range 5 {
				ev, ac := slices.Clone(n.events), slices.Concat(n.actions, more)
				r.Shuffle(len(ev), func(i, j int) { ev[i], ev[j] = ev[j], ev[i] })
				r.Shuffle(len(ac), func(i, j int) { ac[i], ac[j] = ac[j], ac[i] })
				if err := st.WriteBatch(context.Background(), ev, ac); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if got, exp := dump(t, st), dump(t, want); got != exp {
		t.Fatalf("concurrent writers:\n%s\nwant:\n%s", got, exp)
	}
}

// BenchmarkWriteBatch writes batches of 500 new actions (one row each), as
// the persister does under a flood of likes, and reports rows per second.
//
//	go test -run '^$' -bench WriteBatch -benchtime 200x ./persister/pgstore/
//
// The test cluster runs with fsync=off; PIKA_TEST_PG_FSYNC=on measures with
// fsync on, as production runs.
func BenchmarkWriteBatch(b *testing.B) {
	st := newStore(b)
	session := bus.NewID(t0)
	const size = 500
	batches := make([][]bus.Action, b.N)
	for i := range batches {
		batches[i] = crowd(session, size, t0.Add(time.Duration(i)*time.Hour))
	}
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := st.WriteBatch(ctx, nil, batches[i]); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*size)/b.Elapsed().Seconds(), "rows/s")
}

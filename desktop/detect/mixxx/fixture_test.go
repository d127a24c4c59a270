package mixxx

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/pika-dj/pika/desktop/detect"
)

// clock is a settable clock for the source and its reader.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// running is a source running in the background, its plays in a channel.
type running struct {
	src   *detect.Polled
	plays chan detect.Entry
}

func run(tb testing.TB, path string, now func() time.Time) *running {
	tb.Helper()
	src, err := open(path, detect.Options{}, now)
	if err != nil {
		tb.Fatal(err)
	}
	r := &running{src: src, plays: make(chan detect.Entry, 64)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- src.Run(ctx, func(ctx context.Context, e detect.Entry) error {
			select {
			case r.plays <- e:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
	}()
	tb.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			tb.Errorf("Run: %v", err)
		}
	})
	return r
}

// read waits until the source has read the database once without error.
func (r *running) read(tb testing.TB) {
	tb.Helper()
	waitFor(tb, "a first good read", func() bool { return !r.src.Status().LastReadAt.IsZero() })
}

// next waits for the next play.
func (r *running) next(tb testing.TB) detect.Entry {
	tb.Helper()
	select {
	case e := <-r.plays:
		return e
	case <-time.After(10 * time.Second):
		tb.Fatalf("no play within 10 s; status %+v", r.src.Status())
	}
	return detect.Entry{}
}

// waitFor polls cond for up to 10 s.
func waitFor(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("%s never happened", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

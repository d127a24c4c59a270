package traktor

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/pika-dj/pika/desktop/detect"
	"github.com/pika-dj/pika/internal/testenv"
)

// collector records what a source emits.
type collector struct {
	mu      sync.Mutex
	got     []detect.Entry
	fail    func(detect.Entry) error
	calls   int
	arrived chan detect.Entry // if set, each accepted entry is sent here too
}

func (c *collector) emit(ctx context.Context, e detect.Entry) error {
	c.mu.Lock()
	c.calls++
	if c.fail != nil {
		if err := c.fail(e); err != nil {
			c.mu.Unlock()
			return err
		}
	}
	c.got = append(c.got, e)
	ch := c.arrived
	c.mu.Unlock()
	if ch != nil {
		select {
		case ch <- e:
		case <-ctx.Done():
		}
	}
	return nil
}

func (c *collector) entries() []detect.Entry {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]detect.Entry(nil), c.got...)
}

func (c *collector) titles() []string {
	var t []string
	for _, e := range c.entries() {
		t = append(t, e.Title)
	}
	return t
}

// clock is an injected clock that moves a second each time it is read.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(time.Second)
	return c.t
}

// running is a started Source.
type running struct {
	s    *Source
	c    *collector
	stop func()
}

// start runs a source on a free loopback port until the test ends.
func start(t testing.TB, cfg Config, c *collector, tune ...func(*Source)) *running {
	t.Helper()
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:0"
	}
	s := New(cfg)
	for _, f := range tune {
		f(s)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx, c.emit) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run: %v", err)
				}
			case <-time.After(10 * time.Second):
				t.Error("Run did not return after cancel")
			}
		})
	}
	t.Cleanup(stop)
	testenv.Eventually(t, 10*time.Second, "the source listens", func() bool { return s.Addr() != "" })
	return &running{s: s, c: c, stop: stop}
}

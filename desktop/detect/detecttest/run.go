package detecttest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/pika-dj/pika/desktop/detect"
)

// wait is how long a helper waits for a source before failing the test:
// long enough for a slow CI machine under the race detector.
const wait = 10 * time.Second

// Emitted is a source running in the background and the plays it has
// handed over, in order.
type Emitted struct {
	src    detect.Source
	refuse func(detect.Entry) error
	stop   func()

	mu    sync.Mutex
	got   []detect.Entry
	taken int           // how many Next has returned
	added chan struct{} // a play arrived; Wait and Next wake on it
}

// RunSource runs src until the test ends or Stop is called, collecting
// what it emits. Run must then return nil within 10 s.
func RunSource(tb testing.TB, src detect.Source) *Emitted {
	tb.Helper()
	return RunSourceRefusing(tb, src, nil)
}

// RunSourceRefusing is RunSource with an emit that fails when refuse
// returns an error for a play, as the app does when it cannot take one, so
// the source must offer it again; a refused play is not collected. refuse
// is called one play at a time, and must not call the Emitted's methods.
func RunSourceRefusing(tb testing.TB, src detect.Source, refuse func(detect.Entry) error) *Emitted {
	tb.Helper()
	e := &Emitted{src: src, refuse: refuse, added: make(chan struct{}, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx, e.emit) }()
	e.stop = sync.OnceFunc(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				tb.Errorf("Run: %v", err)
			}
		case <-time.After(wait):
			tb.Error("Run did not return within 10 s of its context ending")
		}
	})
	tb.Cleanup(e.stop)
	return e
}

func (e *Emitted) emit(_ context.Context, en detect.Entry) error {
	e.mu.Lock()
	if e.refuse != nil {
		if err := e.refuse(en); err != nil {
			e.mu.Unlock()
			return err
		}
	}
	e.got = append(e.got, en)
	e.mu.Unlock()
	select {
	case e.added <- struct{}{}:
	default: // a wake-up is already pending
	}
	return nil
}

// Stop cancels the source and waits for Run to return.
func (e *Emitted) Stop() { e.stop() }

// Entries is every play handed over so far.
func (e *Emitted) Entries() []detect.Entry {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]detect.Entry(nil), e.got...)
}

// Titles is the title of every play handed over so far.
func (e *Emitted) Titles() []string {
	var out []string
	for _, en := range e.Entries() {
		out = append(out, en.Title)
	}
	return out
}

// Wait waits until at least n plays have been handed over and returns
// them all.
func (e *Emitted) Wait(tb testing.TB, n int) []detect.Entry {
	tb.Helper()
	deadline := time.After(wait)
	for {
		if got := e.Entries(); len(got) >= n {
			return got
		}
		select {
		case <-e.added:
		case <-deadline:
			tb.Fatalf("only %d of %d plays arrived in 10 s; status %+v", len(e.Entries()), n, e.src.Status())
			return nil
		}
	}
}

// Next waits for the play after the ones Next has returned before.
func (e *Emitted) Next(tb testing.TB) detect.Entry {
	tb.Helper()
	deadline := time.After(wait)
	for {
		e.mu.Lock()
		if e.taken < len(e.got) {
			en := e.got[e.taken]
			e.taken++
			e.mu.Unlock()
			return en
		}
		e.mu.Unlock()
		select {
		case <-e.added:
		case <-deadline:
			tb.Fatalf("no play within 10 s; status %+v", e.src.Status())
			return detect.Entry{}
		}
	}
}

// Quiet fails the test if a play came after the ones Next has returned.
func (e *Emitted) Quiet(tb testing.TB) {
	tb.Helper()
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.taken < len(e.got) {
		tb.Fatalf("announced %+v, want nothing more", e.got[e.taken:])
	}
}

// WaitRead waits until the source has read once without error, so what is
// written after it is new to the source.
func (e *Emitted) WaitRead(tb testing.TB) {
	tb.Helper()
	e.eventually(tb, "a first good read", func() bool { return !e.src.Status().LastReadAt.IsZero() })
}

// Reads waits for n more reads without error. It tells reads apart by
// LastReadAt, so the source's clock must move between them.
func (e *Emitted) Reads(tb testing.TB, n int) {
	tb.Helper()
	seen := map[time.Time]bool{e.src.Status().LastReadAt: true}
	e.eventually(tb, fmt.Sprintf("%d reads without error", n), func() bool {
		seen[e.src.Status().LastReadAt] = true
		return len(seen) > n
	})
}

// eventually polls cond until it holds, failing the test with what and
// the source's status after 10 s.
func (e *Emitted) eventually(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(wait)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("no %s within 10 s; status %+v", what, e.src.Status())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

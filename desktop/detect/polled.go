package detect

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"
)

// DefaultReadEvery is how often a polled source reads its program's files
// when no file event says to read sooner: twice a second, so a play shows
// within a second even when the program's writes fire no event (Serato's WAL
// writes often fire none).
const DefaultReadEvery = 500 * time.Millisecond

// Warning wraps an error a PolledConfig.Read returns together with decks
// that are still good: the error shows on the DJ's status line and the
// decks are used ("DJUCED's library is locked: plays go out without BPM").
type Warning struct{ Err error }

func (w *Warning) Error() string { return w.Err.Error() }
func (w *Warning) Unwrap() error { return w.Err }

// hintDelay is how soon after a file event a polled source reads.
const hintDelay = 20 * time.Millisecond

// PolledConfig describes a source that reads a DJ program's files over and
// over: most of them (Serato, Mixxx, rekordbox, djay, DJUCED, a text file).
type PolledConfig struct {
	Name string // the product, as Source.Name reports it: "serato", "mixxx", …
	Path string // what it reads, for the DJ's screen
	// Hints are folders whose file events make the next read come sooner.
	// They are hints only: a missing folder, or no events at all, only
	// leaves the source to its regular reads.
	Hints []string
	// Read returns every deck the program shows now. Its error is shown to
	// the DJ as it is, so it says what failed in the DJ's words ("Serato's
	// database is locked", "unsupported Mixxx schema: …"); the source keeps
	// reading, and the error clears with the next good read.
	Read      func(ctx context.Context) ([]Deck, error)
	Policy    Policy
	ReadEvery time.Duration // default DefaultReadEvery
	Logger    *slog.Logger  // nil = discard
	Now       func() time.Time
}

// Polled is a Source that reads a program's state with PolledConfig.Read and
// announces what the Policy says is audible.
type Polled struct {
	cfg     PolledConfig
	log     *slog.Logger
	now     func() time.Time
	running sync.Mutex

	mu     sync.Mutex
	status Status
}

// NewPolled checks cfg and returns the source; nothing is read until Run.
func NewPolled(cfg PolledConfig) (*Polled, error) {
	if cfg.Name == "" || cfg.Read == nil {
		return nil, errors.New("detect: a polled source needs a name and a read function")
	}
	if cfg.ReadEvery <= 0 {
		cfg.ReadEvery = DefaultReadEvery
	}
	p := &Polled{cfg: cfg, log: cfg.Logger, now: cfg.Now}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	if p.now == nil {
		p.now = time.Now
	}
	p.status = Status{Source: cfg.Name, Path: cfg.Path}
	return p, nil
}

// Name is the product's name.
func (p *Polled) Name() string { return p.cfg.Name }

// Status reports what the source is doing.
func (p *Polled) Status() Status {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.status.Copy()
}

func (p *Polled) setStatus(f func(*Status)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	f(&p.status)
}

// Run reads until ctx ends, handing each announced play to emit in order.
// A play emit refuses is offered again, before any later one, at the next
// read. It returns nil when ctx ends.
func (p *Polled) Run(ctx context.Context, emit func(context.Context, Entry) error) error {
	if !p.running.TryLock() {
		return fmt.Errorf("detect: %s is already running", p.cfg.Name)
	}
	defer p.running.Unlock()

	dec := NewDecider(p.cfg.Policy)
	var pending []Entry // announced, not yet accepted by emit
	var lastErr string

	var events <-chan fsnotify.Event
	fw, err := fsnotify.NewWatcher()
	if err != nil {
		p.log.Warn("file events unavailable; reading on a timer only", "err", err)
	} else {
		defer fw.Close()
		events = fw.Events
		go func() { // Errors must be drained or fsnotify blocks; it closes with fw.
			for range fw.Errors {
			}
		}()
	}
	p.watchHints(fw)

	timer := time.NewTimer(0)
	defer timer.Stop()
	due := time.Now() // when the timer fires next
	reset := func(d time.Duration) {
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		timer.Reset(d)
		due = time.Now().Add(d)
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case _, ok := <-events:
			if !ok {
				events = nil
				continue
			}
			// An event only brings the next read forward, to 20 ms from now
			// (a commit touches the WAL and the shm file at once); it never
			// puts it off, or a log file written every few ms beside the
			// database would stop every read.
			if time.Until(due) > hintDelay {
				reset(hintDelay)
			}
			continue
		case <-timer.C:
		}

		decks, err := p.cfg.Read(ctx)
		now := p.now()
		if ctx.Err() != nil {
			return nil
		}
		var warn *Warning
		if errors.As(err, &warn) {
			// The plays are good; what is wrong only makes them poorer
			// (no BPM from a locked library): say it, and go on.
			if msg := err.Error(); msg != lastErr {
				p.log.Warn("reading the DJ program with a problem", "source", p.cfg.Name, "err", err)
				lastErr = msg
			}
			pending = append(pending, dec.Observe(now, decks)...)
			p.setStatus(func(s *Status) { s.Err, s.LastReadAt = err.Error(), now })
		} else if err != nil {
			if msg := err.Error(); msg != lastErr {
				p.log.Warn("cannot read the DJ program's state", "source", p.cfg.Name, "err", err)
				lastErr = msg
			}
			p.setStatus(func(s *Status) { s.Err = err.Error() })
		} else {
			if lastErr != "" {
				p.log.Info("reading the DJ program again", "source", p.cfg.Name)
				lastErr = ""
			}
			pending = append(pending, dec.Observe(now, decks)...)
			p.setStatus(func(s *Status) { s.Err, s.LastReadAt = "", now })
		}
		for len(pending) > 0 {
			e := pending[0]
			if err := emit(ctx, e); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				p.setStatus(func(s *Status) { s.Err = fmt.Sprintf("hand over %q: %v", e.Title, err) })
				break
			}
			pending = pending[1:]
			p.setStatus(func(s *Status) { s.LastEntry = &e })
		}

		next := p.cfg.ReadEvery
		if at, ok := dec.Pending(); ok {
			next = min(next, max(at.Sub(now), time.Millisecond))
		}
		reset(next)
		p.watchHints(fw)
	}
}

// watchHints adds the hint folders that exist and are not watched yet: a
// program's folder may appear after Pika! starts, and a deleted folder drops
// its watch.
func (p *Polled) watchHints(fw *fsnotify.Watcher) {
	if fw == nil {
		return
	}
	for _, dir := range p.cfg.Hints {
		dir = filepath.Clean(dir)
		if slices.Contains(fw.WatchList(), dir) {
			continue
		}
		if info, err := os.Stat(dir); err != nil || !info.IsDir() {
			continue
		}
		if err := fw.Add(dir); err != nil {
			p.log.Debug("cannot watch folder; reading on a timer only", "dir", dir, "err", err)
		}
	}
}

package desktop

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/pika-dj/pika/bus"
)

// Config is what an Engine needs. Zero values of the optional fields are
// their documented defaults.
type Config struct {
	DJ     string              // this installation's DJ id (bus.Identity.DJ)
	DJName string              // shown to dancers; default "DJ"
	JS     jetstream.JetStream // connected to the DJ's embedded server
	KV     jetstream.KeyValue  // the bus.SessionsBucket
	Idle   time.Duration       // default bus.SessionIdleTimeout
	Logger *slog.Logger        // nil discards
	Now    func() time.Time    // nil = time.Now
}

// Detected is a play as a detector saw it.
type Detected struct {
	// Track is what plays: build it with bus.NewTrack(artist, title), then set
	// BPM, Key, Album, Duration. An empty ID is filled in from artist and title.
	Track bus.Track
	// At is when it became audible at the origin; zero means now. It is kept
	// as given, so a play recorded offline keeps its real time.
	At time.Time
	// Key is the detector's stable id for this sighting (detect.Entry.ID).
	// With a key, the same sighting always gets the same event id and is
	// stored once; empty means every call is a new play. The id is derived
	// from Key and At together, so a detector that sets Key must also set At
	// (with At zero, "now" differs on every call and nothing is deduplicated).
	Key string
	// Source names the detector: "virtualdj", "m3u", "manual", "demo".
	Source string
}

// Future plays beyond this are refused: the detector and the engine share one
// clock, so a play from far ahead is a broken tag, not a real time.
const maxFuture = 10 * time.Minute

// minPlayTime is the earliest origin time accepted. ULIDs cannot hold a time
// before 1970, and nothing a DJ played today is older than this.
var minPlayTime = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// Engine is the session owner. Its methods are safe for concurrent use. Run
// exactly one Engine per DJ store: two would both number the same session.
type Engine struct {
	cfg    Config
	log    *slog.Logger
	stream string // bus.StreamName(cfg.DJ)

	// op is held by the one operation that may assign a seq, from choosing
	// the number until the event is stored. It is a one-slot channel rather
	// than a sync.Mutex so that a caller waiting behind a slow publish (the
	// server busy, a disk stall) can give up when its ctx ends.
	op chan struct{}
	// wake tells Run that something happened, so it recomputes the deadline.
	wake chan struct{}

	// The fields below are written only while op is held. mu additionally
	// guards cur's state against State, which must not wait behind a publish.
	mu        sync.Mutex
	recovered bool
	st        jetstream.Stream
	cur       *session
	// pending is an event of cur whose publish failed: it may or may not be
	// stored, so no other event gets a seq until it is published again with
	// the same id (stored once either way).
	pending *bus.Event
	// recent holds the events of the last session that ended, so a detector
	// that re-reports an old sighting after End does not open a new session
	// with an old play.
	recent map[string]bus.Event
	// unsaved is a folded state whose PutState failed; the next put or Run
	// retries it. The events themselves are stored, which is what counts.
	unsaved *bus.SessionState
	// observer, if set, sees every event this engine stores, in seq order,
	// while op is held (the crowd Owner folds them).
	observer func(bus.Event)
}

// session is a live session: its folded state and every event id stored in it.
type session struct {
	st   bus.SessionState
	seen map[string]bus.Event
}

func newSession() *session { return &session{seen: make(map[string]bus.Event)} }

// keyPrefix marks entries of session.seen indexed by source key rather
// than event id (ids are ULIDs, which never contain ':').
const keyPrefix = "key:"

// remember indexes a stored event by its id and its play's source key.
func (s *session) remember(ev bus.Event) {
	s.seen[ev.ID] = ev
	if ev.Play != nil && ev.Play.SourceKey != "" {
		s.seen[keyPrefix+ev.Play.SourceKey] = ev
	}
}

// New checks cfg and returns an Engine. Call Start before use (Play and the
// others run the recovery themselves if it has not run yet).
func New(cfg Config) (*Engine, error) {
	if !bus.ValidDJID(cfg.DJ) {
		return nil, fmt.Errorf("desktop: dj id %q is malformed", cfg.DJ)
	}
	if cfg.JS == nil || cfg.KV == nil {
		return nil, errors.New("desktop: config needs both JS and KV")
	}
	if cfg.DJName == "" {
		cfg.DJName = "DJ"
	}
	if cfg.Idle == 0 {
		cfg.Idle = bus.SessionIdleTimeout
	}
	if cfg.Idle < 0 {
		return nil, fmt.Errorf("desktop: idle timeout %v is negative", cfg.Idle)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	// Check the DJ name the way every session.started will be checked, so a
	// bad name fails here and not at the first play of the night.
	probe := bus.Event{V: bus.Version, ID: bus.NewID(time.Now()), Type: bus.TypeSessionStarted,
		Session: bus.NewID(time.Now()), Seq: 1, At: time.Now(), DJ: cfg.DJ,
		Started: &bus.SessionStarted{DJName: cfg.DJName}}
	if err := probe.Validate(); err != nil {
		return nil, fmt.Errorf("desktop: dj name: %w", err)
	}
	return &Engine{
		cfg:    cfg,
		log:    log.With("dj", cfg.DJ),
		stream: bus.StreamName(cfg.DJ),
		op:     make(chan struct{}, 1),
		wake:   make(chan struct{}, 1),
	}, nil
}

func (e *Engine) now() time.Time { return e.cfg.Now().UTC() }

func (e *Engine) lock(ctx context.Context) error {
	select {
	case e.op <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (e *Engine) unlock() { <-e.op }

// Start recovers this DJ's sessions: see recoverLocked. Calling it again
// does nothing.
func (e *Engine) Start(ctx context.Context) error {
	if err := e.lock(ctx); err != nil {
		return fmt.Errorf("desktop: start: %w", err)
	}
	defer e.unlock()
	if e.recovered {
		return nil
	}
	return e.recoverLocked(ctx)
}

// State returns the live session's state, or false if no session is live.
func (e *Engine) State() (bus.SessionState, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.cur == nil || e.cur.st.Seq == 0 || e.cur.st.EndedAt != nil {
		return bus.SessionState{}, false
	}
	st := e.cur.st
	if st.Current != nil {
		c := *st.Current
		st.Current = &c
	}
	return st, true
}

// Play publishes a play, starting a session first if none is live. With a
// Key, a sighting already stored in this session (or the one that just
// ended) returns the stored event and duplicate=true, and nothing is
// published.
func (e *Engine) Play(ctx context.Context, d Detected) (ev bus.Event, duplicate bool, err error) {
	track, at, err := e.checkPlay(d)
	if err != nil {
		return bus.Event{}, false, err
	}
	if err := e.lock(ctx); err != nil {
		return bus.Event{}, false, fmt.Errorf("desktop: play: %w", err)
	}
	defer e.unlock()
	if err := e.readyLocked(ctx); err != nil {
		return bus.Event{}, false, fmt.Errorf("desktop: play: %w", err)
	}
	id := bus.NewID(at)
	if d.Key != "" {
		id = bus.DerivedID(at, e.cfg.DJ+"/"+d.Key)
		for _, seen := range []map[string]bus.Event{e.recent, nil} {
			if e.cur != nil && seen == nil {
				seen = e.cur.seen
			}
			// By id (same sighting, same time) or by key (same entry
			// read again without a time of its own, e.g. a plain M3U).
			if stored, ok := seen[id]; ok {
				return stored, true, nil
			}
			if stored, ok := seen[keyPrefix+d.Key]; ok {
				return stored, true, nil
			}
		}
	}
	if e.cur == nil {
		if err := e.startLocked(ctx, at); err != nil {
			return bus.Event{}, false, err
		}
	}
	ev = bus.Event{V: bus.Version, ID: id, Type: bus.TypeTrackPlayed, Session: e.cur.st.ID,
		Seq: e.cur.st.Seq + 1, At: at, DJ: e.cfg.DJ, Play: &bus.Play{Track: track, Source: d.Source, SourceKey: d.Key}}
	stored, err := e.commit(ctx, e.cur, ev)
	if err != nil {
		return bus.Event{}, false, fmt.Errorf("desktop: publish play: %w", err)
	}
	return ev, !stored, nil
}

// checkPlay validates d before anything is locked or published, so bad input
// changes nothing.
func (e *Engine) checkPlay(d Detected) (bus.Track, time.Time, error) {
	t := d.Track
	if t.ID == "" {
		t.ID = bus.TrackID(t.Artist, t.Title)
	}
	// Validate compares BPM to a range, which NaN slips past; JSON cannot
	// encode it either, so refuse it here with a readable reason.
	if math.IsNaN(t.BPM) || math.IsInf(t.BPM, 0) || math.IsNaN(t.Duration) || math.IsInf(t.Duration, 0) {
		return t, time.Time{}, fmt.Errorf("desktop: play %q: %w: bpm and duration must be finite numbers", t.Title, bus.ErrInvalid)
	}
	if err := t.Validate(); err != nil {
		return t, time.Time{}, fmt.Errorf("desktop: play %q: %w", t.Title, err)
	}
	if !validSource(d.Source) {
		return t, time.Time{}, fmt.Errorf("desktop: play %q: %w: source %q must be up to 32 of a-z 0-9 . _ -", t.Title, bus.ErrInvalid, d.Source)
	}
	now := e.now()
	at := d.At.UTC()
	if d.At.IsZero() {
		at = now
	}
	if at.Before(minPlayTime) || at.After(now.Add(maxFuture)) {
		return t, time.Time{}, fmt.Errorf("desktop: play %q: %w: time %s is not plausible (now is %s)",
			t.Title, bus.ErrInvalid, at.Format(time.RFC3339), now.Format(time.RFC3339))
	}
	return t, at, nil
}

func validSource(s string) bool {
	if len(s) > 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// Stop publishes track.stopped if something plays; otherwise it does nothing.
func (e *Engine) Stop(ctx context.Context) error {
	if err := e.lock(ctx); err != nil {
		return fmt.Errorf("desktop: stop: %w", err)
	}
	defer e.unlock()
	if err := e.readyLocked(ctx); err != nil {
		return fmt.Errorf("desktop: stop: %w", err)
	}
	if e.cur == nil || e.cur.st.Current == nil {
		return nil
	}
	at := e.now()
	ev := bus.Event{V: bus.Version, ID: bus.NewID(at), Type: bus.TypeTrackStopped, Session: e.cur.st.ID,
		Seq: e.cur.st.Seq + 1, At: at, DJ: e.cfg.DJ}
	if _, err := e.commit(ctx, e.cur, ev); err != nil {
		return fmt.Errorf("desktop: publish stop: %w", err)
	}
	return nil
}

// End ends the live session with reason bus.EndByDJ or bus.EndByIdle; the
// next Play starts a new session. With no live session it does nothing.
func (e *Engine) End(ctx context.Context, reason string) error {
	if reason != bus.EndByDJ && reason != bus.EndByIdle {
		return fmt.Errorf("desktop: end: %w: reason %q, want %q or %q", bus.ErrInvalid, reason, bus.EndByDJ, bus.EndByIdle)
	}
	if err := e.lock(ctx); err != nil {
		return fmt.Errorf("desktop: end: %w", err)
	}
	defer e.unlock()
	if err := e.readyLocked(ctx); err != nil {
		return fmt.Errorf("desktop: end: %w", err)
	}
	if e.cur == nil {
		return nil
	}
	return e.endLocked(ctx, e.cur, reason)
}

// Run ends the live session once nothing has happened in it for Idle,
// checking every minute, at the deadline and after each event, until ctx
// ends. It returns nil when ctx ends.
func (e *Engine) Run(ctx context.Context) error {
	for {
		wait := e.tick(ctx)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-e.wake:
		case <-t.C:
		}
		t.Stop()
	}
}

// tick does Run's work once and says how long to sleep.
func (e *Engine) tick(ctx context.Context) time.Duration {
	if err := e.lock(ctx); err != nil {
		return time.Minute // ctx ended; Run returns at once
	}
	defer e.unlock()
	// readyLocked also ends the session if it has gone idle.
	if err := e.readyLocked(ctx); err != nil {
		if ctx.Err() == nil {
			e.log.Warn("idle check failed; retrying in a minute", "err", err)
		}
		return time.Minute
	}
	if e.unsaved != nil {
		e.saveState(ctx, *e.unsaved)
	}
	if e.cur == nil {
		return time.Minute
	}
	left := e.cur.st.LastActivityAt.Add(e.cfg.Idle).Sub(e.now())
	return max(min(left, time.Minute), time.Millisecond)
}

// readyLocked makes the engine fit to assign the next seq: recovered, no
// event in doubt, and the live session not past its idle deadline.
func (e *Engine) readyLocked(ctx context.Context) error {
	if !e.recovered {
		if err := e.recoverLocked(ctx); err != nil {
			return err
		}
	}
	if e.pending != nil {
		ev := *e.pending
		if _, err := e.commit(ctx, e.cur, ev); err != nil {
			return fmt.Errorf("publish %s held from an earlier failure: %w", ev.Type, err)
		}
	}
	if e.cur != nil && e.cur.st.Seq == 0 {
		// Only a session.started that was refused outright leaves this.
		e.setCur(nil)
	}
	if e.cur != nil && e.now().Sub(e.cur.st.LastActivityAt) >= e.cfg.Idle {
		return e.endLocked(ctx, e.cur, bus.EndByIdle)
	}
	return nil
}

// startLocked opens a session whose start is the first play's origin time.
func (e *Engine) startLocked(ctx context.Context, at time.Time) error {
	s := newSession()
	e.setCur(s)
	ev := bus.Event{V: bus.Version, ID: bus.NewID(at), Type: bus.TypeSessionStarted, Session: bus.NewID(at),
		Seq: 1, At: at, DJ: e.cfg.DJ, Started: &bus.SessionStarted{DJName: e.cfg.DJName}}
	if _, err := e.commit(ctx, s, ev); err != nil {
		if e.pending == nil {
			e.setCur(nil)
		}
		return fmt.Errorf("desktop: publish session start: %w", err)
	}
	e.log.Info("session started", "session", ev.Session, "at", at)
	return nil
}

// endLocked publishes session.ended for s. An idle end is dated when the
// session went idle (capped at now), so the record says when the night
// really stopped, not when the laptop woke up.
func (e *Engine) endLocked(ctx context.Context, s *session, reason string) error {
	now := e.now()
	at := now
	if reason == bus.EndByIdle {
		at = s.st.LastActivityAt.Add(e.cfg.Idle)
		if at.After(now) {
			at = now
		}
	}
	ev := bus.Event{V: bus.Version, ID: bus.NewID(at), Type: bus.TypeSessionEnded, Session: s.st.ID,
		Seq: s.st.Seq + 1, At: at, DJ: e.cfg.DJ, Ended: &bus.SessionEnded{Reason: reason}}
	if _, err := e.commit(ctx, s, ev); err != nil {
		return fmt.Errorf("desktop: publish session end: %w", err)
	}
	e.log.Info("session ended", "session", ev.Session, "reason", reason, "at", at)
	return nil
}

func (e *Engine) setCur(s *session) {
	e.mu.Lock()
	e.cur = s
	e.mu.Unlock()
}

// commit stores ev as the next event of s, then folds it into s and puts the
// state in KV, in that order: the stream is the truth, the bucket a copy.
// It reports stored=false only when JetStream already held ev's id from
// another session (a sighting re-reported after its session ended): then
// the seq was not used and nothing changes.
//
// When the publish fails for any reason but bad data, ev may have been
// stored, so it is kept as pending and published again, same id, before
// anything else; JetStream stores it once either way.
func (e *Engine) commit(ctx context.Context, s *session, ev bus.Event) (stored bool, err error) {
	// Encode first: a payload that can never be stored must be an error, not
	// a pending event that blocks the session forever.
	if _, err := bus.Encode(ev); err != nil {
		if s == e.cur {
			e.pending = nil
		}
		return false, err
	}
	hold := func() {
		if s == e.cur {
			p := ev
			e.pending = &p
		}
	}
	dup, err := bus.Publish(ctx, e.cfg.JS, ev, e.log)
	if err != nil {
		hold()
		return false, err
	}
	if dup {
		ours, err := e.storedHere(ctx, ev)
		if err != nil {
			hold()
			return false, err
		}
		if !ours {
			if s == e.cur {
				e.pending = nil
			}
			e.log.Warn("event id already stored in another session; not played again",
				"event", ev.ID, "type", ev.Type, "session", ev.Session)
			return false, nil
		}
	}
	e.mu.Lock()
	s.st.Apply(ev)
	s.remember(ev)
	if s == e.cur {
		e.pending = nil
		if ev.Type == bus.TypeSessionEnded {
			e.cur, e.recent = nil, s.seen
		}
	}
	e.mu.Unlock()
	if e.observer != nil {
		e.observer(ev)
	}
	e.log.Debug("event stored", "session", ev.Session, "seq", ev.Seq, "type", ev.Type, "event", ev.ID)
	e.saveState(ctx, s.st)
	select {
	case e.wake <- struct{}{}:
	default:
	}
	return true, nil
}

// storedHere tells a retried publish of ev (stored by an attempt whose
// answer was lost) from an id JetStream remembers from another session.
// Nothing is published between the two, so if ev is stored in its session
// it is the last message of its subject.
func (e *Engine) storedHere(ctx context.Context, ev bus.Event) (bool, error) {
	st, err := e.streamLocked(ctx)
	if err != nil {
		return false, err
	}
	msg, err := st.GetLastMsgForSubject(ctx, bus.SessionSubject(ev.Session, ev.Type))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("check stored %s %s: %w", ev.Type, ev.ID, err)
	}
	got, err := bus.Decode(msg.Data)
	if err != nil {
		return false, fmt.Errorf("check stored %s %s: %w", ev.Type, ev.ID, err)
	}
	return got.ID == ev.ID, nil
}

func (e *Engine) streamLocked(ctx context.Context) (jetstream.Stream, error) {
	if e.st != nil {
		return e.st, nil
	}
	st, err := e.cfg.JS.Stream(ctx, e.stream)
	if err != nil {
		return nil, fmt.Errorf("open stream %s: %w", e.stream, err)
	}
	e.st = st
	return st, nil
}

// saveState puts st in KV. A failure is logged and retried later rather than
// returned: the event is already stored, and telling the caller it failed
// would only make it try again.
func (e *Engine) saveState(ctx context.Context, st bus.SessionState) {
	if err := bus.PutState(ctx, e.cfg.KV, st); err != nil {
		e.log.Warn("session state not saved; will retry", "session", st.ID, "seq", st.Seq, "err", err)
		e.unsaved = &st
		return
	}
	// A state of another session still waiting is left for the next try;
	// if that never comes, Start repairs it from the stream.
	if e.unsaved != nil && e.unsaved.ID == st.ID && e.unsaved.Seq <= st.Seq {
		e.unsaved = nil
	}
}

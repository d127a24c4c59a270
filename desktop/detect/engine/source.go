package engine

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pika-dj/pika/desktop/detect"
)

// Defaults of Config.
const (
	DefaultReadEvery   = detect.DefaultReadEvery
	DefaultRetry       = 2 * time.Second
	DefaultExpireAfter = 5 * time.Second
	// settle is how long a burst of state changes (a load sends the path,
	// the title, the artist… as separate messages) may take before the
	// decks are looked at: short enough to add nothing a DJ notices.
	settle = 20 * time.Millisecond
	// initialDump is how long after a unit's first connection the values
	// it sends count as already there before Pika! connected.
	initialDump = 2 * time.Second
)

// Config configures a Source. Zero fields take their defaults.
type Config struct {
	// Listen is the UDP address discovery listens on; "" = ":51337", the
	// port every StagelinQ unit announces to.
	Listen string
	Policy detect.Policy
	Logger *slog.Logger // nil = discard
	// Now is the clock the Decider runs on (default time.Now). Network
	// timeouts always use the real clock.
	Now func() time.Time
	// ReadEvery is how often the decks are looked at without a state
	// change (a deck waiting out MinAudible is looked at when it is due).
	ReadEvery time.Duration // default DefaultReadEvery
	// Retry is the pause before reconnecting to a unit that dropped.
	Retry time.Duration // default DefaultRetry
	// ExpireAfter is how long a unit may go unannounced before it counts
	// as gone (units announce every second).
	ExpireAfter time.Duration // default DefaultExpireAfter
	// AnnounceTo is where Pika! announces itself (units may ignore clients
	// they have not heard); nil = the broadcast address of every IPv4
	// interface.
	AnnounceTo func() []*net.UDPAddr

	onListen func(net.Addr) // tests: where discovery listens
}

// Source follows every Engine DJ unit on the network. It is a detect.Source.
type Source struct {
	cfg     Config
	log     *slog.Logger
	token   token
	running sync.Mutex
	changed chan struct{} // a unit's state changed; capacity 1
	// observed counts looks at the decks, so tests can wait for one.
	observed atomic.Int64

	mu      sync.Mutex
	units   map[token]*unit
	status  detect.Status
	listErr string // why discovery is not listening, "" when it is
}

// unit is one StagelinQ unit seen on the network. Guarded by Source.mu.
type unit struct {
	ann       announcement
	ip        net.IP
	lastSeen  time.Time          // last announcement, real clock
	cancel    context.CancelFunc // stops following it; nil when not followed
	gen       int                // counts follows, so a finished one cannot touch a newer one's state
	ignored   bool               // announced but offers no StateMap (Engine DJ desktop, lighting software)
	connected bool
	err       string // why the last connection failed, "" when connected
	// values is the unit's StateMap, reset at each connection.
	values map[string]value
	// loads is each deck's current load, kept across reconnections so the
	// same load keeps its ID.
	loads       [maxDecks + 1]load
	firstConnAt time.Time // Config.Now at the first connection in this Run
}

type load struct {
	key    string // loadKey
	loaded bool
	id     string
}

// New checks cfg and returns a Source; nothing listens until Run.
func New(cfg Config) (*Source, error) {
	if cfg.Listen == "" {
		cfg.Listen = fmt.Sprintf(":%d", discoveryPort)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.ReadEvery <= 0 {
		cfg.ReadEvery = DefaultReadEvery
	}
	if cfg.Retry <= 0 {
		cfg.Retry = DefaultRetry
	}
	if cfg.ExpireAfter <= 0 {
		cfg.ExpireAfter = DefaultExpireAfter
	}
	if cfg.AnnounceTo == nil {
		cfg.AnnounceTo = broadcastAddrs
	}
	s := &Source{cfg: cfg, log: cfg.Logger, changed: make(chan struct{}, 1), units: map[token]*unit{}}
	if _, err := rand.Read(s.token[:]); err != nil {
		return nil, fmt.Errorf("engine: make a StagelinQ token: %w", err)
	}
	// Units silently ignore a client whose token starts with a set high
	// bit (PyStageLinQ's protocol notes).
	s.token[0] &= 0x7f
	s.status = detect.Status{Source: ProductID, Path: "StagelinQ network (UDP port " + portOf(cfg.Listen) + ")"}
	return s, nil
}

func portOf(addr string) string {
	if _, port, err := net.SplitHostPort(addr); err == nil {
		return port
	}
	return addr
}

// Name is the product ID.
func (s *Source) Name() string { return ProductID }

// Status says which units are followed and what is wrong, for the DJ.
func (s *Source) Status() detect.Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.status.Copy()
	var seen, errs []string
	for _, u := range s.units {
		if u.ignored {
			continue
		}
		state := "connecting"
		switch {
		case u.cancel == nil:
			state = "gone"
		case u.connected:
			state = "connected"
		}
		seen = append(seen, fmt.Sprintf("%s at %s (%s)", u.ann.Name, u.ip, state))
		if u.err != "" && u.cancel != nil {
			errs = append(errs, u.err)
		}
	}
	slices.Sort(seen)
	slices.Sort(errs)
	st.File = "no Engine DJ player seen on the network yet"
	if len(seen) > 0 {
		st.File = strings.Join(seen, "; ")
	}
	if s.listErr != "" {
		errs = append([]string{s.listErr}, errs...)
	}
	if len(errs) > 0 && st.Err == "" {
		st.Err = strings.Join(errs, "; ")
	}
	return st
}

// Run follows units until ctx ends, handing each announced play to emit in
// order; a play emit refuses is offered again, before any later one. It
// returns nil when ctx ends, after every connection and goroutine it
// started has stopped.
func (s *Source) Run(ctx context.Context, emit func(context.Context, detect.Entry) error) error {
	if !s.running.TryLock() {
		return errors.New("engine: the source is already running")
	}
	defer s.running.Unlock()

	var wg sync.WaitGroup
	defer wg.Wait()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	wg.Go(func() { s.discover(ctx, &wg) })

	dec := detect.NewDecider(s.cfg.Policy)
	var pending []detect.Entry // announced, not yet accepted by emit
	tick := time.NewTimer(0)
	defer tick.Stop()
	settled := time.NewTimer(time.Hour)
	settled.Stop()
	defer settled.Stop()
	settling := false
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-s.changed:
			if !settling {
				settled.Reset(settle)
				settling = true
			}
			continue
		case <-settled.C:
			settling = false
		case <-tick.C:
		}

		now := s.cfg.Now()
		pending = append(pending, dec.Observe(now, s.decks())...)
		s.observed.Add(1)
		for len(pending) > 0 {
			e := pending[0]
			if err := emit(ctx, e); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				s.setErr(fmt.Sprintf("hand over %q: %v", e.Title, err))
				break
			}
			pending = pending[1:]
			s.mu.Lock()
			s.status.LastEntry, s.status.Err = &e, ""
			s.mu.Unlock()
		}
		next := s.cfg.ReadEvery
		if at, ok := dec.Pending(); ok {
			next = min(next, max(at.Sub(now), time.Millisecond))
		}
		if !tick.Stop() {
			select {
			case <-tick.C:
			default:
			}
		}
		tick.Reset(next)
	}
}

func (s *Source) setErr(msg string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status.Err = msg
}

// decks is every connected unit's decks now.
func (s *Source) decks() []detect.Deck {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []detect.Deck
	for _, u := range s.units {
		if !u.connected {
			continue
		}
		snap := snapshot{Values: u.values}
		for n := 1; n <= maxDecks; n++ {
			if u.loads[n].loaded {
				snap.Loads[n] = u.loads[n].id
			}
		}
		out = append(out, decks(snap)...)
	}
	return out
}

// apply records one StateMap value from follow gen of unit u.
func (s *Source) apply(u *unit, gen int, name string, raw map[string]any) {
	v, ok := parseValue(raw)
	now := s.cfg.Now()
	s.mu.Lock()
	if u.gen != gen {
		s.mu.Unlock()
		return
	}
	if ok {
		u.values[name] = v
	} else {
		delete(u.values, name)
	}
	for n := 1; n <= maxDecks; n++ {
		if strings.HasPrefix(name, deckPath(n, "Track/")) {
			s.noteLoad(u, n, now)
		}
	}
	s.status.LastReadAt = now
	s.mu.Unlock()
	select {
	case s.changed <- struct{}{}:
	default:
	}
}

// noteLoad starts a new load on deck n when the track changed or the deck
// was loaded again. Called with s.mu held.
func (s *Source) noteLoad(u *unit, n int, now time.Time) {
	snap := snapshot{Values: u.values}
	l := &u.loads[n]
	if v, ok := snap.get(deckPath(n, deckSongLoaded)); ok && !v.truth() {
		l.loaded = false // ejected
		return
	}
	// No path or title yet: the rest of the load's values are on their way.
	key := loadKey(snap, n)
	if key == "" || (l.loaded && l.key == key) {
		return
	}
	at := now
	if l.id == "" && now.Sub(u.firstConnAt) < initialDump {
		at = time.Time{} // on the deck before Pika! connected
	}
	*l = load{key: key, loaded: true, id: loadID(u.ann.Name+"/"+fmt.Sprintf("%x", u.ann.Token), n, key, at)}
}

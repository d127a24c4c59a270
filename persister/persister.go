// Package persister turns the DJs' JetStream streams into PostgreSQL rows.
// Each stream has a durable pull consumer; messages are fetched in batches,
// written in one transaction by a Writer that is idempotent by event id, and
// acknowledged only after that transaction commits. Whatever is not
// acknowledged — a batch in hand when PostgreSQL goes away, or when the
// process dies — is redelivered by JetStream, and the idempotent write makes
// the second delivery a no-op. So a row is never lost and never doubled.
//
// Goroutines: Run starts one consumer goroutine per stream (and, with
// discovery, a loop that starts more); all of them end when Run's context
// ends, and Run returns only after they have.
package persister

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/pika-dj/pika/bus"
)

// Writer stores a batch. WriteBatch must write all of it in one
// transaction or nothing, be idempotent by event and action id (a batch
// can be delivered again after a crash) and accept any order (a like can
// arrive before its play).
type Writer interface {
	WriteBatch(ctx context.Context, events []bus.Event, actions []bus.Action) error
}

// Stream name prefixes the persister understands: session events come from
// DJ_ streams, dancer actions from ACT_ streams (see bus.StreamName and
// bus.ActionsStreamName). In the cloud the same bodies are in the cloud's
// copies (package bus/cloud): CLOUD_DJ_ holds a DJ's session events,
// CLOUD_ACT_ the actions taken on the DJ's LAN and CLOUD_CROWD_ those taken
// through cloud gateways. A LAN action can reach PostgreSQL both through the
// DJ's own persister and through CLOUD_ACT_: the writes are idempotent by
// action id, so it is one row.
const (
	EventsPrefix       = "DJ_"
	ActionsPrefix      = "ACT_"
	CloudEventsPrefix  = "CLOUD_DJ_"
	CloudActionsPrefix = "CLOUD_ACT_"
	CloudCrowdPrefix   = "CLOUD_CROWD_"
)

// Defaults for Config's zero values.
const (
	DefaultDurable     = "persister"
	DefaultBatch       = 500
	DefaultMaxWait     = 200 * time.Millisecond
	DefaultAckWait     = 10 * time.Second
	DefaultDiscover    = 5 * time.Second // a DJ's first night in the cloud waits at most this for its rows; one STREAM.NAMES request
	DefaultWriteTimout = 15 * time.Second
)

// Backoff between failed attempts (a write while PostgreSQL is down, a fetch
// while NATS is away): doubled each time, jittered, capped.
const (
	minBackoff = 100 * time.Millisecond
	maxBackoff = 5 * time.Second
)

// Config says what to persist. The zero value of each field is its
// documented default; JS and Store are required.
type Config struct {
	// JS is the JetStream the streams live in.
	JS jetstream.JetStream
	// Store writes batches; pgstore.Store in production.
	Store Writer
	// Streams to consume. Empty means every stream whose name starts with
	// one of the prefixes above, rediscovered every Discover.
	Streams []string
	// Durable is the consumers' durable name; default "persister". Two
	// persisters with the same name share the work; a new name starts
	// from the beginning of every stream.
	Durable string
	// Batch is the most messages written in one transaction; default 500.
	Batch int
	// MaxWait is how long a fetch waits to fill a batch before the partial
	// batch is written; default 200 ms.
	MaxWait time.Duration
	// AckWait is the consumers' redelivery timer; default 10 s. A batch held
	// longer (PostgreSQL down) is kept alive with InProgress, so AckWait
	// only bounds how soon a dead persister's batch goes to the next one.
	AckWait time.Duration
	// Discover is how often streams are rediscovered when Streams is
	// empty; default 30 s.
	Discover time.Duration
	// WriteTimeout bounds one write attempt; default 15 s.
	WriteTimeout time.Duration
	// Logger receives state changes (not every retry); nil discards.
	Logger *slog.Logger
	// Metrics, if set, is where the persister's metrics are registered.
	Metrics prometheus.Registerer
}

// Persister consumes streams into a Writer. Create it with New.
type Persister struct {
	cfg Config
	log *slog.Logger
	m   *metrics
	// store is the Writer's state, shared by every stream's consumer so an
	// outage is logged once, not once per stream.
	store health
}

// New checks cfg, applies its defaults and registers the metrics.
func New(cfg Config) (*Persister, error) {
	if cfg.JS == nil {
		return nil, errors.New("persister: no JetStream")
	}
	if cfg.Store == nil {
		return nil, errors.New("persister: no store")
	}
	for _, s := range cfg.Streams {
		if kindOf(s) == kindNone {
			return nil, fmt.Errorf("persister: stream %q: name must start with %s or %s (events), or %s, %s or %s (actions)",
				s, EventsPrefix, CloudEventsPrefix, ActionsPrefix, CloudActionsPrefix, CloudCrowdPrefix)
		}
	}
	if cfg.Durable == "" {
		cfg.Durable = DefaultDurable
	}
	if strings.ContainsAny(cfg.Durable, ".*> \t") {
		return nil, fmt.Errorf("persister: durable name %q: no dots, wildcards or spaces", cfg.Durable)
	}
	if cfg.Batch <= 0 {
		cfg.Batch = DefaultBatch
	}
	if cfg.MaxWait <= 0 {
		cfg.MaxWait = DefaultMaxWait
	}
	if cfg.AckWait <= 0 {
		cfg.AckWait = DefaultAckWait
	}
	if cfg.Discover <= 0 {
		cfg.Discover = DefaultDiscover
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = DefaultWriteTimout
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m := newMetrics()
	if cfg.Metrics != nil {
		if err := m.register(cfg.Metrics); err != nil {
			return nil, fmt.Errorf("persister: register metrics: %w", err)
		}
	}
	return &Persister{cfg: cfg, log: log, m: m}, nil
}

// Run consumes until ctx ends, then stops fetching, finishes or abandons
// (unacknowledged, so redelivered later) the batch in hand, and returns
// nil. It returns an error only if it cannot start.
func (p *Persister) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	started := map[string]bool{}
	// done carries the names of consumers that ended on their own (their
	// stream was deleted), so discovery can start them again if it returns.
	done := make(chan string, 16)
	start := func(stream string) {
		if started[stream] {
			return
		}
		started[stream] = true
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.consume(ctx, stream)
			select {
			case done <- stream:
			case <-ctx.Done():
			}
		}()
	}
	if len(p.cfg.Streams) > 0 {
		for _, s := range p.cfg.Streams {
			start(s)
		}
		<-ctx.Done()
		return nil
	}

	tick := time.NewTicker(p.cfg.Discover)
	defer tick.Stop()
	discoverFailing := false
	for {
		names, err := p.discover(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			p.m.errors.WithLabelValues(errDiscover).Inc()
			if !discoverFailing {
				p.log.Warn("cannot list streams; trying again", "every", p.cfg.Discover, "err", err)
			}
			discoverFailing = true
		case err == nil:
			if discoverFailing {
				p.log.Info("listing streams works again")
			}
			discoverFailing = false
			for _, n := range names {
				if !started[n] {
					p.log.Info("persisting stream", "stream", n)
				}
				start(n)
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case s := <-done:
			delete(started, s)
		case <-tick.C:
		}
	}
}

// discover lists the streams the persister understands.
func (p *Persister) discover(ctx context.Context) ([]string, error) {
	lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	lister := p.cfg.JS.StreamNames(lctx)
	var out []string
	for n := range lister.Name() {
		if kindOf(n) != kindNone {
			out = append(out, n)
		}
	}
	if err := lister.Err(); err != nil {
		return nil, fmt.Errorf("persister: list streams: %w", err)
	}
	return out, nil
}

type kind int

const (
	kindNone kind = iota
	kindEvents
	kindActions
)

// Understands reports whether the persister knows what stream holds by its
// name: one of the prefixes above followed by a DJ id (not checked here:
// any non-empty rest).
func Understands(stream string) bool { return kindOf(stream) != kindNone }

func kindOf(stream string) kind {
	has := func(prefix string) bool { return strings.HasPrefix(stream, prefix) && len(stream) > len(prefix) }
	switch {
	case has(EventsPrefix), has(CloudEventsPrefix):
		return kindEvents
	case has(ActionsPrefix), has(CloudActionsPrefix), has(CloudCrowdPrefix):
		return kindActions
	}
	return kindNone
}

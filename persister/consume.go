package persister

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/pika-dj/pika/bus"
)

// consume runs one stream's consumer until ctx ends, or until its stream
// is gone in discovery mode. Failures are retried forever: JetStream keeps
// the backlog, so waiting costs nothing but lag.
func (p *Persister) consume(ctx context.Context, stream string) {
	log := p.log.With("stream", stream)
	k := kindOf(stream)
	var (
		cons jetstream.Consumer
		nats health // fetching and creating the consumer
		wait backoff
	)
	for ctx.Err() == nil {
		if cons == nil {
			c, err := p.ensureConsumer(ctx, stream)
			if err != nil {
				if errors.Is(err, jetstream.ErrStreamNotFound) && len(p.cfg.Streams) == 0 {
					log.Info("stream is gone; no longer persisting it")
					return
				}
				if ctx.Err() != nil {
					return
				}
				p.m.errors.WithLabelValues(errConsumer).Inc()
				nats.fail(log, "cannot create the durable consumer; retrying", err)
				sleep(ctx, wait.next())
				continue
			}
			cons = c
			p.m.lag.WithLabelValues(stream).Set(float64(c.CachedInfo().NumPending))
		}
		msgs, err := p.fetch(cons)
		if err != nil {
			p.m.errors.WithLabelValues(errFetch).Inc()
			nats.fail(log, "cannot fetch from JetStream; retrying", err)
			if errors.Is(err, jetstream.ErrConsumerDeleted) || errors.Is(err, jetstream.ErrConsumerNotFound) {
				cons = nil // made again on the next turn
			}
			if len(msgs) == 0 {
				sleep(ctx, wait.next())
				continue
			}
			// The messages that did arrive are delivered and pending: write them.
		} else {
			nats.ok(log, "fetching from JetStream works again")
			wait.reset()
		}
		if len(msgs) == 0 {
			p.m.lag.WithLabelValues(stream).Set(0)
			continue
		}
		p.handle(ctx, log, stream, k, msgs)
	}
}

// ensureConsumer creates or updates the stream's durable consumer.
func (p *Persister) ensureConsumer(ctx context.Context, stream string) (jetstream.Consumer, error) {
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	cons, err := p.cfg.JS.CreateOrUpdateConsumer(cctx, stream, jetstream.ConsumerConfig{
		Durable:       p.cfg.Durable,
		Description:   "Pika! persister: writes this stream to PostgreSQL",
		AckPolicy:     jetstream.AckExplicitPolicy,
		DeliverPolicy: jetstream.DeliverAllPolicy,
		AckWait:       p.cfg.AckWait,
		// One batch is in hand at a time; room for two more lets a fetch
		// that raced a redelivery still be served.
		MaxAckPending: 4 * p.cfg.Batch,
		MaxDeliver:    -1, // never give up on a message: it is a row someone expects
	})
	if err != nil {
		return nil, fmt.Errorf("persister: consumer %s on %s: %w", p.cfg.Durable, stream, err)
	}
	return cons, nil
}

// fetch takes up to Batch messages, waiting at most MaxWait for a batch to
// fill. Messages that arrived before an error are returned with it.
func (p *Persister) fetch(cons jetstream.Consumer) ([]jetstream.Msg, error) {
	batch, err := cons.Fetch(p.cfg.Batch, jetstream.FetchMaxWait(p.cfg.MaxWait))
	if err != nil {
		return nil, fmt.Errorf("persister: fetch: %w", err)
	}
	msgs := make([]jetstream.Msg, 0, p.cfg.Batch)
	for m := range batch.Messages() {
		msgs = append(msgs, m)
	}
	if err := batch.Error(); err != nil {
		return msgs, fmt.Errorf("persister: fetch: %w", err)
	}
	return msgs, nil
}

// handle decodes, writes and acknowledges one batch. If ctx ends while the
// write is being retried, the batch is abandoned unacknowledged: JetStream
// redelivers it to the next run.
func (p *Persister) handle(ctx context.Context, log *slog.Logger, stream string, k kind, msgs []jetstream.Msg) {
	var (
		events  []bus.Event
		actions []bus.Action
	)
	for _, m := range msgs {
		var err error
		switch k {
		case kindEvents:
			var e bus.Event
			if e, err = bus.Decode(m.Data()); err == nil {
				events = append(events, e)
			}
		case kindActions:
			// One action, or a gateway's batch: every valid one is written
			// even when another in the batch is not.
			var as []bus.Action
			as, err = bus.DecodeActions(m.Data())
			actions = append(actions, as...)
		}
		if err != nil {
			// It can never be written, so retrying would block the stream
			// forever; it stays in the stream for whoever fixes the cause.
			p.m.errors.WithLabelValues(errDecode).Inc()
			var seq uint64
			if md, merr := m.Metadata(); merr == nil {
				seq = md.Sequence.Stream
			}
			log.Warn("skipping a stored message that is not valid", "subject", m.Subject(), "stream_seq", seq, "err", err)
		}
	}

	if len(events)+len(actions) > 0 {
		stop := p.keepAlive(msgs)
		err := p.write(ctx, log, events, actions)
		stop()
		if err != nil {
			log.Info("stopping with a batch unwritten; JetStream redelivers it to the next run", "messages", len(msgs))
			return
		}
	}
	p.ack(ctx, log, msgs)

	p.m.batch.Observe(float64(len(msgs)))
	p.m.rows.WithLabelValues("event").Add(float64(len(events)))
	p.m.rows.WithLabelValues("action").Add(float64(len(actions)))
	if md, err := msgs[len(msgs)-1].Metadata(); err == nil {
		p.m.lag.WithLabelValues(stream).Set(float64(md.NumPending))
	}
}

// write stores a batch, retrying with backoff until it commits or ctx
// ends. An attempt already under way when ctx ends is allowed to finish
// (up to WriteTimeout), so a graceful stop writes the batch in hand.
func (p *Persister) write(ctx context.Context, log *slog.Logger, events []bus.Event, actions []bus.Action) error {
	var wait backoff
	for {
		wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), p.cfg.WriteTimeout)
		began := time.Now()
		err := p.cfg.Store.WriteBatch(wctx, events, actions)
		cancel()
		if err == nil {
			p.m.latency.Observe(time.Since(began).Seconds())
			p.store.ok(p.log, "writing to the store works again")
			return nil
		}
		p.m.errors.WithLabelValues(errWrite).Inc()
		p.store.fail(p.log, "cannot write to the store; keeping the batch unacknowledged and retrying", err)
		log.Debug("write attempt failed", "events", len(events), "actions", len(actions), "err", err)
		if !sleep(ctx, wait.next()) {
			return ctx.Err()
		}
	}
}

// keepAlive tells JetStream, every third of AckWait, that the batch is
// still being worked on, so a long outage does not redeliver it to another
// persister while this one still holds it. The returned func stops it and
// waits for it.
func (p *Persister) keepAlive(msgs []jetstream.Msg) (stop func()) {
	quit := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(p.cfg.AckWait / 3)
		defer t.Stop()
		for {
			select {
			case <-quit:
				return
			case <-t.C:
				for _, m := range msgs {
					_ = m.InProgress() // a lost one only means an early redelivery, written again as a no-op
				}
			}
		}
	}()
	return func() { close(quit); wg.Wait() }
}

// ack acknowledges every message of a written batch. The last one waits
// for JetStream's reply: acks travel in order on one connection, so when it
// is confirmed all are. A lost ack only means a redelivery, which the
// idempotent store ignores.
func (p *Persister) ack(ctx context.Context, log *slog.Logger, msgs []jetstream.Msg) {
	last := len(msgs) - 1
	for _, m := range msgs[:last] {
		if err := m.Ack(); err != nil {
			p.m.errors.WithLabelValues(errAck).Inc()
			log.Debug("ack failed; the message will be redelivered and rewritten as a no-op", "err", err)
		}
	}
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := msgs[last].DoubleAck(actx); err != nil {
		p.m.errors.WithLabelValues(errAck).Inc()
		log.Debug("ack failed; the batch will be redelivered and rewritten as a no-op", "err", err)
	}
}

// health logs a part's changes of state, not each failure: an hour-long
// outage is two lines, not thousands.
type health struct {
	mu sync.Mutex
	// failing, since and failures are guarded by mu.
	failing  bool
	since    time.Time
	failures int
}

func (h *health) fail(log *slog.Logger, msg string, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.failures++
	if !h.failing {
		h.failing, h.since = true, time.Now()
		log.Warn(msg, "err", err)
	}
}

func (h *health) ok(log *slog.Logger, msg string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.failing {
		log.Info(msg, "down_for", time.Since(h.since).Round(time.Millisecond), "failed_attempts", h.failures)
	}
	h.failing, h.failures = false, 0
}

// backoff is an exponential delay from minBackoff to maxBackoff with
// jitter, so many persisters do not retry in step. The zero value starts
// at minBackoff.
type backoff struct{ d time.Duration }

func (b *backoff) next() time.Duration {
	if b.d == 0 {
		b.d = minBackoff
	}
	d := b.d
	b.d = min(2*b.d, maxBackoff)
	return d/2 + rand.N(d/2+1)
}

func (b *backoff) reset() { b.d = 0 }

// sleep waits d or until ctx ends; it reports whether ctx is still live.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

package gateway

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// follower is one ordered consumer of a feed: what it reads, what it does
// with each message, and the last stream sequence it handed over.
//
// nats.go's ordered consumer recreates itself after a missed heartbeat or
// a reconnect, but when the NATS node it was on is killed during a leader
// election it was seen (TestCloudEndToEnd/nats-kill, 2 runs of 7) to stop
// for good: the stream went on, the feed did not. So each loaded feed has
// a watch (watchFeed) that compares what its followers handed over with
// what their streams hold, and restarts a follower that is behind and has
// not moved for two checks, from the sequence after the last it handled.
// Handlers tolerate redelivery (events by sequence, actions by id), so an
// overlap is harmless.
type follower struct {
	stream, filter string
	handle         func(data []byte, subject string)

	mu        sync.Mutex
	cc        jetstream.ConsumeContext
	delivered uint64 // the last stream sequence handled
	seen      uint64 // delivered at the previous check
	stalled   int    // checks in a row with the stream ahead and no progress
	restarts  int
}

// handled records a message's stream sequence.
func (fl *follower) handled(seq uint64) {
	fl.mu.Lock()
	fl.delivered = max(fl.delivered, seq)
	fl.mu.Unlock()
}

func (fl *follower) stop() {
	fl.mu.Lock()
	cc := fl.cc
	fl.cc = nil
	fl.mu.Unlock()
	if cc != nil {
		cc.Stop()
	}
}

// followExpiry is each pull's expiry on a feed's ordered consumers; their
// heartbeat is half of it.
const followExpiry = 4 * time.Second

// watchEvery is how often a feed checks its followers; a follower behind
// and stuck for two checks is restarted, so a stalled feed resumes within
// about 10–15 s.
const watchEvery = 5 * time.Second

// watchFeed checks f's followers every watchEvery until ctx ends.
func (h *hub) watchFeed(ctx context.Context, f *feed) {
	every := h.watchEvery
	if every <= 0 {
		every = watchEvery
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		f.mu.Lock()
		fls := append([]*follower(nil), f.followers...)
		f.mu.Unlock()
		for _, fl := range fls {
			if err := h.check(ctx, f, fl); err != nil && ctx.Err() == nil {
				h.log.Debug("session consumer check", "session", f.sid, "stream", fl.stream, "err", err)
			}
		}
	}
}

// check restarts fl if its stream holds messages it has not handled and it
// has made no progress since the last two checks.
func (h *hub) check(ctx context.Context, f *feed, fl *follower) error {
	actx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	st, err := h.js.Stream(actx, fl.stream)
	if err != nil {
		return err
	}
	last, err := st.GetLastMsgForSubject(actx, fl.filter)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	fl.mu.Lock()
	behind := last.Sequence > fl.delivered
	moved := fl.delivered != fl.seen
	fl.seen = fl.delivered
	if !behind || moved {
		fl.stalled = 0
		fl.mu.Unlock()
		return nil
	}
	fl.stalled++
	from := fl.delivered + 1
	stalled := fl.stalled
	fl.mu.Unlock()
	if stalled < 2 {
		return nil
	}
	h.log.Warn("session consumer stalled behind its stream; restarting it", "session", f.sid, "stream", fl.stream,
		"handled", from-1, "stored", last.Sequence)
	fl.stop()
	if err := h.consume(ctx, f, fl, st, from); err != nil {
		return fmt.Errorf("restart: %w", err)
	}
	fl.mu.Lock()
	fl.stalled = 0
	fl.restarts++
	fl.mu.Unlock()
	return nil
}

// consume starts fl's ordered consumer from stream sequence from (0: the
// first message of its filter).
func (h *hub) consume(ctx context.Context, f *feed, fl *follower, st jetstream.Stream, from uint64) error {
	cfg := jetstream.OrderedConsumerConfig{FilterSubjects: []string{fl.filter}, DeliverPolicy: jetstream.DeliverAllPolicy}
	if from > 0 {
		cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, from
	}
	cons, err := st.OrderedConsumer(ctx, cfg)
	if err != nil {
		return fmt.Errorf("gateway: follow %s in %s: %w", fl.filter, fl.stream, err)
	}
	cc, err := cons.Consume(func(msg jetstream.Msg) {
		meta, err := msg.Metadata()
		if err != nil {
			h.log.Error("message without metadata", "session", f.sid, "stream", fl.stream, "err", err)
			return
		}
		fl.handled(meta.Sequence.Stream)
		fl.handle(msg.Data(), msg.Subject())
	}, jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
		h.log.Warn("session consumer", "session", f.sid, "stream", fl.stream, "err", err)
	}),
		// Pulls of 4 s carry 2 s heartbeats: a consumer lost with its node
		// is noticed and recreated in about 4 s, not the default 10 s.
		jetstream.PullExpiry(followExpiry))
	if err != nil {
		return fmt.Errorf("gateway: consume %s in %s: %w", fl.filter, fl.stream, err)
	}
	fl.mu.Lock()
	fl.cc = cc
	fl.mu.Unlock()
	return nil
}

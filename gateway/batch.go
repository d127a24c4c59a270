package gateway

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/pika-dj/pika/bus"
)

// actionStore stores one session's dancer actions with group commit. The
// DJ's server syncs every stored message to disk before it acknowledges
// it, once per message, so one message per action runs at the disk's sync
// rate (about 5,000 a second here: bus/natsserver's BenchmarkActionStore)
// however many dancers tap at once. Instead, while one message waits for
// its sync, the actions that arrive meanwhile gather and go out together
// as the next one (bus.PublishActions): a quiet floor still stores each
// action alone and at once, a busy one stores dozens per sync.
type actionStore struct {
	sid     string
	at      actionSubjects
	js      jetstream.JetStream
	log     *slog.Logger
	timeout time.Duration // bounds one message's store
	in      chan *storing
	done    chan struct{} // closed when run returns
}

// storing is one action waiting to be stored.
type storing struct {
	a      bus.Action
	result chan storeResult // buffered: run never waits for the asker
}

type storeResult struct {
	duplicate bool
	err       error
}

// errStoreStopped: the session's feed was stopped while an action waited.
var errStoreStopped = errors.New("gateway: the session's action store stopped")

// actionSubjects are where one session's actions are stored: the DJ's
// pika.a.<sid>.… on the LAN, pika.crowd.<dj>.a.<sid>.… in the cloud.
type actionSubjects struct {
	one   func(bus.ActionKind) string
	batch string
}

// lanActionSubjects are the DJ's own: bus.ActionSubject and
// bus.ActionBatchSubject, as bus.PublishAction and bus.PublishActions use.
func lanActionSubjects(sid string) actionSubjects {
	return actionSubjects{
		one:   func(k bus.ActionKind) string { return bus.ActionSubject(sid, k) },
		batch: bus.ActionBatchSubject(sid),
	}
}

// newActionStore stores on the LAN's subjects.
func newActionStore(sid string, js jetstream.JetStream, timeout time.Duration, log *slog.Logger) *actionStore {
	return newActionStoreAt(sid, lanActionSubjects(sid), js, timeout, log)
}

func newActionStoreAt(sid string, at actionSubjects, js jetstream.JetStream, timeout time.Duration, log *slog.Logger) *actionStore {
	return &actionStore{sid: sid, at: at, js: js, log: log, timeout: timeout,
		in: make(chan *storing, bus.MaxActionsPerBatch), done: make(chan struct{})}
}

// store stores a and reports whether it was already stored, waiting at
// most until ctx ends. An action whose wait ended may still be stored
// later; the dancer's retry is then answered as a duplicate.
func (s *actionStore) store(ctx context.Context, a bus.Action) (duplicate bool, err error) {
	it := &storing{a: a, result: make(chan storeResult, 1)}
	select {
	case s.in <- it:
	case <-s.done:
		return false, errStoreStopped
	case <-ctx.Done():
		return false, ctx.Err()
	}
	select {
	case r := <-it.result:
		return r.duplicate, r.err
	case <-s.done:
		return false, errStoreStopped
	case <-ctx.Done():
		return false, ctx.Err()
	}
}

// run stores what arrives until ctx ends: it takes the first waiting
// action, then every other one already waiting (up to a batch's limits),
// and stores them as one message.
func (s *actionStore) run(ctx context.Context) {
	defer close(s.done)
	var carry *storing
	for {
		first := carry
		carry = nil
		if first == nil {
			select {
			case <-ctx.Done():
				return
			case first = <-s.in:
			}
		}
		group := []*storing{first}
		size := approxActionBytes
	gather:
		for len(group) < bus.MaxActionsPerBatch {
			select {
			case it := <-s.in:
				if size+approxActionBytes > bus.MaxActionBatchBytes {
					carry = it
					break gather
				}
				group = append(group, it)
				size += approxActionBytes
			default:
				break gather
			}
		}
		s.publish(ctx, group)
	}
}

// approxActionBytes is a generous bound on one encoded action (ids, a
// client id, a time, a poll option): what decides how many fit a message.
const approxActionBytes = 400

func (s *actionStore) publish(ctx context.Context, group []*storing) {
	pctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	var r storeResult
	if len(group) == 1 {
		r.duplicate, r.err = bus.PublishActionTo(pctx, s.js, s.at.one(group[0].a.Kind), group[0].a, s.log)
	} else {
		actions := make([]bus.Action, len(group))
		for i, it := range group {
			actions[i] = it.a
		}
		r.duplicate, r.err = bus.PublishActionsTo(pctx, s.js, s.at.batch, s.sid, actions, s.log)
	}
	for _, it := range group {
		it.result <- r
	}
}

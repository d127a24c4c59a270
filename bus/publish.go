package bus

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// HeaderOriginTime carries the event's origin time on every message, so
// tools that never parse the body (and cloud sourcing) can still see it.
const HeaderOriginTime = "Pika-Origin-Time"

// Publish stores one event, using its ID as the JetStream message id. On any
// error it retries with the same id until ctx ends, because a timeout does
// not mean the event was not stored: JetStream answers the retry with
// "duplicate" and nothing is stored twice. It reports whether the event was
// already stored.
func Publish(ctx context.Context, js jetstream.JetStream, e Event, log *slog.Logger) (duplicate bool, err error) {
	data, err := Encode(e)
	if err != nil {
		return false, err
	}
	msg := nats.NewMsg(SessionSubject(e.Session, e.Type))
	msg.Data = data
	msg.Header.Set(jetstream.MsgIDHeader, e.ID)
	msg.Header.Set(HeaderOriginTime, e.At.UTC().Format(time.RFC3339Nano))
	return publishRetrying(ctx, js, msg, string(e.Type), e.ID, log)
}

// PublishAction stores one dancer action the same way: its ID is the
// message id, and a retry reuses it.
func PublishAction(ctx context.Context, js jetstream.JetStream, a Action, log *slog.Logger) (duplicate bool, err error) {
	return PublishActionTo(ctx, js, ActionSubject(a.Session, a.Kind), a, log)
}

// PublishActionTo is PublishAction on another subject: the cloud stores
// actions made through its gateways under the DJ's id (bus/cloud).
func PublishActionTo(ctx context.Context, js jetstream.JetStream, subject string, a Action, log *slog.Logger) (duplicate bool, err error) {
	if err := a.Validate(); err != nil {
		return false, err
	}
	data, err := json.Marshal(a)
	if err != nil {
		return false, fmt.Errorf("bus: marshal action %s: %w", a.ID, err)
	}
	msg := nats.NewMsg(subject)
	msg.Data = data
	msg.Header.Set(jetstream.MsgIDHeader, a.ID)
	msg.Header.Set(HeaderOriginTime, a.At.UTC().Format(time.RFC3339Nano))
	return publishRetrying(ctx, js, msg, string(a.Kind), a.ID, log)
}

// PublishActions stores several actions of one session as one message,
// so the DJ's server syncs once for all of them. The message id is derived from
// the actions' ids, so a retry is stored once; an action sent again later
// in another batch is stored twice, and every reader folds it once by its
// id. duplicate reports the whole batch was already stored.
func PublishActions(ctx context.Context, js jetstream.JetStream, sid string, actions []Action, log *slog.Logger) (duplicate bool, err error) {
	return PublishActionsTo(ctx, js, ActionBatchSubject(sid), sid, actions, log)
}

// PublishActionsTo is PublishActions on another subject: a cloud gateway
// stores its group commits on the DJ's crowd subjects (bus/cloud's
// CrowdActionBatchSubject). The body, message id and retry rule are
// PublishActions': a retry carries the same id and is stored once.
func PublishActionsTo(ctx context.Context, js jetstream.JetStream, subject, sid string, actions []Action, log *slog.Logger) (duplicate bool, err error) {
	if len(actions) == 0 || len(actions) > MaxActionsPerBatch {
		return false, invalid("action batch of %d actions", len(actions))
	}
	h := sha256.New()
	var buf bytes.Buffer
	buf.WriteByte('[')
	oldest := actions[0].At
	for i, a := range actions {
		if a.Session != sid {
			return false, invalid("action %s of session %s in a batch of %s", a.ID, a.Session, sid)
		}
		if err := a.Validate(); err != nil {
			return false, err
		}
		data, err := json.Marshal(a)
		if err != nil {
			return false, fmt.Errorf("bus: marshal action %s: %w", a.ID, err)
		}
		if i > 0 {
			buf.WriteByte(',')
		}
		buf.Write(data)
		h.Write([]byte(a.ID))
		if a.At.Before(oldest) {
			oldest = a.At
		}
	}
	buf.WriteByte(']')
	if buf.Len() > MaxActionBatchBytes {
		return false, invalid("action batch of %d bytes", buf.Len())
	}
	id := "batch-" + hex.EncodeToString(h.Sum(nil))[:32]
	msg := nats.NewMsg(subject)
	msg.Data = buf.Bytes()
	msg.Header.Set(jetstream.MsgIDHeader, id)
	msg.Header.Set(HeaderOriginTime, oldest.UTC().Format(time.RFC3339Nano))
	return publishRetrying(ctx, js, msg, "action batch", id, log)
}

func publishRetrying(ctx context.Context, js jetstream.JetStream, msg *nats.Msg, what, id string, log *slog.Logger) (bool, error) {
	backoff := 50 * time.Millisecond
	for attempt := 1; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, 5*time.Second)
		ack, err := js.PublishMsg(actx, msg)
		cancel()
		if err == nil {
			return ack.Duplicate, nil
		}
		if ctx.Err() != nil {
			return false, fmt.Errorf("bus: publish %s %s: gave up after %d attempts: %w", what, id, attempt, err)
		}
		if log != nil {
			log.Warn("publish failed, retrying with the same id", "id", id, "what", what, "attempt", attempt, "err", err)
		}
		select {
		case <-ctx.Done():
			return false, fmt.Errorf("bus: publish %s %s: %w", what, id, ctx.Err())
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 2*time.Second)
	}
}

// PutState stores a session's state in the sessions bucket.
func PutState(ctx context.Context, kv jetstream.KeyValue, s SessionState) error {
	b, err := json.Marshal(s)
	if err != nil {
		return fmt.Errorf("bus: marshal state of %s: %w", s.ID, err)
	}
	if _, err := kv.Put(ctx, s.ID, b); err != nil {
		return fmt.Errorf("bus: put state of %s: %w", s.ID, err)
	}
	return nil
}

// GetState reads a session's state; found is false if there is none.
func GetState(ctx context.Context, kv jetstream.KeyValue, sid string) (s SessionState, found bool, err error) {
	if !ValidID(sid) {
		return s, false, nil
	}
	entry, err := kv.Get(ctx, sid)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return s, false, nil
	}
	if err != nil {
		return s, false, fmt.Errorf("bus: get state of %s: %w", sid, err)
	}
	if err := json.Unmarshal(entry.Value(), &s); err != nil {
		return s, false, fmt.Errorf("bus: decode state of %s: %w", sid, err)
	}
	return s, true, nil
}

// ListStates returns the state of every session in the bucket.
func ListStates(ctx context.Context, kv jetstream.KeyValue) ([]SessionState, error) {
	lister, err := kv.ListKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("bus: list sessions: %w", err)
	}
	defer lister.Stop()
	var out []SessionState
	for key := range lister.Keys() {
		s, found, err := GetState(ctx, kv, key)
		if err != nil {
			return nil, err
		}
		if found {
			out = append(out, s)
		}
	}
	return out, nil
}

// ReadSession calls fn for every stored event of one session, oldest first,
// and returns when it has seen all that were stored when it started.
func ReadSession(ctx context.Context, js jetstream.JetStream, stream, sid string, fn func(Event) error) error {
	cons, err := js.OrderedConsumer(ctx, stream, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{SessionFilter(sid)},
		DeliverPolicy:  jetstream.DeliverAllPolicy,
	})
	if err != nil {
		return fmt.Errorf("bus: read session %s: %w", sid, err)
	}
	for {
		batch, err := cons.FetchNoWait(256)
		if err != nil {
			return fmt.Errorf("bus: read session %s: %w", sid, err)
		}
		n := 0
		for msg := range batch.Messages() {
			n++
			e, err := Decode(msg.Data())
			if err != nil {
				return fmt.Errorf("bus: read session %s: stored message on %s: %w", sid, msg.Subject(), err)
			}
			if err := fn(e); err != nil {
				return err
			}
		}
		if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) {
			return fmt.Errorf("bus: read session %s: %w", sid, err)
		}
		if n == 0 {
			return nil
		}
	}
}

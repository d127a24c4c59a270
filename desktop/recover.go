package desktop

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/pika-dj/pika/bus"
)

// recoverLocked finds this DJ's sessions that are not ended, rebuilds each
// from the stream, continues the newest if it is still within Idle, and
// ends the others by idle expiry.
//
// Candidates come from the KV bucket, plus the session of the stream's very
// last message: a crash between publishing a session's first event and its
// first PutState leaves a session the bucket has never heard of, and since
// this engine is the only writer, only the newest session can be in that
// state. Each candidate's state is then folded from the stream, never taken
// from the bucket, which can lag by one event.
func (e *Engine) recoverLocked(ctx context.Context) error {
	st, err := e.streamLocked(ctx)
	if err != nil {
		return fmt.Errorf("desktop: recover: %w", err)
	}
	states, err := bus.ListStates(ctx, e.cfg.KV)
	if err != nil {
		return fmt.Errorf("desktop: recover: %w", err)
	}
	kvState := make(map[string]bus.SessionState)
	for _, s := range states {
		if s.DJ == e.cfg.DJ && s.EndedAt == nil {
			kvState[s.ID] = s
		}
	}
	last, err := st.GetLastMsgForSubject(ctx, bus.AllSessions)
	switch {
	case errors.Is(err, jetstream.ErrMsgNotFound):
		// An empty stream: nothing to recover from it.
	case err != nil:
		return fmt.Errorf("desktop: recover: read the last event: %w", err)
	default:
		sid := bus.SessionOfSubject(last.Subject)
		if _, ok := kvState[sid]; !ok && bus.ValidID(sid) && last.Subject != bus.SessionSubject(sid, bus.TypeSessionEnded) {
			kvState[sid] = bus.SessionState{}
		}
	}

	var live []*session
	for sid, kv := range kvState {
		s, err := e.rebuild(ctx, sid)
		if err != nil {
			return err
		}
		if s.st.Seq < kv.Seq {
			// The stream lost events the bucket saw (a purge, or MaxAge): the
			// bucket is the best record left, and seq must not go backwards.
			e.log.Warn("stream is behind the saved state; continuing from the saved state",
				"session", sid, "streamSeq", s.st.Seq, "savedSeq", kv.Seq)
			s.st = kv
		}
		if s.st.Seq == 0 {
			continue
		}
		if s.st.Seq != kv.Seq || s.st.EndedAt != nil {
			// The bucket lagged (a crash after publish, before PutState).
			if err := bus.PutState(ctx, e.cfg.KV, s.st); err != nil {
				return fmt.Errorf("desktop: recover: %w", err)
			}
		}
		if s.st.EndedAt == nil {
			live = append(live, s)
		}
	}

	// Newest first; ids are ULIDs of the start time, so they break ties.
	sort.Slice(live, func(i, j int) bool {
		a, b := live[i].st, live[j].st
		if !a.LastActivityAt.Equal(b.LastActivityAt) {
			return a.LastActivityAt.After(b.LastActivityAt)
		}
		return a.ID > b.ID
	})
	now := e.now()
	for i, s := range live {
		if i == 0 && now.Sub(s.st.LastActivityAt) < e.cfg.Idle {
			e.setCur(s)
			e.log.Info("session continues", "session", s.st.ID, "seq", s.st.Seq, "plays", s.st.Plays)
			continue
		}
		if err := e.endLocked(ctx, s, bus.EndByIdle); err != nil {
			return fmt.Errorf("desktop: recover: end stale session %s: %w", s.st.ID, err)
		}
		if i == 0 {
			e.recent = s.seen
		}
	}
	e.recovered = true
	return nil
}

// rebuild folds one session's stored events.
func (e *Engine) rebuild(ctx context.Context, sid string) (*session, error) {
	s := newSession()
	err := bus.ReadSession(ctx, e.cfg.JS, e.stream, sid, func(ev bus.Event) error {
		if ev.Seq != s.st.Seq+1 {
			e.log.Warn("stored session has a seq gap or repeat", "session", sid, "after", s.st.Seq, "got", ev.Seq, "event", ev.ID)
		}
		s.st.Apply(ev)
		s.remember(ev)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("desktop: recover session %s: %w", sid, err)
	}
	return s, nil
}

package pgstore

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pika-dj/pika/bus"
)

// WriteBatch writes events and actions in one transaction: all of them, or
// none (the caller acknowledges its messages only after a nil error, and
// redelivers them otherwise). Writing the same items again, or in another
// order, or split across other batches, leaves the same rows.
//
// Items should be valid (as bus.Decode and bus.DecodeAction return them).
// Types this version does not store, and events missing their payload, are
// skipped rather than failing the batch, so one odd message never blocks the
// ones behind it.
//
// Sessions are made from events only: an event for a session not yet
// written creates its row with what it knows (DJ id, its time as the start,
// its seq), and the session.started fills in the DJ's name whenever it
// comes. Actions carry no DJ id and never create sessions.
//
// The items are folded in memory into at most one row per key and table, and
// each table gets one statement over arrays (unnest), sent together as one
// pgx.Batch: a batch of 500 costs three round trips (begin, batch, commit).
func (s *Store) WriteBatch(ctx context.Context, events []bus.Event, actions []bus.Action) error {
	var w batchWriter
	for i := range events {
		w.event(&events[i])
	}
	for i := range actions {
		w.action(&actions[i])
	}
	stmts := w.statements()
	if len(stmts) == 0 {
		return nil
	}
	b := &pgx.Batch{}
	for _, st := range stmts {
		b.Queue(st.sql, st.args...)
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		br := tx.SendBatch(ctx, b)
		for _, st := range stmts {
			if _, err := br.Exec(); err != nil {
				_ = br.Close()
				return fmt.Errorf("pgstore: write %s: %w", st.what, err)
			}
		}
		if err := br.Close(); err != nil {
			return fmt.Errorf("pgstore: write batch: %w", err)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("pgstore: write batch of %d events, %d actions: %w", len(events), len(actions), err)
	}
	return nil
}

// stmt is one statement of a batch; what names it in errors.
type stmt struct {
	what string
	sql  string
	args []any
}

// batchWriter folds a batch's items per table. Each fold applies the same
// rule as its table's ON CONFLICT clause, because one INSERT … ON CONFLICT DO
// UPDATE may not touch a row twice.
type batchWriter struct {
	djs       map[string]*djRow
	sessions  map[string]*sessionRow
	plays     map[string]*playRow
	edits     map[string]*editRow
	pollStart map[string]*pollStartRow
	pollClose map[string]*pollCloseRow
	annMade   map[string]*annMadeRow
	annCancel map[string]*annCancelRow
	likes     map[clientKey]*likeRow
	tempo     map[clientKey]*tempoRow
	votes     map[clientKey]*voteRow
	reactions map[string]*reactionRow
	pauses    map[pauseKey]bool
}

// clientKey is one dancer's row about one play or poll.
type clientKey struct{ ref, client string }

func (w *batchWriter) event(e *bus.Event) {
	if e.ID == "" || e.Session == "" {
		return
	}
	w.session(e)
	switch e.Type {
	case bus.TypeTrackPlayed:
		w.play(e)
	case bus.TypePlayHidden, bus.TypePlayCorrected:
		w.edit(e)
	case bus.TypePollStarted, bus.TypePollClosed:
		w.poll(e)
	case bus.TypeAnnouncementMade, bus.TypeAnnouncementCancelled:
		w.announcement(e)
	case bus.TypeBroadcastPaused, bus.TypeBroadcastResumed:
		w.pause(e)
	}
	// session.started and session.ended live in the session row;
	// track.stopped only raises its last_seq.
}

func (w *batchWriter) action(a *bus.Action) {
	if a.ID == "" || a.Session == "" || a.Client == "" {
		return
	}
	switch a.Kind {
	case bus.ActLike, bus.ActUnlike:
		w.like(a)
	case bus.ActTempo:
		w.tempoVote(a)
	case bus.ActVote:
		w.vote(a)
	case bus.ActThanks:
		w.reaction(a)
	}
}

// statements lists the batch's statements, parents before children: the DJ
// and session rows first, edits before the plays that apply them.
func (w *batchWriter) statements() []stmt {
	var out []stmt
	add := func(s *stmt) {
		if s != nil {
			out = append(out, *s)
		}
	}
	add(w.djStmt())
	add(w.sessionStmt())
	add(w.editStmt())
	add(w.playStmt())
	add(w.applyEditsStmt())
	add(w.pauseStmt())
	add(w.withholdStmt())
	add(w.pollStartStmt())
	add(w.pollCloseStmt())
	add(w.annMadeStmt())
	add(w.annCancelStmt())
	add(w.likeStmt())
	add(w.tempoStmt())
	add(w.voteStmt())
	add(w.reactionStmt())
	return out
}

// micro cuts a time to PostgreSQL's precision, so that comparing two
// actions' times here gives the same answer as comparing them in SQL.
func micro(t time.Time) time.Time { return t.Truncate(time.Microsecond) }

// after reports whether (at, id) comes after (at2, id2): the order of
// actions by time, ties broken by id, as (at, action_id) > (…) in SQL.
func after(at time.Time, id string, at2 time.Time, id2 string) bool {
	if !at.Equal(at2) {
		return at.After(at2)
	}
	return id > id2
}

// nullText is NULL for "".
func nullText(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// nullReal is NULL for 0 (a source that did not know).
func nullReal(f float64) *float32 {
	if f == 0 {
		return nil
	}
	v := float32(f)
	return &v
}

package pgstore

import (
	"encoding/json"
	"maps"
	"slices"
	"time"

	"github.com/pika-dj/pika/bus"
)

// A poll row is written by two events. poll.started sets the question and
// options; poll.closed sets the result. Either may be written first: a
// poll.closed before its poll.started makes a row with an empty question
// (started_at = the close) that the poll.started then fills in. Both come
// from the same stream, so such a row is never seen for long.
type pollStartRow struct {
	session string
	poll    *bus.Poll
	at      time.Time
}

type pollCloseRow struct {
	session string
	result  *bus.PollResult
	at      time.Time
}

func (w *batchWriter) poll(e *bus.Event) {
	switch {
	case e.Type == bus.TypePollStarted && e.Poll != nil:
		if w.pollStart == nil {
			w.pollStart = map[string]*pollStartRow{}
		}
		w.pollStart[e.Poll.ID] = &pollStartRow{session: e.Session, poll: e.Poll, at: micro(e.At)}
	case e.Type == bus.TypePollClosed && e.PollResult != nil:
		if w.pollClose == nil {
			w.pollClose = map[string]*pollCloseRow{}
		}
		if old := w.pollClose[e.PollResult.ID]; old == nil || micro(e.At).Before(old.at) {
			w.pollClose[e.PollResult.ID] = &pollCloseRow{session: e.Session, result: e.PollResult, at: micro(e.At)}
		}
	}
}

func (w *batchWriter) pollStartStmt() *stmt {
	if len(w.pollStart) == 0 {
		return nil
	}
	ids := slices.Sorted(maps.Keys(w.pollStart))
	n := len(ids)
	sessions, questions, options := make([]string, n), make([]string, n), make([]string, n)
	started, ends := make([]time.Time, n), make([]*time.Time, n)
	for i, id := range ids {
		r := w.pollStart[id]
		opts, _ := json.Marshal(nonNil(r.poll.Options))
		sessions[i], questions[i], options[i], started[i] = r.session, r.poll.Question, string(opts), r.at
		if r.poll.EndsAt != nil {
			t := micro(*r.poll.EndsAt)
			ends[i] = &t
		}
	}
	return &stmt{what: "polls started", sql: `
INSERT INTO polls (id, session_id, question, options, started_at, ends_at)
SELECT u.id, u.session_id, u.question, u.options::jsonb, u.started_at, u.ends_at
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[], $6::timestamptz[])
	AS u(id, session_id, question, options, started_at, ends_at)
ON CONFLICT (id) DO UPDATE SET question = excluded.question, options = excluded.options,
	started_at = excluded.started_at, ends_at = excluded.ends_at`,
		args: []any{ids, sessions, questions, options, started, ends}}
}

// pollCloseStmt records results; a poll's earliest close stands.
func (w *batchWriter) pollCloseStmt() *stmt {
	if len(w.pollClose) == 0 {
		return nil
	}
	ids := slices.Sorted(maps.Keys(w.pollClose))
	n := len(ids)
	sessions, reasons, counts := make([]string, n), make([]string, n), make([]string, n)
	closed, totals, winners := make([]time.Time, n), make([]int32, n), make([]int32, n)
	for i, id := range ids {
		r := w.pollClose[id]
		c, _ := json.Marshal(nonNil(r.result.Counts))
		sessions[i], reasons[i], counts[i], closed[i] = r.session, r.result.Reason, string(c), r.at
		totals[i], winners[i] = int32(r.result.Total), int32(r.result.Winner)
	}
	return &stmt{what: "polls closed", sql: `
INSERT INTO polls (id, session_id, question, options, started_at, closed_at, close_reason, counts, total, winner)
SELECT u.id, u.session_id, '', '[]'::jsonb, u.closed_at, u.closed_at, u.reason, u.counts::jsonb, u.total, u.winner
FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::text[], $5::text[], $6::int[], $7::int[])
	AS u(id, session_id, closed_at, reason, counts, total, winner)
ON CONFLICT (id) DO UPDATE SET closed_at = excluded.closed_at, close_reason = excluded.close_reason,
	counts = excluded.counts, total = excluded.total, winner = excluded.winner
WHERE polls.closed_at IS NULL OR excluded.closed_at < polls.closed_at`,
		args: []any{ids, sessions, closed, reasons, counts, totals, winners}}
}

// nonNil makes a nil slice marshal as [] rather than null.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

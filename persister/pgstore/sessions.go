package pgstore

import (
	"maps"
	"slices"
	"time"

	"github.com/pika-dj/pika/bus"
)

// djRow is a DJ as a batch knows them: the name of their newest
// session.started, or only their id.
type djRow struct {
	name   string
	nameAt *time.Time
}

// sessionRow folds a session's events: the earliest time is its start, the
// highest seq its last_seq, the earliest session.ended its end.
type sessionRow struct {
	dj        string
	djName    string
	started   time.Time
	lastSeq   int64
	endedAt   *time.Time
	endReason *string
}

func (w *batchWriter) session(e *bus.Event) {
	if w.djs == nil {
		w.djs, w.sessions = map[string]*djRow{}, map[string]*sessionRow{}
	}
	at := micro(e.At)
	d := w.djs[e.DJ]
	if d == nil {
		d = &djRow{}
		w.djs[e.DJ] = d
	}
	s := w.sessions[e.Session]
	if s == nil {
		s = &sessionRow{dj: e.DJ, started: at}
		w.sessions[e.Session] = s
	}
	if at.Before(s.started) {
		s.started = at
	}
	s.lastSeq = max(s.lastSeq, int64(e.Seq))
	switch {
	case e.Type == bus.TypeSessionStarted && e.Started != nil:
		s.djName = e.Started.DJName
		if d.nameAt == nil || at.After(*d.nameAt) {
			d.name, d.nameAt = e.Started.DJName, &at
		}
	case e.Type == bus.TypeSessionEnded && e.Ended != nil:
		if s.endedAt == nil || at.Before(*s.endedAt) {
			reason := e.Ended.Reason
			s.endedAt, s.endReason = &at, &reason
		}
	}
}

// djStmt makes every DJ of the batch exist, and names them after their
// newest session.started: a DJ who renames themselves is known by the new
// name, however late the old session arrives.
func (w *batchWriter) djStmt() *stmt {
	if len(w.djs) == 0 {
		return nil
	}
	ids := slices.Sorted(maps.Keys(w.djs))
	names := make([]string, len(ids))
	nameAts := make([]*time.Time, len(ids))
	for i, id := range ids {
		names[i], nameAts[i] = w.djs[id].name, w.djs[id].nameAt
	}
	return &stmt{what: "djs", sql: `
INSERT INTO djs (id, name, name_at)
SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[])
ON CONFLICT (id) DO UPDATE SET name = excluded.name, name_at = excluded.name_at, updated_at = now()
WHERE excluded.name_at IS NOT NULL AND (djs.name_at IS NULL OR excluded.name_at > djs.name_at)`,
		args: []any{ids, names, nameAts}}
}

// sessionStmt upserts the batch's sessions with the same rules as session:
// LEAST and GREATEST skip NULLs, so an end stays once written.
func (w *batchWriter) sessionStmt() *stmt {
	if len(w.sessions) == 0 {
		return nil
	}
	ids := slices.Sorted(maps.Keys(w.sessions))
	n := len(ids)
	djs, names := make([]string, n), make([]string, n)
	started, ended := make([]time.Time, n), make([]*time.Time, n)
	seqs, reasons := make([]int64, n), make([]*string, n)
	for i, id := range ids {
		s := w.sessions[id]
		djs[i], names[i], started[i], seqs[i], ended[i], reasons[i] = s.dj, s.djName, s.started, s.lastSeq, s.endedAt, s.endReason
	}
	return &stmt{what: "sessions", sql: `
INSERT INTO sessions (id, dj_id, dj_name, started_at, last_seq, ended_at, end_reason)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::bigint[], $6::timestamptz[], $7::text[])
ON CONFLICT (id) DO UPDATE SET
	dj_name = CASE WHEN excluded.dj_name <> '' THEN excluded.dj_name ELSE sessions.dj_name END,
	started_at = LEAST(sessions.started_at, excluded.started_at),
	last_seq = GREATEST(sessions.last_seq, excluded.last_seq),
	ended_at = LEAST(sessions.ended_at, excluded.ended_at),
	end_reason = CASE WHEN excluded.ended_at IS NOT NULL AND (sessions.ended_at IS NULL OR excluded.ended_at < sessions.ended_at)
		THEN excluded.end_reason ELSE sessions.end_reason END`,
		args: []any{ids, djs, names, started, seqs, ended, reasons}}
}

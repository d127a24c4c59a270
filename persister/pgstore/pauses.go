package pgstore

import (
	"cmp"
	"maps"
	"slices"

	"github.com/pika-dj/pika/bus"
)

// pauseKey is one broadcast.paused or broadcast.resumed of a session.
type pauseKey struct {
	session string
	seq     uint64
}

func (w *batchWriter) pause(e *bus.Event) {
	if w.pauses == nil {
		w.pauses = map[pauseKey]bool{}
	}
	w.pauses[pauseKey{e.Session, e.Seq}] = e.Type == bus.TypeBroadcastPaused
}

func (w *batchWriter) pauseStmt() *stmt {
	if len(w.pauses) == 0 {
		return nil
	}
	keys := slices.SortedFunc(maps.Keys(w.pauses), func(a, b pauseKey) int {
		return cmp.Or(cmp.Compare(a.session, b.session), cmp.Compare(a.seq, b.seq))
	})
	sessions, seqs, paused := make([]string, len(keys)), make([]int64, len(keys)), make([]bool, len(keys))
	for i, k := range keys {
		sessions[i], seqs[i], paused[i] = k.session, int64(k.seq), w.pauses[k]
	}
	return &stmt{what: "pause marks", sql: `
INSERT INTO pause_marks (session_id, seq, paused)
SELECT * FROM unnest($1::text[], $2::bigint[], $3::boolean[])
ON CONFLICT (session_id, seq) DO NOTHING`, args: []any{sessions, seqs, paused}}
}

// withholdStmt recomputes plays.hidden for the sessions whose plays or
// pause marks this batch wrote: hidden by the DJ, or stored while the
// latest mark before the play was a pause. Recomputing from every mark and
// edit stored so far is what makes the result independent of the order
// events are written in.
func (w *batchWriter) withholdStmt() *stmt {
	touched := map[string]struct{}{}
	for _, p := range w.plays {
		touched[p.session] = struct{}{}
	}
	for k := range w.pauses {
		touched[k.session] = struct{}{}
	}
	if len(touched) == 0 {
		return nil
	}
	return &stmt{what: "withheld plays", sql: `
UPDATE plays p SET hidden =
	COALESCE((SELECT e.hidden FROM play_edits e WHERE e.play_id = p.id), false)
	OR COALESCE((SELECT m.paused FROM pause_marks m
		WHERE m.session_id = p.session_id AND m.seq < p.seq ORDER BY m.seq DESC LIMIT 1), false)
WHERE p.session_id = ANY($1::text[])`, args: []any{slices.Sorted(maps.Keys(touched))}}
}

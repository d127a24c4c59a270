package pgstore

import (
	"maps"
	"slices"
	"time"

	"github.com/pika-dj/pika/bus"
)

// playRow is one track.played: a play is written once and never changed,
// except by the DJ's edits.
type playRow struct {
	session string
	seq     int64
	at      time.Time
	play    *bus.Play
}

// editRow folds a play's play.hidden and play.corrected events. Edits are
// kept in play_edits as well as applied to plays, so an edit written before
// its play (another batch, a replay) is applied when the play arrives.
type editRow struct {
	session string
	hidden  bool
	title   *string
	artist  *string
	seq     int64 // of the correction kept (0: none); the latest wins
}

func (w *batchWriter) play(e *bus.Event) {
	if e.Play == nil {
		return
	}
	if w.plays == nil {
		w.plays = map[string]*playRow{}
	}
	w.plays[e.ID] = &playRow{session: e.Session, seq: int64(e.Seq), at: micro(e.At), play: e.Play}
}

func (w *batchWriter) edit(e *bus.Event) {
	var id string
	switch {
	case e.Type == bus.TypePlayHidden && e.Ref != nil:
		id = e.Ref.ID
	case e.Type == bus.TypePlayCorrected && e.Correction != nil:
		id = e.Correction.PlayID
	default:
		return
	}
	if w.edits == nil {
		w.edits = map[string]*editRow{}
	}
	r := w.edits[id]
	if r == nil {
		r = &editRow{session: e.Session}
		w.edits[id] = r
	}
	if e.Type == bus.TypePlayHidden {
		r.hidden = true
	} else if int64(e.Seq) > r.seq {
		title, artist := e.Correction.Title, e.Correction.Artist
		r.title, r.artist, r.seq = &title, &artist, int64(e.Seq)
	}
}

// editStmt records the batch's edits, merged with those already written:
// hidden stays hidden, the correction with the highest seq wins.
func (w *batchWriter) editStmt() *stmt {
	if len(w.edits) == 0 {
		return nil
	}
	ids := slices.Sorted(maps.Keys(w.edits))
	n := len(ids)
	sessions, hidden := make([]string, n), make([]bool, n)
	titles, artists, seqs := make([]*string, n), make([]*string, n), make([]int64, n)
	for i, id := range ids {
		r := w.edits[id]
		sessions[i], hidden[i], titles[i], artists[i], seqs[i] = r.session, r.hidden, r.title, r.artist, r.seq
	}
	return &stmt{what: "play edits", sql: `
INSERT INTO play_edits (play_id, session_id, hidden, corrected_title, corrected_artist, corrected_seq)
SELECT * FROM unnest($1::text[], $2::text[], $3::boolean[], $4::text[], $5::text[], $6::bigint[])
ON CONFLICT (play_id) DO UPDATE SET
	hidden = play_edits.hidden OR excluded.hidden,
	corrected_title = CASE WHEN excluded.corrected_seq > play_edits.corrected_seq THEN excluded.corrected_title ELSE play_edits.corrected_title END,
	corrected_artist = CASE WHEN excluded.corrected_seq > play_edits.corrected_seq THEN excluded.corrected_artist ELSE play_edits.corrected_artist END,
	corrected_seq = GREATEST(play_edits.corrected_seq, excluded.corrected_seq)`,
		args: []any{ids, sessions, hidden, titles, artists, seqs}}
}

// playStmt inserts the batch's plays, each with the edits already known.
func (w *batchWriter) playStmt() *stmt {
	if len(w.plays) == 0 {
		return nil
	}
	ids := slices.Sorted(maps.Keys(w.plays))
	n := len(ids)
	sessions, seqs, ats := make([]string, n), make([]int64, n), make([]time.Time, n)
	tracks, titles, artists := make([]string, n), make([]string, n), make([]string, n)
	albums, keys, sources := make([]*string, n), make([]*string, n), make([]*string, n)
	bpms, durations := make([]*float32, n), make([]*float32, n)
	for i, id := range ids {
		p := w.plays[id]
		t := p.play.Track
		sessions[i], seqs[i], ats[i] = p.session, p.seq, p.at
		tracks[i], titles[i], artists[i] = t.ID, t.Title, t.Artist
		albums[i], keys[i], sources[i] = nullText(t.Album), nullText(t.Key), nullText(p.play.Source)
		bpms[i], durations[i] = nullReal(t.BPM), nullReal(t.Duration)
	}
	return &stmt{what: "plays", sql: `
INSERT INTO plays (id, session_id, seq, played_at, track_id, title, artist, album, bpm, key, duration_sec, source,
	hidden, corrected_title, corrected_artist)
SELECT u.id, u.session_id, u.seq, u.played_at, u.track_id, u.title, u.artist, u.album, u.bpm, u.key, u.duration_sec, u.source,
	COALESCE(e.hidden, false), e.corrected_title, e.corrected_artist
FROM unnest($1::text[], $2::text[], $3::bigint[], $4::timestamptz[], $5::text[], $6::text[], $7::text[],
	$8::text[], $9::real[], $10::text[], $11::real[], $12::text[])
	AS u(id, session_id, seq, played_at, track_id, title, artist, album, bpm, key, duration_sec, source)
LEFT JOIN play_edits e ON e.play_id = u.id
ON CONFLICT (id) DO NOTHING`,
		args: []any{ids, sessions, seqs, ats, tracks, titles, artists, albums, bpms, keys, durations, sources}}
}

// applyEditsStmt copies the merged edits of this batch's edited plays onto
// the plays already written.
func (w *batchWriter) applyEditsStmt() *stmt {
	if len(w.edits) == 0 {
		return nil
	}
	return &stmt{what: "play edits onto plays", sql: `
UPDATE plays p SET hidden = e.hidden, corrected_title = e.corrected_title, corrected_artist = e.corrected_artist
FROM play_edits e
WHERE e.play_id = p.id AND p.id = ANY($1::text[])`,
		args: []any{slices.Sorted(maps.Keys(w.edits))}}
}

package pgstore

import (
	"maps"
	"slices"
	"time"

	"github.com/pika-dj/pika/bus"
)

// As with polls, an announcement.cancelled written before its
// announcement.made makes a row with empty text that the made event fills.
type annMadeRow struct {
	session string
	ann     *bus.Announcement
	at      time.Time
}

type annCancelRow struct {
	session string
	at      time.Time
}

func (w *batchWriter) announcement(e *bus.Event) {
	switch {
	case e.Type == bus.TypeAnnouncementMade && e.Announcement != nil:
		if w.annMade == nil {
			w.annMade = map[string]*annMadeRow{}
		}
		w.annMade[e.Announcement.ID] = &annMadeRow{session: e.Session, ann: e.Announcement, at: micro(e.At)}
	case e.Type == bus.TypeAnnouncementCancelled && e.Ref != nil:
		if w.annCancel == nil {
			w.annCancel = map[string]*annCancelRow{}
		}
		if old := w.annCancel[e.Ref.ID]; old == nil || micro(e.At).Before(old.at) {
			w.annCancel[e.Ref.ID] = &annCancelRow{session: e.Session, at: micro(e.At)}
		}
	}
}

func (w *batchWriter) annMadeStmt() *stmt {
	if len(w.annMade) == 0 {
		return nil
	}
	ids := slices.Sorted(maps.Keys(w.annMade))
	n := len(ids)
	sessions, texts := make([]string, n), make([]string, n)
	made, ends := make([]time.Time, n), make([]time.Time, n)
	for i, id := range ids {
		r := w.annMade[id]
		sessions[i], texts[i], made[i], ends[i] = r.session, r.ann.Text, r.at, micro(r.ann.EndsAt)
	}
	return &stmt{what: "announcements made", sql: `
INSERT INTO announcements (id, session_id, text, made_at, ends_at)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::timestamptz[])
ON CONFLICT (id) DO UPDATE SET text = excluded.text, made_at = excluded.made_at, ends_at = excluded.ends_at`,
		args: []any{ids, sessions, texts, made, ends}}
}

// annCancelStmt records cancellations; the earliest stands.
func (w *batchWriter) annCancelStmt() *stmt {
	if len(w.annCancel) == 0 {
		return nil
	}
	ids := slices.Sorted(maps.Keys(w.annCancel))
	n := len(ids)
	sessions, ats := make([]string, n), make([]time.Time, n)
	for i, id := range ids {
		sessions[i], ats[i] = w.annCancel[id].session, w.annCancel[id].at
	}
	return &stmt{what: "announcements cancelled", sql: `
INSERT INTO announcements (id, session_id, text, made_at, ends_at, cancelled_at)
SELECT u.id, u.session_id, '', u.at, u.at, u.at
FROM unnest($1::text[], $2::text[], $3::timestamptz[]) AS u(id, session_id, at)
ON CONFLICT (id) DO UPDATE SET cancelled_at = LEAST(announcements.cancelled_at, excluded.cancelled_at)`,
		args: []any{ids, sessions, ats}}
}

package pgstore

import (
	"cmp"
	"maps"
	"slices"
	"time"

	"github.com/pika-dj/pika/bus"
)

// The crowd's rows: one per dancer per play (likes, tempo_votes) or poll
// (poll_votes), and one per thank-you (reactions). None references a play,
// poll or session row, so an action written before what it is about lands.

type likeRow struct {
	session string
	liked   bool
	id      string
	at      time.Time
}

type tempoRow struct {
	session string
	choice  *string // nil: cleared
	id      string
	at      time.Time
}

type voteRow struct {
	session string
	option  int32
	id      string
	at      time.Time
}

type reactionRow struct {
	session, client, kind string
	at                    time.Time
}

// like keeps the dancer's latest like or unlike of the play.
func (w *batchWriter) like(a *bus.Action) {
	if w.likes == nil {
		w.likes = map[clientKey]*likeRow{}
	}
	k, at := clientKey{a.PlayID, a.Client}, micro(a.At)
	if old := w.likes[k]; old == nil || after(at, a.ID, old.at, old.id) {
		w.likes[k] = &likeRow{session: a.Session, liked: a.Kind == bus.ActLike, id: a.ID, at: at}
	}
}

// tempoVote keeps the dancer's latest tempo vote on the play; a clear is a
// vote of NULL, so it too replaces what came before it (and only that).
func (w *batchWriter) tempoVote(a *bus.Action) {
	if w.tempo == nil {
		w.tempo = map[clientKey]*tempoRow{}
	}
	k, at := clientKey{a.PlayID, a.Client}, micro(a.At)
	if old := w.tempo[k]; old == nil || after(at, a.ID, old.at, old.id) {
		r := &tempoRow{session: a.Session, id: a.ID, at: at}
		if a.Tempo != bus.TempoClear {
			choice := a.Tempo
			r.choice = &choice
		}
		w.tempo[k] = r
	}
}

// vote keeps the dancer's first vote in the poll.
func (w *batchWriter) vote(a *bus.Action) {
	if a.Option == nil {
		return
	}
	if w.votes == nil {
		w.votes = map[clientKey]*voteRow{}
	}
	k, at := clientKey{a.PollID, a.Client}, micro(a.At)
	if old := w.votes[k]; old == nil || after(old.at, old.id, at, a.ID) {
		w.votes[k] = &voteRow{session: a.Session, option: int32(*a.Option), id: a.ID, at: at}
	}
}

func (w *batchWriter) reaction(a *bus.Action) {
	if w.reactions == nil {
		w.reactions = map[string]*reactionRow{}
	}
	w.reactions[a.ID] = &reactionRow{session: a.Session, client: a.Client, kind: string(a.Kind), at: micro(a.At)}
}

func sortedClientKeys[V any](m map[clientKey]V) []clientKey {
	return slices.SortedFunc(maps.Keys(m), func(a, b clientKey) int {
		return cmp.Or(cmp.Compare(a.ref, b.ref), cmp.Compare(a.client, b.client))
	})
}

// likeStmt writes likes: a row changes only for an action later than the
// one it holds, by (at, action_id).
func (w *batchWriter) likeStmt() *stmt {
	if len(w.likes) == 0 {
		return nil
	}
	keys := sortedClientKeys(w.likes)
	n := len(keys)
	plays, clients, sessions, ids := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	liked, ats := make([]bool, n), make([]time.Time, n)
	for i, k := range keys {
		r := w.likes[k]
		plays[i], clients[i], sessions[i], liked[i], ids[i], ats[i] = k.ref, k.client, r.session, r.liked, r.id, r.at
	}
	return &stmt{what: "likes", sql: `
INSERT INTO likes (play_id, client_id, session_id, liked, action_id, at)
SELECT u.* FROM unnest($1::text[], $2::text[], $3::text[], $4::boolean[], $5::text[], $6::timestamptz[])
	AS u(play_id, client_id, session_id, liked, action_id, at)
WHERE NOT EXISTS (SELECT 1 FROM deleted_clients d
	WHERE d.client_hash = encode(sha256(convert_to(u.client_id, 'UTF8')), 'hex') AND d.deleted_at >= u.at)
ON CONFLICT (play_id, client_id) DO UPDATE SET session_id = excluded.session_id, liked = excluded.liked,
	action_id = excluded.action_id, at = excluded.at
WHERE (excluded.at, excluded.action_id) > (likes.at, likes.action_id)`,
		args: []any{plays, clients, sessions, liked, ids, ats}}
}

// tempoStmt writes tempo votes by the same rule as likes.
func (w *batchWriter) tempoStmt() *stmt {
	if len(w.tempo) == 0 {
		return nil
	}
	keys := sortedClientKeys(w.tempo)
	n := len(keys)
	plays, clients, sessions, ids := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	choices, ats := make([]*string, n), make([]time.Time, n)
	for i, k := range keys {
		r := w.tempo[k]
		plays[i], clients[i], sessions[i], choices[i], ids[i], ats[i] = k.ref, k.client, r.session, r.choice, r.id, r.at
	}
	return &stmt{what: "tempo votes", sql: `
INSERT INTO tempo_votes (play_id, client_id, session_id, choice, action_id, at)
SELECT u.* FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::timestamptz[])
	AS u(play_id, client_id, session_id, choice, action_id, at)
WHERE NOT EXISTS (SELECT 1 FROM deleted_clients d
	WHERE d.client_hash = encode(sha256(convert_to(u.client_id, 'UTF8')), 'hex') AND d.deleted_at >= u.at)
ON CONFLICT (play_id, client_id) DO UPDATE SET session_id = excluded.session_id, choice = excluded.choice,
	action_id = excluded.action_id, at = excluded.at
WHERE (excluded.at, excluded.action_id) > (tempo_votes.at, tempo_votes.action_id)`,
		args: []any{plays, clients, sessions, choices, ids, ats}}
}

// voteStmt writes poll votes: one per dancer per poll, the first by
// (at, action_id) wins. The gateway already refuses a second vote; this
// makes a replay or a reordering agree with it.
func (w *batchWriter) voteStmt() *stmt {
	if len(w.votes) == 0 {
		return nil
	}
	keys := sortedClientKeys(w.votes)
	n := len(keys)
	polls, clients, sessions, ids := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	options, ats := make([]int32, n), make([]time.Time, n)
	for i, k := range keys {
		r := w.votes[k]
		polls[i], clients[i], sessions[i], options[i], ids[i], ats[i] = k.ref, k.client, r.session, r.option, r.id, r.at
	}
	return &stmt{what: "poll votes", sql: `
INSERT INTO poll_votes (poll_id, client_id, session_id, option, action_id, at)
SELECT u.* FROM unnest($1::text[], $2::text[], $3::text[], $4::int[], $5::text[], $6::timestamptz[])
	AS u(poll_id, client_id, session_id, option, action_id, at)
WHERE NOT EXISTS (SELECT 1 FROM deleted_clients d
	WHERE d.client_hash = encode(sha256(convert_to(u.client_id, 'UTF8')), 'hex') AND d.deleted_at >= u.at)
ON CONFLICT (poll_id, client_id) DO UPDATE SET session_id = excluded.session_id, option = excluded.option,
	action_id = excluded.action_id, at = excluded.at
WHERE (excluded.at, excluded.action_id) < (poll_votes.at, poll_votes.action_id)`,
		args: []any{polls, clients, sessions, options, ids, ats}}
}

func (w *batchWriter) reactionStmt() *stmt {
	if len(w.reactions) == 0 {
		return nil
	}
	ids := slices.Sorted(maps.Keys(w.reactions))
	n := len(ids)
	sessions, clients, kinds, ats := make([]string, n), make([]string, n), make([]string, n), make([]time.Time, n)
	for i, id := range ids {
		r := w.reactions[id]
		sessions[i], clients[i], kinds[i], ats[i] = r.session, r.client, r.kind, r.at
	}
	return &stmt{what: "reactions", sql: `
INSERT INTO reactions (id, session_id, client_id, kind, at)
SELECT u.* FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[])
	AS u(id, session_id, client_id, kind, at)
WHERE NOT EXISTS (SELECT 1 FROM deleted_clients d
	WHERE d.client_hash = encode(sha256(convert_to(u.client_id, 'UTF8')), 'hex') AND d.deleted_at >= u.at)
ON CONFLICT (id) DO NOTHING`,
		args: []any{ids, sessions, clients, kinds, ats}}
}

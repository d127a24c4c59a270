package pgstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pika-dj/pika/bus"
	"github.com/pika-dj/pika/internal/history"
)

// The read side of the history: what the gateway's REST endpoints ask
// (gateway.History). Every query leaves hidden plays out for the public and
// shows plays with the DJ's corrections; likes count only rows whose latest
// action is a like.

// playCols selects a play as dancers see it, from plays aliased p.
const playCols = `p.id, p.played_at, p.track_id, coalesce(p.corrected_title, p.title), coalesce(p.corrected_artist, p.artist),
	coalesce(p.album, ''), coalesce(p.bpm, 0)::float8, coalesce(p.key, ''), coalesce(p.duration_sec, 0)::float8`

func scanPlay(dest *bus.PlayedTrack) []any {
	return []any{&dest.PlayID, &dest.PlayedAt, &dest.ID, &dest.Title, &dest.Artist,
		&dest.Album, &dest.BPM, &dest.Key, &dest.Duration}
}

// SessionPlays lists up to limit plays of session sid dancers may see,
// newest first; history.ErrNotFound if the session has no row.
func (s *Store) SessionPlays(ctx context.Context, sid string, limit int) ([]bus.PlayedTrack, error) {
	var out []bus.PlayedTrack
	err := s.readTx(ctx, func(tx pgx.Tx) error {
		if err := sessionExists(ctx, tx, sid); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT `+playCols+` FROM plays p
			WHERE p.session_id = $1 AND NOT p.hidden
			ORDER BY p.played_at DESC, p.seq DESC LIMIT $2`, sid, limit)
		if err != nil {
			return fmt.Errorf("pgstore: query plays of %s: %w", sid, err)
		}
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (bus.PlayedTrack, error) {
			var p bus.PlayedTrack
			err := r.Scan(scanPlay(&p)...)
			return p, err
		})
		if err != nil {
			return fmt.Errorf("pgstore: read plays of %s: %w", sid, err)
		}
		return nil
	})
	return out, err
}

func sessionExists(ctx context.Context, tx pgx.Tx, sid string) error {
	var ok bool
	if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM sessions WHERE id = $1)`, sid).Scan(&ok); err != nil {
		return fmt.Errorf("pgstore: find session %s: %w", sid, err)
	}
	if !ok {
		return history.ErrNotFound
	}
	return nil
}

// SessionRecap is session sid's recap: its plays (with owner, the hidden
// ones too, marked) with their likes and tempo votes, and with owner its
// polls and thank-yous. The caller numbers and adds up (Recap.Finish).
func (s *Store) SessionRecap(ctx context.Context, sid string, owner bool) (history.Recap, error) {
	r := history.Recap{Owner: owner}
	err := s.readTx(ctx, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, sessionQuery(`s.id = $1`, ``), sid)
		if err != nil {
			return fmt.Errorf("pgstore: query session %s: %w", sid, err)
		}
		list, err := collectSessions(rows)
		if err != nil {
			return fmt.Errorf("pgstore: read session %s: %w", sid, err)
		}
		if len(list) == 0 {
			return history.ErrNotFound
		}
		r.Session = list[0]
		rows, err = tx.Query(ctx, `SELECT `+playCols+`, p.hidden, coalesce(l.n, 0),
				coalesce(t.slower, 0), coalesce(t.perfect, 0), coalesce(t.faster, 0)
			FROM plays p
			LEFT JOIN (SELECT play_id, count(*) AS n FROM likes WHERE session_id = $1 AND liked GROUP BY play_id) l
				ON l.play_id = p.id
			LEFT JOIN (SELECT play_id,
					count(*) FILTER (WHERE choice = 'slower') AS slower,
					count(*) FILTER (WHERE choice = 'perfect') AS perfect,
					count(*) FILTER (WHERE choice = 'faster') AS faster
				FROM tempo_votes WHERE session_id = $1 GROUP BY play_id) t
				ON t.play_id = p.id
			WHERE p.session_id = $1 AND ($2 OR NOT p.hidden)
			ORDER BY p.played_at, p.seq`, sid, owner)
		if err != nil {
			return fmt.Errorf("pgstore: query recap plays of %s: %w", sid, err)
		}
		r.Plays, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (history.Play, error) {
			var p history.Play
			dest := append(scanPlay(&p.PlayedTrack), &p.Hidden, &p.Likes, &p.Tempo.Slower, &p.Tempo.Perfect, &p.Tempo.Faster)
			err := row.Scan(dest...)
			return p, err
		})
		if err != nil {
			return fmt.Errorf("pgstore: read recap plays of %s: %w", sid, err)
		}
		if !owner {
			return nil
		}
		var thanks int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM reactions WHERE session_id = $1 AND kind = 'thanks'`, sid).Scan(&thanks); err != nil {
			return fmt.Errorf("pgstore: count thank-yous of %s: %w", sid, err)
		}
		r.Thanks = &thanks
		r.Polls, err = sessionPolls(ctx, tx, sid)
		return err
	})
	return r, err
}

// sessionPolls lists the session's polls, oldest first. A poll still open
// (no result stored) shows its votes so far.
func sessionPolls(ctx context.Context, tx pgx.Tx, sid string) ([]history.Poll, error) {
	rows, err := tx.Query(ctx, `SELECT id, question, options, started_at, ends_at, closed_at, coalesce(close_reason, ''),
			counts, coalesce(total, 0), coalesce(winner, -1)
		FROM polls WHERE session_id = $1 ORDER BY started_at, id`, sid)
	if err != nil {
		return nil, fmt.Errorf("pgstore: query polls of %s: %w", sid, err)
	}
	polls, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (history.Poll, error) {
		var p history.Poll
		var counts []int
		err := row.Scan(&p.ID, &p.Question, &p.Options, &p.StartedAt, &p.EndsAt, &p.ClosedAt, &p.CloseReason,
			&counts, &p.Total, &p.Winner)
		p.Counts = counts
		return p, err
	})
	if err != nil {
		return nil, fmt.Errorf("pgstore: read polls of %s: %w", sid, err)
	}
	open := false
	for i := range polls {
		if polls[i].Options == nil {
			polls[i].Options = []string{}
		}
		if polls[i].ClosedAt == nil || polls[i].Counts == nil {
			open = true
		}
	}
	if !open {
		return polls, nil
	}
	rows, err = tx.Query(ctx, `SELECT poll_id, option, count(*) FROM poll_votes WHERE session_id = $1 GROUP BY 1, 2`, sid)
	if err != nil {
		return nil, fmt.Errorf("pgstore: query poll votes of %s: %w", sid, err)
	}
	type tally struct {
		poll      string
		option, n int
	}
	votes, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (tally, error) {
		var t tally
		err := row.Scan(&t.poll, &t.option, &t.n)
		return t, err
	})
	if err != nil {
		return nil, fmt.Errorf("pgstore: read poll votes of %s: %w", sid, err)
	}
	for i := range polls {
		p := &polls[i]
		if p.ClosedAt != nil && p.Counts != nil {
			continue
		}
		p.Counts, p.Total, p.Winner = make([]int, len(p.Options)), 0, -1
		for _, v := range votes {
			if v.poll == p.ID && v.option >= 0 && v.option < len(p.Counts) {
				p.Counts[v.option] += v.n
				p.Total += v.n
			}
		}
		for i, n := range p.Counts {
			if n > 0 && (p.Winner < 0 || n > p.Counts[p.Winner]) {
				p.Winner = i
			}
		}
	}
	return polls, nil
}

// sessionQuery selects sessions as history.Session rows: where filters
// sessions aliased s; tail orders and limits. Track counts and likes leave
// hidden plays out. Arguments are the caller's.
func sessionQuery(where, tail string) string {
	return `SELECT s.id, s.dj_id, s.dj_name, s.started_at, s.ended_at, coalesce(s.end_reason, '') AS end_reason,
			greatest(s.started_at, coalesce(s.ended_at, s.started_at), coalesce(p.last_play, s.started_at)) AS last_activity,
			coalesce(p.tracks, 0) AS tracks, coalesce(l.likes, 0) AS likes
		FROM sessions s
		LEFT JOIN LATERAL (SELECT max(played_at) AS last_play, count(*) FILTER (WHERE NOT hidden) AS tracks
			FROM plays WHERE session_id = s.id) p ON true
		LEFT JOIN LATERAL (SELECT count(*) AS likes FROM likes lk JOIN plays pl ON pl.id = lk.play_id
			WHERE lk.session_id = s.id AND lk.liked AND NOT pl.hidden) l ON true
		WHERE ` + where + ` ` + tail
}

func collectSessions(rows pgx.Rows) ([]history.Session, error) {
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (history.Session, error) {
		var s history.Session
		err := row.Scan(&s.ID, &s.DJID, &s.DJName, &s.StartedAt, &s.EndedAt, &s.EndReason, &s.LastActivityAt,
			&s.TrackCount, &s.Likes)
		return s, err
	})
}

// RecentSessions lists up to limit sessions that have ended, newest end
// first: ended by the DJ or the idle timer, or quiet for
// bus.SessionIdleTimeout at now (the DJ's side stores that end when it
// next runs).
func (s *Store) RecentSessions(ctx context.Context, now time.Time, limit int) ([]history.Session, error) {
	idle := bus.SessionIdleTimeout.Seconds()
	// Ended sessions come from the ended_at index; the ones without an end
	// are few (live ones, and idle ones not yet noticed) and each is checked.
	rows, err := s.Pool().Query(ctx, `WITH c AS (
			(SELECT id FROM sessions WHERE ended_at IS NOT NULL ORDER BY ended_at DESC LIMIT $2)
			UNION ALL
			(SELECT id FROM sessions WHERE ended_at IS NULL)
		), r AS (`+sessionQuery(`s.id IN (SELECT id FROM c)`, ``)+`)
		SELECT * FROM r
		WHERE r.ended_at IS NOT NULL OR r.last_activity <= $1::timestamptz - $3::float8 * interval '1 second'
		ORDER BY coalesce(r.ended_at, r.last_activity + $3::float8 * interval '1 second') DESC, r.id DESC
		LIMIT $2`, now, limit, idle)
	if err != nil {
		return nil, fmt.Errorf("pgstore: query recent sessions: %w", err)
	}
	list, err := collectSessions(rows)
	if err != nil {
		return nil, fmt.Errorf("pgstore: read recent sessions: %w", err)
	}
	return list, nil
}

// DJProfile is the DJ of id djID with up to limit of their sessions,
// newest first, and totals over all of them. Only that DJ id's own
// sessions: two DJs who share a name are two profiles.
func (s *Store) DJProfile(ctx context.Context, djID string, limit int) (history.DJProfile, error) {
	p := history.DJProfile{ID: djID}
	err := s.readTx(ctx, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `SELECT name FROM djs WHERE id = $1`, djID).Scan(&p.Name)
		if errors.Is(err, pgx.ErrNoRows) {
			return history.ErrNotFound
		}
		if err != nil {
			return fmt.Errorf("pgstore: find DJ %s: %w", djID, err)
		}
		var since *time.Time
		var latest *string
		err = tx.QueryRow(ctx, `SELECT count(*), min(started_at),
				(SELECT dj_name FROM sessions WHERE dj_id = $1 AND dj_name <> '' ORDER BY started_at DESC LIMIT 1)
			FROM sessions WHERE dj_id = $1`, djID).Scan(&p.Totals.Sessions, &since, &latest)
		if err != nil {
			return fmt.Errorf("pgstore: read DJ %s: %w", djID, err)
		}
		if since != nil {
			p.Since = *since
		}
		// The name of the DJ's latest session is their name when the DJ row
		// has none yet.
		if p.Name == "" && latest != nil {
			p.Name = *latest
		}
		rows, err := tx.Query(ctx, sessionQuery(`s.dj_id = $1`, `ORDER BY s.started_at DESC, s.id DESC LIMIT $2`), djID, limit)
		if err != nil {
			return fmt.Errorf("pgstore: query sessions of DJ %s: %w", djID, err)
		}
		if p.Sessions, err = collectSessions(rows); err != nil {
			return fmt.Errorf("pgstore: read sessions of DJ %s: %w", djID, err)
		}
		err = tx.QueryRow(ctx, `SELECT
				(SELECT count(*) FROM plays p JOIN sessions s ON s.id = p.session_id WHERE s.dj_id = $1 AND NOT p.hidden),
				(SELECT count(*) FROM likes l JOIN plays p ON p.id = l.play_id JOIN sessions s ON s.id = p.session_id
					WHERE s.dj_id = $1 AND l.liked AND NOT p.hidden)`, djID).Scan(&p.Totals.Tracks, &p.Totals.Likes)
		if err != nil {
			return fmt.Errorf("pgstore: add up DJ %s: %w", djID, err)
		}
		return nil
	})
	return p, err
}

// Journal is the dancer's standing likes of plays dancers may see, newest
// first (up to limit; 0 counts only), and the count of every row kept of
// their anonymous id (what DeleteJournal removes).
func (s *Store) Journal(ctx context.Context, clientID string, limit int) (history.Journal, error) {
	j := history.Journal{ClientID: clientID, Likes: []history.JournalLike{}}
	err := s.readTx(ctx, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `SELECT
				(SELECT count(*) FROM likes WHERE client_id = $1),
				(SELECT count(*) FROM tempo_votes WHERE client_id = $1),
				(SELECT count(*) FROM poll_votes WHERE client_id = $1),
				(SELECT count(*) FROM reactions WHERE client_id = $1)`, clientID).
			Scan(&j.Kept.Likes, &j.Kept.TempoVotes, &j.Kept.PollVotes, &j.Kept.Reactions)
		if err != nil {
			return fmt.Errorf("pgstore: count journal rows: %w", err)
		}
		if limit <= 0 || j.Kept.Likes == 0 {
			return nil
		}
		rows, err := tx.Query(ctx, `SELECT l.at, s.id, s.dj_id, s.dj_name, s.started_at, `+playCols+`
			FROM likes l
			JOIN plays p ON p.id = l.play_id
			JOIN sessions s ON s.id = p.session_id
			WHERE l.client_id = $1 AND l.liked AND NOT p.hidden
			ORDER BY l.at DESC, l.play_id DESC LIMIT $2`, clientID, limit)
		if err != nil {
			return fmt.Errorf("pgstore: query journal: %w", err)
		}
		j.Likes, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (history.JournalLike, error) {
			var l history.JournalLike
			dest := append([]any{&l.LikedAt, &l.SessionID, &l.DJID, &l.DJName, &l.SessionStartedAt}, scanPlay(&l.PlayedTrack)...)
			err := row.Scan(dest...)
			l.PlayID = l.PlayedTrack.PlayID
			return l, err
		})
		if err != nil {
			return fmt.Errorf("pgstore: read journal: %w", err)
		}
		return nil
	})
	return j, err
}

// TopTracks is the all-time chart: up to limit tracks by standing likes of
// their visible plays, each shown with its latest title, artist, BPM and key
// as corrected.
func (s *Store) TopTracks(ctx context.Context, limit int) ([]history.TopTrack, error) {
	rows, err := s.Pool().Query(ctx, `SELECT p.track_id,
			(array_agg(coalesce(p.corrected_title, p.title) ORDER BY p.played_at DESC))[1],
			(array_agg(coalesce(p.corrected_artist, p.artist) ORDER BY p.played_at DESC))[1],
			coalesce((array_agg(p.bpm ORDER BY p.played_at DESC) FILTER (WHERE p.bpm IS NOT NULL))[1], 0)::float8,
			coalesce((array_agg(p.key ORDER BY p.played_at DESC) FILTER (WHERE p.key IS NOT NULL))[1], ''),
			sum(coalesce(l.n, 0))::bigint AS likes, count(*) AS plays
		FROM plays p
		LEFT JOIN (SELECT play_id, count(*) AS n FROM likes WHERE liked GROUP BY play_id) l ON l.play_id = p.id
		WHERE NOT p.hidden
		GROUP BY p.track_id
		HAVING sum(coalesce(l.n, 0)) > 0
		ORDER BY likes DESC, plays DESC, p.track_id
		LIMIT $1`, limit)
	if err != nil {
		return nil, fmt.Errorf("pgstore: query top tracks: %w", err)
	}
	list, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (history.TopTrack, error) {
		var t history.TopTrack
		err := row.Scan(&t.ID, &t.Title, &t.Artist, &t.BPM, &t.Key, &t.Likes, &t.Plays)
		return t, err
	})
	if err != nil {
		return nil, fmt.Errorf("pgstore: read top tracks: %w", err)
	}
	return list, nil
}

// readTx runs fn in a read-only, repeatable-read transaction: the parts of
// one answer (a recap's plays and its polls) come from one moment.
func (s *Store) readTx(ctx context.Context, fn func(pgx.Tx) error) error {
	err := pgx.BeginTxFunc(ctx, s.Pool(), pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, fn)
	if err != nil && !errors.Is(err, history.ErrNotFound) {
		return fmt.Errorf("pgstore: read transaction: %w", err)
	}
	return err
}

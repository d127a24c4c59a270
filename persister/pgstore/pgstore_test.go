package pgstore_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pika-dj/pika/bus"
	"github.com/pika-dj/pika/internal/testenv"
	"github.com/pika-dj/pika/persister/pgstore"
	"github.com/pika-dj/pika/persister/pgstore/pgstoretest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testenv.StopPostgres()
	os.Exit(code)
}

// newStore opens a store on a fresh, migrated database.
func newStore(t testing.TB) *pgstore.Store { return pgstoretest.New(t) }

// night is one session with every kind of event and action.
type night struct {
	dj, session       string
	play1, play2      string
	poll, ann         string
	alice, bob, carol string
	events            []bus.Event
	actions           []bus.Action
}

var t0 = time.Date(2026, 3, 14, 21, 0, 0, 0, time.UTC)

func newNight() *night {
	n := &night{dj: bus.NewDJID(), session: bus.NewID(t0),
		alice: "alice-0001", bob: "bob-00002", carol: "carol-0003"}
	seq := uint64(0)
	ev := func(min int, typ bus.Type, set func(*bus.Event)) string {
		seq++
		at := t0.Add(time.Duration(min) * time.Minute).Add(123456789 * time.Nanosecond)
		e := bus.Event{V: bus.Version, ID: bus.NewID(at), Type: typ, Session: n.session, Seq: seq, At: at, DJ: n.dj}
		if set != nil {
			set(&e)
		}
		if err := e.Validate(); err != nil {
			panic(err)
		}
		n.events = append(n.events, e)
		return e.ID
	}
	track := func(artist, title string) bus.Track {
		tr := bus.NewTrack(artist, title)
		return tr
	}
	ev(0, bus.TypeSessionStarted, func(e *bus.Event) { e.Started = &bus.SessionStarted{DJName: "DJ Kyle"} })
	n.play1 = ev(0, bus.TypeTrackPlayed, func(e *bus.Event) {
		tr := track("Ed Sheeran", "Shape of You")
		tr.Album, tr.BPM, tr.Key, tr.Duration = "÷", 96, "C#m", 233.5
		e.Play = &bus.Play{Track: tr, Source: "virtualdj", SourceKey: "k1"}
	})
	n.poll = bus.NewID(t0.Add(time.Minute))
	ends := t0.Add(3 * time.Minute)
	ev(1, bus.TypePollStarted, func(e *bus.Event) {
		e.Poll = &bus.Poll{ID: n.poll, Question: "Next?", Options: []string{"Blues", "Pop"}, EndsAt: &ends}
	})
	n.ann = bus.NewID(t0.Add(2 * time.Minute))
	ev(2, bus.TypeAnnouncementMade, func(e *bus.Event) {
		e.Announcement = &bus.Announcement{ID: n.ann, Text: "Jack & Jill at 10", EndsAt: t0.Add(7 * time.Minute)}
	})
	ev(3, bus.TypePollClosed, func(e *bus.Event) {
		e.PollResult = &bus.PollResult{ID: n.poll, Reason: bus.PollTimedOut, Counts: []int{2, 1}, Total: 3, Winner: 0}
	})
	ev(4, bus.TypeAnnouncementCancelled, func(e *bus.Event) { e.Ref = &bus.Ref{ID: n.ann} })
	n.play2 = ev(4, bus.TypeTrackPlayed, func(e *bus.Event) {
		e.Play = &bus.Play{Track: track("Unknown", "Tst Track"), Source: "manual"}
	})
	ev(5, bus.TypePlayCorrected, func(e *bus.Event) {
		e.Correction = &bus.Correction{PlayID: n.play2, Title: "Test Track", Artist: "Someone"}
	})
	ev(6, bus.TypePlayCorrected, func(e *bus.Event) {
		e.Correction = &bus.Correction{PlayID: n.play2, Title: "Test Track (Remix)", Artist: "Someone Else"}
	})
	ev(6, bus.TypePlayHidden, func(e *bus.Event) { e.Ref = &bus.Ref{ID: n.play2} })
	ev(7, bus.TypeBroadcastPaused, nil)
	ev(7, bus.TypeBroadcastResumed, nil)
	ev(8, bus.TypeTrackStopped, nil)
	ev(9, bus.TypeSessionEnded, func(e *bus.Event) { e.Ended = &bus.SessionEnded{Reason: bus.EndByDJ} })

	act := func(sec int, kind bus.ActionKind, client string, set func(*bus.Action)) {
		at := t0.Add(time.Duration(sec) * time.Second).Add(987654321 * time.Nanosecond)
		a := bus.Action{V: bus.Version, ID: bus.NewID(at), Kind: kind, Session: n.session, Client: client, At: at}
		if set != nil {
			set(&a)
		}
		if err := a.Validate(); err != nil {
			panic(err)
		}
		n.actions = append(n.actions, a)
	}
	opt := func(i int) *int { return &i }
	// Alice likes play 1, unlikes, likes again: liked. Bob likes then unlikes: not liked.
	act(10, bus.ActLike, n.alice, func(a *bus.Action) { a.PlayID = n.play1 })
	act(11, bus.ActUnlike, n.alice, func(a *bus.Action) { a.PlayID = n.play1 })
	act(12, bus.ActLike, n.alice, func(a *bus.Action) { a.PlayID = n.play1 })
	act(13, bus.ActLike, n.bob, func(a *bus.Action) { a.PlayID = n.play1 })
	act(14, bus.ActUnlike, n.bob, func(a *bus.Action) { a.PlayID = n.play1 })
	act(15, bus.ActLike, n.carol, func(a *bus.Action) { a.PlayID = n.play2 })
	// Tempo: Alice slower then faster; Bob perfect then clear.
	act(20, bus.ActTempo, n.alice, func(a *bus.Action) { a.PlayID, a.Tempo = n.play1, bus.TempoSlower })
	act(21, bus.ActTempo, n.alice, func(a *bus.Action) { a.PlayID, a.Tempo = n.play1, bus.TempoFaster })
	act(22, bus.ActTempo, n.bob, func(a *bus.Action) { a.PlayID, a.Tempo = n.play1, bus.TempoPerfect })
	act(23, bus.ActTempo, n.bob, func(a *bus.Action) { a.PlayID, a.Tempo = n.play1, bus.TempoClear })
	// Votes: Alice votes 0 then (refused at the gateway, stored anyway here) 1: the first stands.
	act(70, bus.ActVote, n.alice, func(a *bus.Action) { a.PollID, a.Option = n.poll, opt(0) })
	act(71, bus.ActVote, n.alice, func(a *bus.Action) { a.PollID, a.Option = n.poll, opt(1) })
	act(72, bus.ActVote, n.bob, func(a *bus.Action) { a.PollID, a.Option = n.poll, opt(1) })
	act(80, bus.ActThanks, n.alice, nil)
	act(81, bus.ActThanks, n.alice, nil)
	act(82, bus.ActThanks, n.carol, nil)
	return n
}

// dump renders every table of the history, ordered by key, ignoring the
// columns that say when a row was written rather than what it holds.
func dump(t testing.TB, st *pgstore.Store) string {
	t.Helper()
	ctx := context.Background()
	queries := []string{
		`SELECT id, name, name_at FROM djs ORDER BY id`,
		`SELECT id, dj_id, dj_name, started_at, ended_at, end_reason, last_seq FROM sessions ORDER BY id`,
		`SELECT id, session_id, seq, played_at, track_id, title, artist, album, bpm, key, duration_sec, source, hidden, corrected_title, corrected_artist FROM plays ORDER BY id`,
		`SELECT play_id, client_id, session_id, liked, action_id, at FROM likes ORDER BY play_id, client_id`,
		`SELECT play_id, client_id, session_id, choice, action_id, at FROM tempo_votes ORDER BY play_id, client_id`,
		`SELECT id, session_id, question, options, started_at, ends_at, closed_at, close_reason, counts, total, winner FROM polls ORDER BY id`,
		`SELECT poll_id, client_id, session_id, option, action_id, at FROM poll_votes ORDER BY poll_id, client_id`,
		`SELECT id, session_id, text, made_at, ends_at, cancelled_at FROM announcements ORDER BY id`,
		`SELECT id, session_id, client_id, kind, at FROM reactions ORDER BY id`,
	}
	var b strings.Builder
	for _, q := range queries {
		table := strings.Fields(q[strings.Index(q, " FROM ")+6:])[0]
		rows, err := st.Pool().Query(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		vals, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (string, error) {
			v, err := r.Values()
			for i, x := range v {
				switch y := x.(type) {
				case time.Time:
					v[i] = y.UTC().Format(time.RFC3339Nano)
				case nil:
					v[i] = "NULL"
				}
			}
			return fmt.Sprint(v), err
		})
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "%s:\n", table)
		for _, v := range vals {
			fmt.Fprintf(&b, "  %s\n", v)
		}
	}
	return b.String()
}

func count(t testing.TB, st *pgstore.Store, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := st.Pool().QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

func write(t testing.TB, st *pgstore.Store, events []bus.Event, actions []bus.Action) {
	t.Helper()
	if err := st.WriteBatch(context.Background(), events, actions); err != nil {
		t.Fatal(err)
	}
}

// TestWriteBatchEveryType writes one night in one batch and checks each
// event and action landed where it belongs.
func TestWriteBatchEveryType(t *testing.T) {
	t.Parallel()
	st := newStore(t)
	n := newNight()
	write(t, st, n.events, n.actions)
	ctx := context.Background()
	one := func(sql string, dst ...any) {
		t.Helper()
		if err := st.Pool().QueryRow(ctx, sql, n.session).Scan(dst...); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}

	var djName, djID, endReason string
	var started, ended time.Time
	var lastSeq int64
	one(`SELECT s.dj_id, d.name, s.started_at, s.ended_at, s.end_reason, s.last_seq FROM sessions s JOIN djs d ON d.id = s.dj_id WHERE s.id = $1`,
		&djID, &djName, &started, &ended, &endReason, &lastSeq)
	if djID != n.dj || djName != "DJ Kyle" || !started.Equal(n.events[0].At.Truncate(time.Microsecond)) ||
		!ended.Equal(n.events[len(n.events)-1].At.Truncate(time.Microsecond)) || endReason != bus.EndByDJ || lastSeq != int64(len(n.events)) {
		t.Errorf("session: dj %s %q, %v–%v %q, last seq %d", djID, djName, started, ended, endReason, lastSeq)
	}

	var title, album, key, source string
	var bpm, dur float32
	var hidden bool
	var playedAt time.Time
	one(`SELECT title, album, bpm, key, duration_sec, source, hidden, played_at FROM plays WHERE session_id = $1 AND seq = 2`,
		&title, &album, &bpm, &key, &dur, &source, &hidden, &playedAt)
	if title != "Shape of You" || album != "÷" || bpm != 96 || key != "C#m" || dur != 233.5 || source != "virtualdj" || hidden ||
		!playedAt.Equal(n.events[1].At.Truncate(time.Microsecond)) {
		t.Errorf("play 1: %q %q %v %q %v %q hidden=%v at %v", title, album, bpm, key, dur, source, hidden, playedAt)
	}
	var ct, ca *string
	var nullAlbum, nullBPM bool
	one(`SELECT hidden, corrected_title, corrected_artist, album IS NULL, bpm IS NULL FROM plays WHERE session_id = $1 AND seq = 7`,
		&hidden, &ct, &ca, &nullAlbum, &nullBPM)
	if !hidden || ct == nil || *ct != "Test Track (Remix)" || ca == nil || *ca != "Someone Else" || !nullAlbum || !nullBPM {
		t.Errorf("play 2: hidden=%v corrected %v %v, album null %v, bpm null %v", hidden, ct, ca, nullAlbum, nullBPM)
	}

	var question, options, reason, counts string
	var total, winner int
	var endsAt time.Time
	one(`SELECT question, options::text, ends_at, close_reason, counts::text, total, winner FROM polls WHERE session_id = $1`,
		&question, &options, &endsAt, &reason, &counts, &total, &winner)
	if question != "Next?" || options != `["Blues", "Pop"]` || !endsAt.Equal(t0.Add(3*time.Minute)) || reason != bus.PollTimedOut ||
		counts != "[2, 1]" || total != 3 || winner != 0 {
		t.Errorf("poll: %q %s ends %v, %q %s %d %d", question, options, endsAt, reason, counts, total, winner)
	}

	var text string
	var cancelled *time.Time
	one(`SELECT text, cancelled_at FROM announcements WHERE session_id = $1`, &text, &cancelled)
	if text != "Jack & Jill at 10" || cancelled == nil {
		t.Errorf("announcement: %q cancelled %v", text, cancelled)
	}

	for _, c := range []struct {
		what string
		got  int
		want int
	}{
		{"plays", count(t, st, `SELECT count(*) FROM plays WHERE session_id = $1`, n.session), 2},
		{"alice likes play 1", count(t, st, `SELECT count(*) FROM likes WHERE play_id = $1 AND client_id = $2 AND liked`, n.play1, n.alice), 1},
		{"bob's like of play 1 undone", count(t, st, `SELECT count(*) FROM likes WHERE play_id = $1 AND client_id = $2 AND NOT liked`, n.play1, n.bob), 1},
		{"carol likes play 2", count(t, st, `SELECT count(*) FROM likes WHERE play_id = $1 AND client_id = $2 AND liked`, n.play2, n.carol), 1},
		{"alice votes faster", count(t, st, `SELECT count(*) FROM tempo_votes WHERE client_id = $1 AND choice = 'faster'`, n.alice), 1},
		{"bob cleared his tempo", count(t, st, `SELECT count(*) FROM tempo_votes WHERE client_id = $1 AND choice IS NULL`, n.bob), 1},
		{"alice's first vote stands", count(t, st, `SELECT count(*) FROM poll_votes WHERE client_id = $1 AND option = 0`, n.alice), 1},
		{"bob's vote", count(t, st, `SELECT count(*) FROM poll_votes WHERE client_id = $1 AND option = 1`, n.bob), 1},
		{"thanks", count(t, st, `SELECT count(*) FROM reactions WHERE session_id = $1 AND kind = 'thanks'`, n.session), 3},
	} {
		if c.got != c.want {
			t.Errorf("%s: %d rows, want %d", c.what, c.got, c.want)
		}
	}
}

// TestWriteBatchTwice: the same batch written again changes nothing.
func TestWriteBatchTwice(t *testing.T) {
	t.Parallel()
	st := newStore(t)
	n := newNight()
	write(t, st, n.events, n.actions)
	first := dump(t, st)
	write(t, st, n.events, n.actions)
	if again := dump(t, st); again != first {
		t.Fatalf("second write changed the rows:\nfirst:\n%s\nagain:\n%s", first, again)
	}
	// Half of it again, with the items repeated inside one batch too.
	write(t, st, slices.Concat(n.events[:5], n.events[:5]), slices.Concat(n.actions[3:], n.actions[3:]))
	if again := dump(t, st); again != first {
		t.Fatalf("a repeated half changed the rows:\nfirst:\n%s\nagain:\n%s", first, again)
	}
}

// TestWriteBatchAnyOrder: forward in one batch, backward in one batch, and
// backward one item per batch all end in the same rows.
func TestWriteBatchAnyOrder(t *testing.T) {
	t.Parallel()
	n := newNight()
	forward := newStore(t)
	write(t, forward, n.events, n.actions)
	want := dump(t, forward)

	revEvents, revActions := slices.Clone(n.events), slices.Clone(n.actions)
	slices.Reverse(revEvents)
	slices.Reverse(revActions)

	backward := newStore(t)
	write(t, backward, revEvents, revActions)
	if got := dump(t, backward); got != want {
		t.Errorf("reversed batch:\n%s\nwant:\n%s", got, want)
	}

	oneByOne := newStore(t)
	for i := range revActions {
		write(t, oneByOne, nil, revActions[i:i+1])
	}
	for i := range revEvents {
		write(t, oneByOne, revEvents[i:i+1], nil)
	}
	if got := dump(t, oneByOne); got != want {
		t.Errorf("reversed, one item per batch, actions first:\n%s\nwant:\n%s", got, want)
	}
}

// TestLikeBeforePlay: a like written before its play (and its session) lands
// and is still there, still a like, once the play arrives.
func TestLikeBeforePlay(t *testing.T) {
	t.Parallel()
	st := newStore(t)
	n := newNight()
	like := n.actions[0]
	write(t, st, nil, []bus.Action{like})
	if got := count(t, st, `SELECT count(*) FROM likes WHERE play_id = $1 AND liked`, n.play1); got != 1 {
		t.Fatalf("like before its play: %d rows, want 1", got)
	}
	if got := count(t, st, `SELECT count(*) FROM sessions`); got != 0 {
		t.Fatalf("an action made %d session rows: sessions come from events", got)
	}
	write(t, st, n.events[1:2], nil) // the play, before its session.started
	if got := count(t, st, `SELECT count(*) FROM likes l JOIN plays p ON p.id = l.play_id WHERE l.liked`); got != 1 {
		t.Fatalf("like joined to its play: %d rows, want 1", got)
	}
	var name string
	if err := st.Pool().QueryRow(context.Background(), `SELECT dj_name FROM sessions WHERE id = $1`, n.session).Scan(&name); err != nil || name != "" {
		t.Fatalf("placeholder session: name %q, %v", name, err)
	}
	write(t, st, n.events[:1], nil)
	if err := st.Pool().QueryRow(context.Background(), `SELECT dj_name FROM sessions WHERE id = $1`, n.session).Scan(&name); err != nil || name != "DJ Kyle" {
		t.Fatalf("session after its session.started: name %q, %v", name, err)
	}
}

// TestDeleteJournal: nothing of the dancer is left, everyone else's is.
func TestDeleteJournal(t *testing.T) {
	t.Parallel()
	st := newStore(t)
	n := newNight()
	write(t, st, n.events, n.actions)
	journal := `SELECT (SELECT count(*) FROM likes WHERE client_id = $1) + (SELECT count(*) FROM tempo_votes WHERE client_id = $1)
		+ (SELECT count(*) FROM poll_votes WHERE client_id = $1) + (SELECT count(*) FROM reactions WHERE client_id = $1)`
	before, bob := count(t, st, journal, n.alice), count(t, st, journal, n.bob)
	got, err := st.DeleteJournal(context.Background(), n.alice)
	if err != nil {
		t.Fatal(err)
	}
	if got != int64(before) || before != 5 {
		t.Errorf("deleted %d rows, alice had %d (want 5: a like, a tempo vote, a poll vote, two thanks)", got, before)
	}
	if left := count(t, st, journal, n.alice); left != 0 {
		t.Errorf("%d rows of alice left", left)
	}
	if left := count(t, st, journal, n.bob); left != bob || bob == 0 {
		t.Errorf("bob's rows: %d, had %d", left, bob)
	}
	if got, err := st.DeleteJournal(context.Background(), n.alice); err != nil || got != 0 {
		t.Errorf("second delete: %d, %v", got, err)
	}
	// The stream still holds alice's actions: replaying them writes none of
	// them back, while bob's stay as they were.
	write(t, st, n.events, n.actions)
	if left := count(t, st, journal, n.alice); left != 0 {
		t.Errorf("a replay wrote back %d rows of a deleted journal", left)
	}
	if left := count(t, st, journal, n.bob); left != bob {
		t.Errorf("bob's rows after the replay: %d, had %d", left, bob)
	}
}

// TestWriteBatchEmpty: nothing to write is not an error and needs no database.
func TestWriteBatchEmpty(t *testing.T) {
	st, err := pgstore.Open(context.Background(), "postgres://nobody@127.0.0.1:1/none")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.WriteBatch(context.Background(), nil, nil); err != nil {
		t.Fatal(err)
	}
	if err := st.WriteBatch(context.Background(), nil, []bus.Action{{Kind: bus.ActLike}}); err != nil {
		t.Fatal(err)
	}
}

func TestOpenBadURL(t *testing.T) {
	if _, err := pgstore.Open(context.Background(), "postgres://a b@:x"); err == nil || !strings.Contains(err.Error(), "pgstore: database URL") {
		t.Fatalf("bad URL: %v", err)
	}
}

// TestPausedPlaysWithheld: a play stored while the track list was paused
// is withheld (plays.hidden) like a hidden play; one after the resume is
// not; and the answer is the same whatever order the events are written in.
func TestPausedPlaysWithheld(t *testing.T) {
	dj, sid := bus.NewDJID(), bus.NewID(t0)
	var evs []bus.Event
	seq := uint64(0)
	add := func(typ bus.Type, title string) string {
		seq++
		at := t0.Add(time.Duration(seq) * time.Minute)
		e := bus.Event{V: bus.Version, ID: bus.NewID(at), Type: typ, Session: sid, Seq: seq, At: at, DJ: dj}
		switch typ {
		case bus.TypeSessionStarted:
			e.Started = &bus.SessionStarted{DJName: "DJ"}
		case bus.TypeTrackPlayed:
			e.Play = &bus.Play{Track: bus.NewTrack("A", title)}
		}
		evs = append(evs, e)
		return e.ID
	}
	add(bus.TypeSessionStarted, "")
	before := add(bus.TypeTrackPlayed, "Before")
	add(bus.TypeBroadcastPaused, "")
	private := add(bus.TypeTrackPlayed, "Private")
	add(bus.TypeBroadcastResumed, "")
	after := add(bus.TypeTrackPlayed, "After")
	want := map[string]bool{before: false, private: true, after: false}

	orders := map[string][][]bus.Event{
		"in order, one batch": {evs},
		"reversed, one event a batch": func() [][]bus.Event {
			var out [][]bus.Event
			for i := len(evs) - 1; i >= 0; i-- {
				out = append(out, []bus.Event{evs[i]})
			}
			return out
		}(),
		"plays first, marks later": {{evs[0], evs[1], evs[3], evs[5]}, {evs[4]}, {evs[2]}},
	}
	for name, batches := range orders {
		t.Run(name, func(t *testing.T) {
			st := newStore(t)
			ctx := context.Background()
			for _, b := range batches {
				if err := st.WriteBatch(ctx, b, nil); err != nil {
					t.Fatal(err)
				}
			}
			for id, hidden := range want {
				var got bool
				if err := st.Pool().QueryRow(ctx, `SELECT hidden FROM plays WHERE id = $1`, id).Scan(&got); err != nil {
					t.Fatal(err)
				}
				if got != hidden {
					t.Errorf("play %s hidden = %v, want %v", id, got, hidden)
				}
			}
		})
	}
}

// Package persistertest makes a night's worth of events and dancer actions
// for the persister's tests and benchmark, publishes them the way the DJ
// side and the gateway do (message id = event id), and knows how many rows
// of each table they must become.
package persistertest

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/pika-dj/pika/bus"
)

// Item is one thing published: an event or an action.
type Item struct {
	Event  *bus.Event
	Action *bus.Action
}

// At is when it happened at its origin.
func (it Item) At() time.Time {
	if it.Event != nil {
		return it.Event.At
	}
	return it.Action.At
}

// Rows counts what the tables must hold.
type Rows struct {
	Sessions, Plays, Polls, ClosedPolls, Announcements           int
	Likes, Liked, TempoVotes, ClearedTempo, PollVotes, Reactions int
}

// Workload is a DJ's session with its crowd, oldest first.
type Workload struct {
	DJ      string
	Session string
	Items   []Item
	Want    Rows
}

// Events and Actions count the items of each kind.
func (w *Workload) Events() int {
	n := 0
	for _, it := range w.Items {
		if it.Event != nil {
			n++
		}
	}
	return n
}

// Actions counts the dancer actions.
func (w *Workload) Actions() int { return len(w.Items) - w.Events() }

// Night makes about total items for DJ dj: a session with plays, polls and
// announcements (about 4% of the items) and the crowd's likes, unlikes,
// tempo votes (each dancer voting twice, some clearing), poll votes (some
// sent twice with new ids: the first counts) and thank-yous.
func Night(dj string, total int) *Workload {
	const clients = 400
	t0 := time.Now().Add(-6 * time.Hour).Truncate(time.Millisecond)
	sid := bus.NewID(t0)
	w := &Workload{DJ: dj, Session: sid}
	client := func(i int) string { return fmt.Sprintf("dancer-%06d", i%clients) }
	ev := func(t bus.Type, at time.Time, set func(*bus.Event)) *bus.Event {
		e := &bus.Event{V: bus.Version, ID: bus.NewID(at), Type: t, Session: sid, At: at, DJ: dj}
		set(e)
		w.Items = append(w.Items, Item{Event: e})
		return e
	}
	act := func(k bus.ActionKind, at time.Time, c string, set func(*bus.Action)) {
		a := &bus.Action{V: bus.Version, ID: bus.NewID(at), Kind: k, Session: sid, Client: c, At: at}
		set(a)
		w.Items = append(w.Items, Item{Action: a})
	}

	nPlays := max(total/40, 2)
	nPolls := max(total/1000, 1)
	nAnn := max(total/1000, 1)
	ev(bus.TypeSessionStarted, t0, func(e *bus.Event) { e.Started = &bus.SessionStarted{DJName: "DJ Persister"} })
	var plays []string
	for i := range nPlays {
		at := t0.Add(time.Duration(i+1) * 30 * time.Second)
		tr := bus.NewTrack("Artist "+strconv.Itoa(i%37), "Title "+strconv.Itoa(i))
		tr.BPM = 90 + float64(i%30)
		e := ev(bus.TypeTrackPlayed, at, func(e *bus.Event) { e.Play = &bus.Play{Track: tr, Source: "demo"} })
		plays = append(plays, e.ID)
	}
	var polls []string
	for i := range nPolls {
		at := t0.Add(time.Duration(i+1) * 5 * time.Minute)
		id := bus.NewID(at)
		polls = append(polls, id)
		ev(bus.TypePollStarted, at, func(e *bus.Event) {
			e.Poll = &bus.Poll{ID: id, Question: "Next? " + strconv.Itoa(i), Options: []string{"Blues", "Lyrical", "Pop"}}
		})
		ev(bus.TypePollClosed, at.Add(time.Hour), func(e *bus.Event) {
			e.PollResult = &bus.PollResult{ID: id, Reason: bus.PollEnded, Counts: []int{0, 0, 0}, Total: 0, Winner: -1}
		})
	}
	for i := range nAnn {
		at := t0.Add(time.Duration(i+1) * 7 * time.Minute)
		ev(bus.TypeAnnouncementMade, at, func(e *bus.Event) {
			e.Announcement = &bus.Announcement{ID: bus.NewID(at), Text: "Water at the bar " + strconv.Itoa(i), EndsAt: at.Add(5 * time.Minute)}
		})
	}
	w.Want.Sessions, w.Want.Plays, w.Want.Polls, w.Want.ClosedPolls, w.Want.Announcements = 1, nPlays, nPolls, nPolls, nAnn

	rest := max(total-len(w.Items), 10)
	nLikes, nUnlikes, nTempo, nVotes := rest*40/100, rest*10/100, rest*24/100, rest*10/100
	nThanks := rest - nLikes - nUnlikes - nTempo - nVotes
	playAt := func(p int) time.Time { return t0.Add(time.Duration(p%nPlays+1) * 30 * time.Second) }
	ms := func(i int) time.Duration { return time.Duration(i%25000) * time.Millisecond }
	// Like i is dancer i/nPlays liking play i%nPlays: distinct pairs.
	for i := range nLikes {
		act(bus.ActLike, playAt(i).Add(ms(i)), client(i/nPlays), func(a *bus.Action) { a.PlayID = plays[i%nPlays] })
	}
	// The first nUnlikes likes are taken back, later.
	for i := range min(nUnlikes, nLikes) {
		act(bus.ActUnlike, playAt(i).Add(26*time.Second+ms(i)/10), client(i/nPlays), func(a *bus.Action) { a.PlayID = plays[i%nPlays] })
	}
	w.Want.Likes, w.Want.Liked = nLikes, nLikes-min(nUnlikes, nLikes)
	// Each dancer votes tempo on a play twice; the second vote wins, and
	// every fifth second vote clears it.
	pairs := (nTempo + 1) / 2
	choices := []string{bus.TempoSlower, bus.TempoPerfect, bus.TempoFaster}
	for i := range nTempo {
		p := i % pairs
		choice := choices[i%3]
		second := i >= pairs
		if second && p%5 == 0 {
			choice = bus.TempoClear
			w.Want.ClearedTempo++
		}
		at := playAt(p).Add(ms(p))
		if second {
			at = at.Add(time.Second)
		}
		act(bus.ActTempo, at, client(p/nPlays), func(a *bus.Action) { a.PlayID = plays[p%nPlays]; a.Tempo = choice })
	}
	w.Want.TempoVotes = pairs
	// Votes: dancer i/nPolls on poll i%nPolls; every tenth dancer sends a
	// second vote with a new id, which must not count twice.
	distinct := 0
	for i := range nVotes {
		p, c := i%nPolls, i/nPolls
		if i%10 == 9 {
			p, c = (i-1)%nPolls, (i-1)/nPolls
		} else {
			distinct++
		}
		opt := i % 3
		at := t0.Add(time.Duration(p+1)*5*time.Minute + ms(i))
		act(bus.ActVote, at, client(c), func(a *bus.Action) { a.PollID = polls[p]; a.Option = &opt })
	}
	if nVotes/nPolls > clients {
		panic("persistertest: more votes than dancers")
	}
	w.Want.PollVotes = distinct
	for i := range nThanks {
		act(bus.ActThanks, t0.Add(ms(i)*7), client(i), func(*bus.Action) {})
	}
	w.Want.Reactions = nThanks

	// Oldest first, and the session's events numbered in that order, as the
	// DJ side's single writer numbers them.
	slices.SortStableFunc(w.Items, func(a, b Item) int { return a.At().Compare(b.At()) })
	var seq uint64
	for _, it := range w.Items {
		if it.Event != nil {
			seq++
			it.Event.Seq = seq
		}
	}
	return w
}

// Msg is an item as the bus stores it: its subject, body and message id.
func (it Item) Msg() (*nats.Msg, error) {
	var (
		m   *nats.Msg
		err error
		id  string
	)
	if e := it.Event; e != nil {
		m, id = nats.NewMsg(bus.SessionSubject(e.Session, e.Type)), e.ID
		m.Data, err = bus.Encode(*e)
	} else {
		a := it.Action
		if err = a.Validate(); err == nil {
			m, id = nats.NewMsg(bus.ActionSubject(a.Session, a.Kind)), a.ID
			m.Data, err = json.Marshal(a)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("persistertest: encode: %w", err)
	}
	m.Header.Set(jetstream.MsgIDHeader, id)
	m.Header.Set(bus.HeaderOriginTime, it.At().UTC().Format(time.RFC3339Nano))
	return m, nil
}

// Publish stores items with pipelined publishes, 256 in flight, retrying
// any that fails with the same message id (so none is stored twice).
func Publish(ctx context.Context, js jetstream.JetStream, items []Item) error {
	const window = 256
	for start := 0; start < len(items); start += window {
		chunk := items[start:min(start+window, len(items))]
		msgs := make([]*nats.Msg, len(chunk))
		futures := make([]jetstream.PubAckFuture, len(chunk))
		for i, it := range chunk {
			m, err := it.Msg()
			if err != nil {
				return err
			}
			msgs[i] = m
			if futures[i], err = js.PublishMsgAsync(m); err != nil {
				futures[i] = nil
			}
		}
		for i, f := range futures {
			if f != nil {
				select {
				case <-f.Ok():
					continue
				case <-f.Err():
				case <-ctx.Done():
					return ctx.Err()
				}
			}
			if err := publishSync(ctx, js, msgs[i]); err != nil {
				return err
			}
		}
	}
	return nil
}

func publishSync(ctx context.Context, js jetstream.JetStream, m *nats.Msg) error {
	for attempt := 0; ; attempt++ {
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, err := js.PublishMsg(pctx, m)
		cancel()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil || attempt == 20 {
			return fmt.Errorf("persistertest: publish %s: %w", m.Subject, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Count reads what the tables hold for session sid.
func Count(ctx context.Context, conn *pgx.Conn, sid string) (Rows, error) {
	var r Rows
	q := []struct {
		dst *int
		sql string
	}{
		{&r.Sessions, `SELECT count(*) FROM sessions WHERE id = $1`},
		{&r.Plays, `SELECT count(*) FROM plays WHERE session_id = $1`},
		{&r.Polls, `SELECT count(*) FROM polls WHERE session_id = $1`},
		{&r.ClosedPolls, `SELECT count(*) FROM polls WHERE session_id = $1 AND closed_at IS NOT NULL`},
		{&r.Announcements, `SELECT count(*) FROM announcements WHERE session_id = $1`},
		{&r.Likes, `SELECT count(*) FROM likes WHERE session_id = $1`},
		{&r.Liked, `SELECT count(*) FROM likes WHERE session_id = $1 AND liked`},
		{&r.TempoVotes, `SELECT count(*) FROM tempo_votes WHERE session_id = $1`},
		{&r.ClearedTempo, `SELECT count(*) FROM tempo_votes WHERE session_id = $1 AND choice IS NULL`},
		{&r.PollVotes, `SELECT count(*) FROM poll_votes WHERE session_id = $1`},
		{&r.Reactions, `SELECT count(*) FROM reactions WHERE session_id = $1`},
	}
	for _, x := range q {
		if err := conn.QueryRow(ctx, x.sql, sid).Scan(x.dst); err != nil {
			return r, fmt.Errorf("persistertest: count: %s: %w", x.sql, err)
		}
	}
	return r, nil
}

// Total is the number of rows r counts in tables that get one row per item
// or pair (for progress: it grows to want.Total() as the persister works).
func (r Rows) Total() int {
	return r.Sessions + r.Plays + r.Polls + r.Announcements + r.Likes + r.TempoVotes + r.PollVotes + r.Reactions
}

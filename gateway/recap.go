package gateway

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/pika-dj/pika/bus"
	"github.com/pika-dj/pika/internal/history"
)

// streamRecap folds a session's recap from its events and its dancers'
// actions as the streams hold them: the recap of a LAN night with no
// PostgreSQL, and of any session the database has not got (yet). It reads
// the streams afresh rather than a feed, which keeps only what phones
// need (per-play tempo votes of past plays are not among it).
func (h *hub) streamRecap(ctx context.Context, sid string, owner bool, now time.Time) (history.Recap, error) {
	at, err := h.locate(ctx, sid)
	if err != nil {
		return history.Recap{}, err
	}
	f := newRecapFold()
	err = h.readAll(ctx, at.events.stream, at.events.filter, true, func(data []byte) {
		e, err := bus.Decode(data)
		if err != nil {
			h.log.Error("recap: undecodable stored event", "session", sid, "err", err)
			return
		}
		f.event(e)
	})
	if err != nil {
		return history.Recap{}, err
	}
	for _, src := range at.actions { // the fold counts an id stored in both once
		err = h.readAll(ctx, src.stream, src.filter, false, func(data []byte) {
			actions, err := bus.DecodeActions(data)
			if err != nil {
				h.log.Error("recap: undecodable stored action", "session", sid, "err", err)
			}
			for _, a := range actions {
				if a.Session == sid {
					f.action(a)
				}
			}
		})
		if err != nil {
			return history.Recap{}, err
		}
	}
	if f.state.ID == "" {
		return history.Recap{}, errUnknownSession
	}
	return f.recap(owner, now), nil
}

// readAll hands every message of filter in stream to handle, oldest
// first, up to the last one stored when it starts. With mustExist, a
// filter with no messages is errUnknownSession.
func (h *hub) readAll(ctx context.Context, stream, filter string, mustExist bool, handle func([]byte)) error {
	st, err := h.js.Stream(ctx, stream)
	if err != nil {
		return fmt.Errorf("gateway: open stream %s: %w", stream, err)
	}
	last, err := st.GetLastMsgForSubject(ctx, filter)
	switch {
	case errors.Is(err, jetstream.ErrMsgNotFound):
		if mustExist {
			return errUnknownSession
		}
		return nil
	case err != nil:
		return fmt.Errorf("gateway: find %s in %s: %w", filter, stream, err)
	}
	cons, err := st.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{filter},
		DeliverPolicy:  jetstream.DeliverAllPolicy,
	})
	if err != nil {
		return fmt.Errorf("gateway: read %s in %s: %w", filter, stream, err)
	}
	for {
		wait := time.Second
		if d, ok := ctx.Deadline(); ok {
			wait = min(max(time.Until(d), 10*time.Millisecond), 5*time.Second)
		}
		batch, err := cons.Fetch(1000, jetstream.FetchMaxWait(wait))
		if err != nil {
			return fmt.Errorf("gateway: read %s in %s: %w", filter, stream, err)
		}
		for msg := range batch.Messages() {
			meta, err := msg.Metadata()
			if err != nil {
				return fmt.Errorf("gateway: read %s in %s: %w", filter, stream, err)
			}
			handle(msg.Data())
			if meta.Sequence.Stream >= last.Sequence {
				return nil
			}
		}
		if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) {
			return fmt.Errorf("gateway: read %s in %s: %w", filter, stream, err)
		}
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("gateway: read %s in %s: %w", filter, stream, err)
		}
	}
}

// recapFold is a session folded for its recap. It counts the stored
// actions rather than judging them again: every stored action was accepted
// by a gateway's bus.Crowd when it was made, so only what the crowd's rules
// make of a sequence of accepted actions is repeated here (an unlike undoes
// a like, the latest tempo vote wins, the first poll vote stands, an id
// stored twice counts once).
type recapFold struct {
	state    bus.SessionState
	plays    []*recapPlay // oldest first
	byID     map[string]*recapPlay
	polls    []*history.Poll
	pollByID map[string]*history.Poll
	votes    map[string]map[string]int // poll id → client → option
	seen     map[string]struct{}       // action ids counted
	thanks   int
}

type recapPlay struct {
	track  bus.PlayedTrack
	hidden bool
	likes  map[string]struct{} // client ids
	tempo  map[string]string   // client id → choice
}

func newRecapFold() *recapFold {
	return &recapFold{byID: map[string]*recapPlay{}, pollByID: map[string]*history.Poll{},
		votes: map[string]map[string]int{}, seen: map[string]struct{}{}}
}

// event folds one session event, in the session's order (seq).
func (f *recapFold) event(e bus.Event) {
	paused := f.state.Paused
	if !f.state.Apply(e) {
		return // folded already
	}
	switch e.Type {
	case bus.TypeTrackPlayed:
		if f.byID[e.ID] != nil {
			return
		}
		p := &recapPlay{track: bus.PlayedTrack{PlayID: e.ID, PlayedAt: e.At, Track: e.Play.Track},
			hidden: paused, likes: map[string]struct{}{}, tempo: map[string]string{}}
		f.plays = append(f.plays, p)
		f.byID[e.ID] = p
	case bus.TypePlayHidden:
		if p := f.byID[e.Ref.ID]; p != nil {
			p.hidden = true
		}
	case bus.TypePlayCorrected:
		if p := f.byID[e.Correction.PlayID]; p != nil {
			p.track.Title, p.track.Artist = e.Correction.Title, e.Correction.Artist
		}
	case bus.TypePollStarted:
		if f.pollByID[e.Poll.ID] != nil {
			return
		}
		p := &history.Poll{ID: e.Poll.ID, Question: e.Poll.Question, Options: append([]string(nil), e.Poll.Options...),
			StartedAt: e.At, EndsAt: e.Poll.EndsAt, Counts: make([]int, len(e.Poll.Options)), Winner: -1}
		f.polls = append(f.polls, p)
		f.pollByID[p.ID] = p
	case bus.TypePollClosed:
		if p := f.pollByID[e.PollResult.ID]; p != nil && p.ClosedAt == nil {
			at := e.At
			r := e.PollResult
			p.ClosedAt, p.CloseReason = &at, r.Reason
			p.Counts, p.Total, p.Winner = append([]int(nil), r.Counts...), r.Total, r.Winner
		}
	}
}

// action counts one stored dancer action.
func (f *recapFold) action(a bus.Action) {
	if _, ok := f.seen[a.ID]; ok {
		return
	}
	f.seen[a.ID] = struct{}{}
	switch a.Kind {
	case bus.ActLike, bus.ActUnlike, bus.ActTempo:
		p := f.byID[a.PlayID]
		if p == nil {
			return // not a play of this session: the crowd refused it too
		}
		switch {
		case a.Kind == bus.ActLike:
			p.likes[a.Client] = struct{}{}
		case a.Kind == bus.ActUnlike:
			delete(p.likes, a.Client)
		case a.Tempo == bus.TempoClear:
			delete(p.tempo, a.Client)
		default:
			p.tempo[a.Client] = a.Tempo
		}
	case bus.ActVote:
		p := f.pollByID[a.PollID]
		if p == nil || a.Option == nil || *a.Option >= len(p.Options) {
			return
		}
		v := f.votes[a.PollID]
		if v == nil {
			v = map[string]int{}
			f.votes[a.PollID] = v
		}
		if _, voted := v[a.Client]; !voted {
			v[a.Client] = *a.Option
		}
	case bus.ActThanks:
		f.thanks++
	}
}

// recap is the fold as a recap: the public one leaves withheld plays out;
// the owner's has them (Hidden), the polls and the thank-yous.
func (f *recapFold) recap(owner bool, now time.Time) history.Recap {
	s := f.state
	r := history.Recap{
		Session: history.Session{ID: s.ID, DJID: s.DJ, DJName: s.DJName, StartedAt: s.StartedAt,
			EndedAt: s.EndedAt, EndReason: s.EndReason, LastActivityAt: s.LastActivityAt},
		Owner: owner,
		Plays: make([]history.Play, 0, len(f.plays)),
	}
	r.Session.Settle(now)
	for _, p := range f.plays {
		if p.hidden && !owner {
			continue
		}
		hp := history.Play{PlayedTrack: p.track, Likes: len(p.likes), Hidden: p.hidden}
		for _, choice := range p.tempo {
			hp.Tempo.Add(choice, 1)
		}
		r.Plays = append(r.Plays, hp)
	}
	if owner {
		thanks := f.thanks
		r.Thanks = &thanks
		r.Polls = make([]history.Poll, 0, len(f.polls))
		for _, p := range f.polls {
			poll := *p
			if poll.ClosedAt == nil { // still open: its votes so far
				poll.Counts, poll.Total, poll.Winner = make([]int, len(p.Options)), 0, -1
				for _, o := range f.votes[p.ID] {
					poll.Counts[o]++
					poll.Total++
				}
				for i, n := range poll.Counts {
					if n > 0 && (poll.Winner < 0 || n > poll.Counts[poll.Winner]) {
						poll.Winner = i
					}
				}
			}
			r.Polls = append(r.Polls, poll)
		}
	}
	r.Finish()
	return r
}

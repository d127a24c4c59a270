package bus_test

import (
	"testing"
	"time"

	"github.com/pika-dj/pika/bus"
)

type crowdEnv struct {
	c   *bus.Crowd
	sid string
	at  time.Time
}

func (e *crowdEnv) event(typ bus.Type, fill func(*bus.Event)) bus.Event {
	e.at = e.at.Add(time.Second)
	ev := bus.Event{ID: bus.NewID(e.at), Type: typ, Session: e.sid, At: e.at}
	if fill != nil {
		fill(&ev)
	}
	e.c.Event(ev)
	return ev
}

func (e *crowdEnv) act(kind bus.ActionKind, client string, fill func(*bus.Action)) bus.Verdict {
	e.at = e.at.Add(time.Second)
	a := bus.Action{V: bus.Version, ID: bus.NewID(e.at), Kind: kind, Session: e.sid, Client: client, At: e.at}
	if fill != nil {
		fill(&a)
	}
	return e.c.Apply(a)
}

func TestCrowdFold(t *testing.T) {
	e := &crowdEnv{c: bus.NewCrowd(), sid: bus.NewID(time.Now()), at: time.Now()}
	p1 := e.event(bus.TypeTrackPlayed, nil)
	onP1 := func(a *bus.Action) { a.PlayID = p1.ID }

	if v := e.act(bus.ActLike, "c-aaaaaaaa", onP1); !v.Accepted() || v.Duplicate {
		t.Fatalf("first like: %+v", v)
	}
	if v := e.act(bus.ActLike, "c-aaaaaaaa", onP1); !v.Duplicate {
		t.Fatalf("second like by the same dancer must be a duplicate: %+v", v)
	}
	e.act(bus.ActLike, "c-bbbbbbbb", onP1)
	if got := e.c.Tally(e.sid, e.at, 0).Likes[p1.ID]; got != 2 {
		t.Fatalf("likes = %d, want 2", got)
	}
	e.act(bus.ActUnlike, "c-bbbbbbbb", onP1)
	if v := e.act(bus.ActUnlike, "c-bbbbbbbb", onP1); !v.Duplicate {
		t.Fatalf("unlike of nothing: %+v", v)
	}
	if got := e.c.Tally(e.sid, e.at, 0).Likes[p1.ID]; got != 1 {
		t.Fatalf("likes after unlike = %d, want 1", got)
	}

	// Tempo: latest wins, clear really clears.
	tempo := func(choice string) func(*bus.Action) {
		return func(a *bus.Action) { a.PlayID, a.Tempo = p1.ID, choice }
	}
	e.act(bus.ActTempo, "c-aaaaaaaa", tempo(bus.TempoFaster))
	e.act(bus.ActTempo, "c-aaaaaaaa", tempo(bus.TempoSlower))
	e.act(bus.ActTempo, "c-bbbbbbbb", tempo(bus.TempoSlower))
	tt := e.c.Tally(e.sid, e.at, 0).Tempo
	if tt == nil || tt.Slower != 2 || tt.Faster != 0 || tt.PlayID != p1.ID {
		t.Fatalf("tempo = %+v", tt)
	}
	e.act(bus.ActTempo, "c-aaaaaaaa", tempo(bus.TempoClear))
	if tt = e.c.Tally(e.sid, e.at, 0).Tempo; tt.Slower != 1 {
		t.Fatalf("after clear: %+v", tt)
	}
	if v := e.act(bus.ActTempo, "c-aaaaaaaa", tempo(bus.TempoClear)); !v.Duplicate {
		t.Fatalf("clearing nothing: %+v", v)
	}

	// Unknown and hidden plays are refused.
	if v := e.act(bus.ActLike, "c-aaaaaaaa", func(a *bus.Action) { a.PlayID = bus.NewID(e.at) }); v.Code != bus.CodeUnknownPlay {
		t.Fatalf("like of an unknown play: %+v", v)
	}
	p2 := e.event(bus.TypeTrackPlayed, nil)
	e.event(bus.TypePlayHidden, func(ev *bus.Event) { ev.Ref = &bus.Ref{ID: p2.ID} })
	if v := e.act(bus.ActLike, "c-aaaaaaaa", func(a *bus.Action) { a.PlayID = p2.ID }); v.Code != bus.CodeUnknownPlay {
		t.Fatalf("like of a hidden play: %+v", v)
	}

	// Polls: one vote per dancer, closed polls refuse, results add up.
	ends := e.at.Add(time.Minute)
	poll := e.event(bus.TypePollStarted, func(ev *bus.Event) {
		ev.Poll = &bus.Poll{ID: bus.NewID(e.at), Question: "Tempo?", Options: []string{"Slower", "Same", "Faster"}, EndsAt: &ends}
	})
	vote := func(opt int) func(*bus.Action) {
		return func(a *bus.Action) { a.PollID, a.Option = poll.Poll.ID, &opt }
	}
	if v := e.act(bus.ActVote, "c-aaaaaaaa", vote(2)); !v.Accepted() || v.Duplicate {
		t.Fatalf("vote: %+v", v)
	}
	if v := e.act(bus.ActVote, "c-aaaaaaaa", vote(2)); !v.Duplicate {
		t.Fatalf("same vote again: %+v", v)
	}
	if v := e.act(bus.ActVote, "c-aaaaaaaa", vote(0)); v.Code != bus.CodeVoted {
		t.Fatalf("second vote: %+v", v)
	}
	if v := e.act(bus.ActVote, "c-bbbbbbbb", vote(5)); v.Code != bus.CodeBadOption {
		t.Fatalf("bad option: %+v", v)
	}
	e.act(bus.ActVote, "c-bbbbbbbb", vote(2))
	e.act(bus.ActVote, "c-cccccccc", vote(0))
	pt := e.c.Tally(e.sid, e.at, 0).Poll
	if pt == nil || pt.Total != 3 || pt.Counts[2] != 2 || pt.Counts[0] != 1 {
		t.Fatalf("poll tally = %+v", pt)
	}
	res, _ := e.c.PollResult(poll.Poll.ID, bus.PollEnded)
	if res.Winner != 2 || res.Total != 3 || res.Validate() != nil {
		t.Fatalf("result = %+v (%v)", res, res.Validate())
	}
	e.event(bus.TypePollClosed, func(ev *bus.Event) { ev.PollResult = &res })
	if v := e.act(bus.ActVote, "c-dddddddd", vote(1)); v.Code != bus.CodePollClosed {
		t.Fatalf("vote after close: %+v", v)
	}
	// A timed poll refuses votes at its end, by the action's time.
	short := e.at.Add(2 * time.Second)
	p3 := e.event(bus.TypePollStarted, func(ev *bus.Event) {
		ev.Poll = &bus.Poll{ID: bus.NewID(e.at), Question: "Vibe?", Options: []string{"Yes", "No"}, EndsAt: &short}
	})
	e.at = e.at.Add(10 * time.Second)
	one := 1
	if v := e.act(bus.ActVote, "c-dddddddd", func(a *bus.Action) { a.PollID, a.Option = p3.Poll.ID, &one }); v.Code != bus.CodePollClosed {
		t.Fatalf("vote after the timer: %+v", v)
	}

	// Thanks count; the same action id twice counts once.
	e.act(bus.ActThanks, "c-aaaaaaaa", nil)
	a := bus.Action{V: bus.Version, ID: bus.NewID(e.at), Kind: bus.ActThanks, Session: e.sid, Client: "c-aaaaaaaa", At: e.at}
	e.c.Apply(a)
	if v := e.c.Apply(a); !v.Duplicate {
		t.Fatalf("same thanks id twice: %+v", v)
	}
	if n := e.c.Tally(e.sid, e.at, 7).Thanks; n != 2 {
		t.Fatalf("thanks = %d, want 2", n)
	}

	mine := e.c.Mine("c-aaaaaaaa")
	if len(mine.Likes) != 1 || mine.Likes[0] != p1.ID || mine.Votes[poll.Poll.ID] != 2 {
		t.Fatalf("mine = %+v", mine)
	}
}

func TestActionValidate(t *testing.T) {
	now := time.Now()
	opt := 1
	good := bus.Action{V: 1, ID: bus.NewID(now), Kind: bus.ActVote, Session: bus.NewID(now), Client: "c-12345678", At: now,
		PollID: bus.NewID(now), Option: &opt}
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	bad := []func(a *bus.Action){
		func(a *bus.Action) { a.Kind = "boo" },
		func(a *bus.Action) { a.Client = "x" },
		func(a *bus.Action) { a.Option = nil },
		func(a *bus.Action) { a.PlayID = a.PollID },
		func(a *bus.Action) {
			a.Kind, a.PlayID, a.PollID, a.Option, a.Tempo = bus.ActTempo, a.PollID, "", nil, "fast"
		},
	}
	for i, f := range bad {
		a := good
		f(&a)
		if a.Validate() == nil {
			t.Errorf("case %d accepted: %+v", i, a)
		}
	}
}

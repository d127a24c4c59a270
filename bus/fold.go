package bus

import (
	"sort"
	"time"
)

// Crowd folds a session's events and its dancers' actions into what the
// crowd has said. The session's owner folds it to publish tallies; every
// gateway folds the same streams to answer dancers at once and to put each
// dancer's own likes and votes in their snapshot. Same inputs, same state:
// there is no other copy of the rules.
//
// A Crowd is not safe for concurrent use.
type Crowd struct {
	plays   map[string]*crowdPlay
	current string // current play id, "" when nothing plays
	polls   map[string]*crowdPoll
	active  string // open poll id, ""
	thanks  int
	seen    map[string]struct{} // action ids folded
	paused  bool
}

type crowdPlay struct {
	hidden bool
	likes  map[string]struct{} // client ids
	tempo  map[string]string   // client id → choice
}

type crowdPoll struct {
	options int
	endsAt  *time.Time
	closed  bool
	votes   map[string]int // client id → option
	counts  []int
}

// NewCrowd returns an empty fold.
func NewCrowd() *Crowd {
	return &Crowd{plays: map[string]*crowdPlay{}, polls: map[string]*crowdPoll{}, seen: map[string]struct{}{}}
}

// Event folds one session event.
func (c *Crowd) Event(e Event) {
	switch e.Type {
	case TypeTrackPlayed:
		if c.plays[e.ID] == nil {
			c.plays[e.ID] = &crowdPlay{likes: map[string]struct{}{}, tempo: map[string]string{}}
		}
		c.current = e.ID
	case TypeTrackStopped, TypeSessionEnded:
		c.current = ""
		if e.Type == TypeSessionEnded {
			c.closePoll()
		}
	case TypePlayHidden:
		if p := c.plays[e.Ref.ID]; p != nil {
			p.hidden = true
		}
		if c.current == e.Ref.ID {
			c.current = ""
		}
	case TypePollStarted:
		c.closePoll()
		c.polls[e.Poll.ID] = &crowdPoll{options: len(e.Poll.Options), endsAt: e.Poll.EndsAt,
			votes: map[string]int{}, counts: make([]int, len(e.Poll.Options))}
		c.active = e.Poll.ID
	case TypePollClosed:
		if p := c.polls[e.PollResult.ID]; p != nil {
			p.closed = true
		}
		if c.active == e.PollResult.ID {
			c.active = ""
		}
	case TypeBroadcastPaused:
		c.paused = true
	case TypeBroadcastResumed:
		c.paused = false
	}
}

func (c *Crowd) closePoll() {
	if p := c.polls[c.active]; p != nil {
		p.closed = true
	}
	c.active = ""
}

// Verdict is the answer to an action: accepted (Code ""), accepted but
// changing nothing (Duplicate), or refused with a code and a reason.
type Verdict struct {
	Code      string
	Reason    string
	Duplicate bool
}

// Accepted reports whether the action is (or already was) taken.
func (v Verdict) Accepted() bool { return v.Code == "" }

// Codes of refused actions.
const (
	CodeUnknownPlay = "unknown_play"
	CodePollClosed  = "poll_closed"
	CodeUnknownPoll = "unknown_poll"
	CodeBadOption   = "bad_option"
	CodeVoted       = "already_voted"
)

// Check says what Apply would answer, changing nothing.
func (c *Crowd) Check(a Action) Verdict {
	if _, ok := c.seen[a.ID]; ok {
		return Verdict{Duplicate: true}
	}
	switch a.Kind {
	case ActLike, ActUnlike, ActTempo:
		p := c.plays[a.PlayID]
		if p == nil || p.hidden {
			return Verdict{Code: CodeUnknownPlay, Reason: "That track is not in tonight's list."}
		}
		switch a.Kind {
		case ActLike:
			_, liked := p.likes[a.Client]
			return Verdict{Duplicate: liked}
		case ActUnlike:
			_, liked := p.likes[a.Client]
			return Verdict{Duplicate: !liked}
		default:
			cur, voted := p.tempo[a.Client]
			if a.Tempo == TempoClear {
				return Verdict{Duplicate: !voted}
			}
			return Verdict{Duplicate: voted && cur == a.Tempo}
		}
	case ActVote:
		p := c.polls[a.PollID]
		if p == nil {
			return Verdict{Code: CodeUnknownPoll, Reason: "That poll does not exist."}
		}
		if p.closed || (p.endsAt != nil && !a.At.Before(*p.endsAt)) {
			return Verdict{Code: CodePollClosed, Reason: "That poll has closed."}
		}
		if *a.Option >= p.options {
			return Verdict{Code: CodeBadOption, Reason: "That poll has no such option."}
		}
		if prev, voted := p.votes[a.Client]; voted {
			if prev == *a.Option {
				return Verdict{Duplicate: true}
			}
			return Verdict{Code: CodeVoted, Reason: "You have already voted in this poll."}
		}
		return Verdict{}
	case ActThanks:
		return Verdict{}
	}
	return Verdict{Code: CodeBadRequest, Reason: "Unknown action."}
}

// Apply folds one action and returns its verdict; refused and duplicate
// actions change nothing.
func (c *Crowd) Apply(a Action) Verdict {
	v := c.Check(a)
	if !v.Accepted() || v.Duplicate {
		return v
	}
	c.seen[a.ID] = struct{}{}
	switch a.Kind {
	case ActLike:
		c.plays[a.PlayID].likes[a.Client] = struct{}{}
	case ActUnlike:
		delete(c.plays[a.PlayID].likes, a.Client)
	case ActTempo:
		if a.Tempo == TempoClear {
			delete(c.plays[a.PlayID].tempo, a.Client)
		} else {
			c.plays[a.PlayID].tempo[a.Client] = a.Tempo
		}
	case ActVote:
		p := c.polls[a.PollID]
		p.votes[a.Client] = *a.Option
		p.counts[*a.Option]++
	case ActThanks:
		c.thanks++
	}
	return v
}

// Tally is the crowd's state for phones and consoles; listeners is filled
// in by whoever counts presence.
func (c *Crowd) Tally(sid string, at time.Time, listeners int) Tally {
	t := Tally{Type: TallyType, V: Version, Session: sid, At: at.UTC(), Likes: map[string]int{},
		Thanks: c.thanks, Listeners: listeners}
	for id, p := range c.plays {
		if n := len(p.likes); n > 0 && !p.hidden {
			t.Likes[id] = n
		}
	}
	if p := c.plays[c.current]; p != nil {
		tt := &TempoTally{PlayID: c.current}
		for _, choice := range p.tempo {
			switch choice {
			case TempoSlower:
				tt.Slower++
			case TempoPerfect:
				tt.Perfect++
			case TempoFaster:
				tt.Faster++
			}
		}
		t.Tempo = tt
	}
	if p := c.polls[c.active]; p != nil {
		t.Poll = &PollTally{ID: c.active, Counts: append([]int(nil), p.counts...), Total: len(p.votes)}
	}
	return t
}

// PollResult is the result of the open poll if it closed now for reason.
func (c *Crowd) PollResult(pollID, reason string) (PollResult, bool) {
	p := c.polls[pollID]
	if p == nil {
		return PollResult{}, false
	}
	r := PollResult{ID: pollID, Reason: reason, Counts: append([]int(nil), p.counts...), Total: len(p.votes), Winner: -1}
	if reason == PollCancelled {
		r.Counts, r.Total = make([]int, len(p.counts)), 0
		return r, true
	}
	for i, n := range r.Counts {
		if n > 0 && (r.Winner < 0 || n > r.Counts[r.Winner]) {
			r.Winner = i
		}
	}
	return r, true
}

// ActivePoll is the open poll's id, or "".
func (c *Crowd) ActivePoll() string { return c.active }

// Mine is one dancer's own state, for their snapshot.
type Mine struct {
	Likes []string          `json:"likes"` // play ids, sorted
	Tempo map[string]string `json:"tempo"` // play id → choice
	Votes map[string]int    `json:"votes"` // poll id → option
}

// Mine returns what client has liked and voted.
func (c *Crowd) Mine(client string) Mine {
	m := Mine{Likes: []string{}, Tempo: map[string]string{}, Votes: map[string]int{}}
	for id, p := range c.plays {
		if p.hidden {
			continue
		}
		if _, ok := p.likes[client]; ok {
			m.Likes = append(m.Likes, id)
		}
		if t, ok := p.tempo[client]; ok {
			m.Tempo[id] = t
		}
	}
	sort.Strings(m.Likes)
	for id, p := range c.polls {
		if o, ok := p.votes[client]; ok {
			m.Votes[id] = o
		}
	}
	return m
}

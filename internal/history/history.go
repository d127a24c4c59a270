// Package history is the read model of what PostgreSQL keeps for years:
// the shapes of recaps, journals, DJ profiles and charts. The gateway
// declares the interface it reads them through (gateway.History) and
// persister/pgstore implements it; both import these plain types, so
// neither imports the other.
package history

import (
	"errors"
	"time"

	"github.com/pika-dj/pika/bus"
)

// ErrNotFound means the session or DJ asked for has no rows.
var ErrNotFound = errors.New("history: not found")

// Session is one DJ session as recaps, profiles and lists show it.
type Session struct {
	ID        string     `json:"id"`
	DJID      string     `json:"djId"`
	DJName    string     `json:"djName"`
	StartedAt time.Time  `json:"startedAt"`
	EndedAt   *time.Time `json:"endedAt,omitempty"`
	EndReason string     `json:"endReason,omitempty"`
	Status    string     `json:"status"` // "live" or "ended"; see Settle
	// LastActivityAt is the latest moment anything happened (start, play,
	// end): a session quiet for bus.SessionIdleTimeout has ended.
	LastActivityAt time.Time `json:"lastActivityAt"`
	TrackCount     int       `json:"trackCount"` // plays dancers may see
	Likes          int       `json:"likes"`      // likes of those plays
}

// Settle sets Status as /api/sessions does: a session with no end that has
// been quiet for bus.SessionIdleTimeout ended when it went quiet (the DJ's
// side stores that end when it next runs).
func (s *Session) Settle(now time.Time) {
	s.Status = "live"
	if s.EndedAt == nil && now.Sub(s.LastActivityAt) >= bus.SessionIdleTimeout {
		at := s.LastActivityAt.Add(bus.SessionIdleTimeout)
		s.EndedAt, s.EndReason = &at, bus.EndByIdle
	}
	if s.EndedAt != nil {
		s.Status = "ended"
	}
}

// Tempo counts tempo votes: each dancer's latest choice per play.
type Tempo struct {
	Slower  int `json:"slower"`
	Perfect int `json:"perfect"`
	Faster  int `json:"faster"`
}

// Add counts one choice (bus.TempoSlower…); others are ignored.
func (t *Tempo) Add(choice string, n int) {
	switch choice {
	case bus.TempoSlower:
		t.Slower += n
	case bus.TempoPerfect:
		t.Perfect += n
	case bus.TempoFaster:
		t.Faster += n
	}
}

// Total is the number of votes.
func (t Tempo) Total() int { return t.Slower + t.Perfect + t.Faster }

// Play is one play of a recap, as corrected by the DJ.
type Play struct {
	Position int `json:"position"` // 1 for the night's first play shown
	bus.PlayedTrack
	Likes int   `json:"likes"`
	Tempo Tempo `json:"tempo"`
	// Hidden marks a play withheld from dancers (hidden by the DJ, or
	// played while the track list was paused); only the DJ's recap has
	// them.
	Hidden bool `json:"hidden,omitempty"`
}

// Poll is a poll and its result, for the DJ's recap only.
type Poll struct {
	ID          string     `json:"id"`
	Question    string     `json:"question"`
	Options     []string   `json:"options"`
	StartedAt   time.Time  `json:"startedAt"`
	EndsAt      *time.Time `json:"endsAt,omitempty"`
	ClosedAt    *time.Time `json:"closedAt,omitempty"`
	CloseReason string     `json:"closeReason,omitempty"` // bus.PollEnded, PollCancelled, PollTimedOut; "" while open
	Counts      []int      `json:"counts"`
	Total       int        `json:"total"`
	Winner      int        `json:"winner"` // index of the most votes, -1 for none
}

// Recap is a session's night: every play with its likes and tempo votes,
// and for the DJ (Owner) the withheld plays, polls and thank-yous.
type Recap struct {
	Session    Session `json:"session"`
	Owner      bool    `json:"owner"`
	TrackCount int     `json:"trackCount"`
	TotalLikes int     `json:"totalLikes"`
	Tempo      Tempo   `json:"tempo"`               // every play's votes added up
	MostLiked  string  `json:"mostLiked,omitempty"` // play id of the most liked visible play (the earliest on a tie)
	Plays      []Play  `json:"plays"`               // oldest first
	Thanks     *int    `json:"thanks,omitempty"`    // owner only
	Polls      []Poll  `json:"polls,omitempty"`     // owner only, oldest first
}

// Finish numbers the plays (oldest first) and adds up the totals. Hidden
// plays count for nothing: they are in the DJ's list, not in the night's.
func (r *Recap) Finish() {
	if r.Plays == nil {
		r.Plays = []Play{}
	}
	r.TrackCount, r.TotalLikes, r.Tempo, r.MostLiked = 0, 0, Tempo{}, ""
	best := 0
	for i := range r.Plays {
		p := &r.Plays[i]
		p.Position = i + 1
		if p.Hidden {
			continue
		}
		r.TrackCount++
		r.TotalLikes += p.Likes
		r.Tempo.Slower += p.Tempo.Slower
		r.Tempo.Perfect += p.Tempo.Perfect
		r.Tempo.Faster += p.Tempo.Faster
		if p.Likes > best {
			best, r.MostLiked = p.Likes, p.PlayID
		}
	}
	r.Session.TrackCount, r.Session.Likes = r.TrackCount, r.TotalLikes
}

// JournalLike is one like of a dancer's journal.
type JournalLike struct {
	PlayID           string    `json:"playId"`
	LikedAt          time.Time `json:"likedAt"`
	SessionID        string    `json:"sessionId"`
	DJID             string    `json:"djId"`
	DJName           string    `json:"djName"`
	SessionStartedAt time.Time `json:"sessionStartedAt"`
	bus.PlayedTrack
}

// DJProfile is a DJ and their sessions, newest first.
type DJProfile struct {
	ID       string    `json:"id"`
	Name     string    `json:"name"`
	Since    time.Time `json:"since"`
	Sessions []Session `json:"sessions"`
	Totals   Totals    `json:"totals"`
}

// Totals add up a DJ's sessions.
type Totals struct {
	Sessions int `json:"sessions"`
	Tracks   int `json:"tracks"`
	Likes    int `json:"likes"`
}

// TopTrack is one track of the all-time chart of likes.
type TopTrack struct {
	bus.Track
	Likes int `json:"likes"`
	Plays int `json:"plays"` // times it was played where dancers could see it
}

// Journal is a dancer's likes, newest first, and what is kept of their
// anonymous id in all.
type Journal struct {
	ClientID string        `json:"clientId"`
	Likes    []JournalLike `json:"likes"`
	Kept     Kept          `json:"kept"`
}

// Kept counts the rows kept of one anonymous id: what a journal deletion
// removes.
type Kept struct {
	Likes      int64 `json:"likes"` // one row per play liked, kept (liked=false) after an unlike
	TempoVotes int64 `json:"tempoVotes"`
	PollVotes  int64 `json:"pollVotes"`
	Reactions  int64 `json:"reactions"`
}

// Total is every row counted.
func (k Kept) Total() int64 { return k.Likes + k.TempoVotes + k.PollVotes + k.Reactions }

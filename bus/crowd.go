package bus

import (
	"slices"
	"time"
	"unicode/utf8"
)

// Poll is a question the DJ asks the floor.
type Poll struct {
	ID       string     `json:"id"`
	Question string     `json:"question"`
	Options  []string   `json:"options"`
	EndsAt   *time.Time `json:"endsAt,omitempty"` // nil: open until the DJ ends it
}

// Poll limits, as today's product has them (2–10 options, 30–300 s timers).
const (
	MinPollOptions     = 2
	MaxPollOptions     = 10
	MaxQuestionLen     = 200
	MaxOptionLen       = 60
	MinPollDuration    = 15 * time.Second
	MaxPollDuration    = 10 * time.Minute
	MaxAnnouncement    = 200
	MinAnnounceFor     = 15 * time.Second
	MaxAnnounceFor     = time.Hour
	DefaultAnnounceFor = 5 * time.Minute
)

// Validate checks a poll's question and options.
func (p *Poll) Validate() error {
	if !ValidID(p.ID) {
		return invalid("poll id %q is not a ULID", p.ID)
	}
	if err := checkText("question", p.Question, MaxQuestionLen, true); err != nil {
		return err
	}
	if n := len(p.Options); n < MinPollOptions || n > MaxPollOptions {
		return invalid("a poll has %d–%d options, not %d", MinPollOptions, MaxPollOptions, n)
	}
	for i, o := range p.Options {
		if err := checkText("option", o, MaxOptionLen, true); err != nil {
			return err
		}
		if slices.Contains(p.Options[:i], o) {
			return invalid("option %q appears twice", o)
		}
	}
	return nil
}

// Reasons a poll closes.
const (
	PollEnded     = "ended"     // the DJ ended it: results stand
	PollCancelled = "cancelled" // the DJ cancelled it: no result
	PollTimedOut  = "timer"     // its timer ran out: results stand
)

// PollResult closes a poll with its final counts.
type PollResult struct {
	ID     string `json:"id"`
	Reason string `json:"reason"`
	Counts []int  `json:"counts"`
	Total  int    `json:"total"`
	Winner int    `json:"winner"` // index of the most votes (first on a tie); -1 if none or cancelled
}

// Validate checks a poll result is consistent.
func (r *PollResult) Validate() error {
	if !ValidID(r.ID) {
		return invalid("poll id %q is not a ULID", r.ID)
	}
	switch r.Reason {
	case PollEnded, PollCancelled, PollTimedOut:
	default:
		return invalid("poll close reason %q", r.Reason)
	}
	sum := 0
	for _, c := range r.Counts {
		if c < 0 {
			return invalid("negative vote count")
		}
		sum += c
	}
	if sum != r.Total || r.Winner < -1 || r.Winner >= len(r.Counts) || len(r.Counts) > MaxPollOptions {
		return invalid("poll result counts do not add up")
	}
	return nil
}

// Announcement is a message from the DJ shown on every phone until EndsAt.
type Announcement struct {
	ID     string    `json:"id"`
	Text   string    `json:"text"`
	EndsAt time.Time `json:"endsAt"`
}

// Validate checks an announcement's text.
func (a *Announcement) Validate() error {
	if !ValidID(a.ID) {
		return invalid("announcement id %q is not a ULID", a.ID)
	}
	if a.EndsAt.IsZero() {
		return invalid("announcement without an end")
	}
	return checkText("announcement", a.Text, MaxAnnouncement, true)
}

// Ref names the play or announcement an event is about.
type Ref struct {
	ID string `json:"id"`
}

// Correction fixes a play's title and artist as dancers see them. The
// track id stays: likes already given to the play stay with it.
type Correction struct {
	PlayID string `json:"playId"`
	Title  string `json:"title"`
	Artist string `json:"artist"`
}

// Validate checks a correction.
func (c *Correction) Validate() error {
	if !ValidID(c.PlayID) {
		return invalid("play id %q is not a ULID", c.PlayID)
	}
	if err := checkText("title", c.Title, MaxTextLen, true); err != nil {
		return err
	}
	return checkText("artist", c.Artist, MaxTextLen, false)
}

// TextLen counts characters the way every limit here does.
func TextLen(s string) int { return utf8.RuneCountInString(s) }

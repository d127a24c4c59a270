package bus

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"
)

// ActionKind names a dancer action.
type ActionKind string

// Dancer actions. Each travels as an Action on ActionSubject, stored in the
// DJ's actions stream, deduplicated by its ID.
const (
	ActLike   ActionKind = "like"
	ActUnlike ActionKind = "unlike"
	ActTempo  ActionKind = "tempo"
	ActVote   ActionKind = "vote"
	ActThanks ActionKind = "thanks"
)

// Tempo choices; TempoClear removes the dancer's vote.
const (
	TempoSlower  = "slower"
	TempoPerfect = "perfect"
	TempoFaster  = "faster"
	TempoClear   = "clear"
)

// Action is one thing a dancer did. The gateway that received it sets At
// (phones' clocks are not trusted) and validates it before storing it;
// the session's owner folds it into the tallies.
type Action struct {
	V       int        `json:"v"`
	ID      string     `json:"id"` // a ULID: made by the phone (kept across offline retries) or the gateway
	Kind    ActionKind `json:"kind"`
	Session string     `json:"sessionId"`
	Client  string     `json:"clientId"`
	At      time.Time  `json:"at"`
	PlayID  string     `json:"playId,omitempty"` // like, unlike, tempo
	Tempo   string     `json:"tempo,omitempty"`  // tempo
	PollID  string     `json:"pollId,omitempty"` // vote
	Option  *int       `json:"option,omitempty"` // vote
}

// ValidClientID reports whether s is an anonymous browser id: 8–64 of
// A-Z a-z 0-9 - _.
func ValidClientID(s string) bool {
	if len(s) < 8 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		b := s[i]
		if !(b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b == '-' || b == '_') {
			return false
		}
	}
	return true
}

// Validate checks an action's shape (not whether the session allows it:
// that is Crowd.Check).
func (a *Action) Validate() error {
	if a.V != Version {
		return invalid("action version %d, want %d", a.V, Version)
	}
	if !ValidID(a.ID) || !ValidID(a.Session) {
		return invalid("action or session id is not a ULID")
	}
	if !ValidClientID(a.Client) {
		return invalid("client id %q is malformed", a.Client)
	}
	if a.At.IsZero() {
		return invalid("action without a time")
	}
	switch a.Kind {
	case ActLike, ActUnlike:
		if !ValidID(a.PlayID) || a.Tempo != "" || a.PollID != "" || a.Option != nil {
			return invalid("%s needs a playId and nothing else", a.Kind)
		}
	case ActTempo:
		if !ValidID(a.PlayID) || a.PollID != "" || a.Option != nil {
			return invalid("tempo needs a playId")
		}
		switch a.Tempo {
		case TempoSlower, TempoPerfect, TempoFaster, TempoClear:
		default:
			return invalid("tempo must be slower, perfect, faster or clear")
		}
	case ActVote:
		if !ValidID(a.PollID) || a.Option == nil || *a.Option < 0 || *a.Option >= MaxPollOptions || a.PlayID != "" || a.Tempo != "" {
			return invalid("vote needs a pollId and an option")
		}
	case ActThanks:
		if a.PlayID != "" || a.Tempo != "" || a.PollID != "" || a.Option != nil {
			return invalid("thanks carries nothing")
		}
	default:
		return invalid("unknown action %q", a.Kind)
	}
	return nil
}

// Limits of stored actions. A gateway stores the actions that arrive while
// the previous store waits for the disk as one message (a JSON array, see
// PublishActions), so one sync serves them all.
const (
	MaxActionBytes      = 4096
	MaxActionsPerBatch  = 128
	MaxActionBatchBytes = 64 << 10
)

// DecodeActions parses and validates one stored message of actions: one
// action, or a JSON array of them (a batch). It returns every valid action,
// and an error naming the first invalid part, so one bad entry does not
// cost the others.
func DecodeActions(data []byte) ([]Action, error) {
	trimmed := bytes.TrimLeft(data, " \t\r\n")
	if len(trimmed) == 0 || trimmed[0] != '[' {
		a, err := DecodeAction(data)
		if err != nil {
			return nil, err
		}
		return []Action{a}, nil
	}
	if len(data) > MaxActionBatchBytes {
		return nil, invalid("action batch of %d bytes", len(data))
	}
	var raws []json.RawMessage
	if err := json.Unmarshal(data, &raws); err != nil {
		return nil, fmt.Errorf("%w: action batch: %v", ErrInvalid, err)
	}
	if len(raws) == 0 || len(raws) > MaxActionsPerBatch {
		return nil, invalid("action batch of %d actions", len(raws))
	}
	out := make([]Action, 0, len(raws))
	var first error
	for i, raw := range raws {
		a, err := DecodeAction(raw)
		if err != nil {
			if first == nil {
				first = fmt.Errorf("action %d of the batch: %w", i, err)
			}
			continue
		}
		out = append(out, a)
	}
	return out, first
}

// DecodeAction parses and validates one stored action.
func DecodeAction(data []byte) (Action, error) {
	var a Action
	if len(data) > MaxActionBytes {
		return a, invalid("action of %d bytes", len(data))
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&a); err != nil {
		return Action{}, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if err := a.Validate(); err != nil {
		return Action{}, err
	}
	return a, nil
}

// Tally is the crowd's state of one session, folded by the session's owner
// and sent to phones and consoles at most about once a second. Type is
// always "tally", so gateways forward the owner's bytes unchanged.
type Tally struct {
	Type      string         `json:"type"`
	V         int            `json:"v"`
	Session   string         `json:"sessionId"`
	At        time.Time      `json:"at"`
	Likes     map[string]int `json:"likes"` // play id → likes, plays with at least one
	Tempo     *TempoTally    `json:"tempo"` // the current play's, nil when nothing plays
	Poll      *PollTally     `json:"poll"`  // the open poll's, nil when none
	Thanks    int            `json:"thanks"`
	Listeners int            `json:"listeners"` // distinct phones across every gateway
}

// TallyType is Tally.Type.
const TallyType = "tally"

// TempoTally counts the current votes on one play.
type TempoTally struct {
	PlayID  string `json:"playId"`
	Slower  int    `json:"slower"`
	Perfect int    `json:"perfect"`
	Faster  int    `json:"faster"`
}

// PollTally counts the votes of the open poll.
type PollTally struct {
	ID     string `json:"id"`
	Counts []int  `json:"counts"`
	Total  int    `json:"total"`
}

// Presence is one gateway's dancers of one session, sent every
// PresenceEvery; the owner counts the union across gateways.
type Presence struct {
	V       int       `json:"v"`
	Gateway string    `json:"gateway"`
	Session string    `json:"sessionId"`
	Clients []string  `json:"clients"`
	At      time.Time `json:"at"`
}

// Presence timing: gateways report every PresenceEvery; a gateway silent
// for PresenceExpiry is gone; a phone stays counted ListenerGrace after its
// last socket closed (a phone asleep in a pocket has not left the floor).
const (
	PresenceEvery  = 2 * time.Second
	PresenceExpiry = 10 * time.Second
	ListenerGrace  = 3 * time.Minute
)

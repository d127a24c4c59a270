package gateway

import (
	"encoding/json"
	"time"

	"github.com/pika-dj/pika/bus"
)

// Frame types the server sends that are not bus events. Tallies are also
// not events, but the owner's bytes are forwarded as they are ("type":
// "tally" is inside them).
const (
	frameOK       = "ok"
	frameError    = "error"
	framePong     = "pong"
	frameSnapshot = "snapshot"
)

// Frame types a client sends.
const (
	frameSubscribe = "subscribe"
	framePing      = "ping"
	frameLike      = "like"
	frameUnlike    = "unlike"
	frameTempo     = "tempo"
	frameVote      = "vote"
	frameThanks    = "thanks"
	frameLikes     = "likes" // the offline queue of likes and unlikes, in one frame
	frameDJ        = "dj"
)

// maxBatch is the most items a likes frame may carry. An item is about 90
// bytes, so a full batch is about 9 KB: MaxFrame's default leaves room.
const maxBatch = 100

// clientFrame is every field any client frame may carry. Unknown fields are
// ignored so that older gateways tolerate newer pages.
type clientFrame struct {
	Type      string          `json:"type"`
	Ref       json.RawMessage `json:"ref,omitempty"`
	SessionID string          `json:"sessionId,omitempty"`
	ClientID  string          `json:"clientId,omitempty"`
	LastSeq   *uint64         `json:"lastSeq,omitempty"`

	// Dancer actions.
	ID     string      `json:"id,omitempty"` // the action's id, made by the page (optional)
	PlayID string      `json:"playId,omitempty"`
	Tempo  string      `json:"tempo,omitempty"`
	PollID string      `json:"pollId,omitempty"`
	Option *int        `json:"option,omitempty"`
	Items  []batchItem `json:"items,omitempty"`

	// DJ commands.
	Secret   string   `json:"secret,omitempty"`
	Command  string   `json:"command,omitempty"`
	Question string   `json:"question,omitempty"`
	Options  []string `json:"options,omitempty"`
	Seconds  int      `json:"seconds,omitempty"`
	Text     string   `json:"text,omitempty"`
	Title    string   `json:"title,omitempty"`
	Artist   string   `json:"artist,omitempty"`
}

// batchItem is one like or unlike of a likes frame.
type batchItem struct {
	ID     string `json:"id"`
	PlayID string `json:"playId"`
	Kind   string `json:"kind"` // "like" or "unlike"
}

type okFrame struct {
	Type      string          `json:"type"`
	Ref       json.RawMessage `json:"ref,omitempty"`
	Duplicate bool            `json:"duplicate,omitempty"`
	ID        string          `json:"id,omitempty"`      // the poll or announcement a DJ command made
	Results   []itemResult    `json:"results,omitempty"` // a likes frame's answers, one per item
}

// itemResult answers one item of a likes frame.
type itemResult struct {
	ID        string `json:"id"`
	OK        bool   `json:"ok"`
	Duplicate bool   `json:"duplicate,omitempty"`
	Code      string `json:"code,omitempty"`
	Reason    string `json:"reason,omitempty"`
}

type errorFrame struct {
	Type   string          `json:"type"`
	Ref    json.RawMessage `json:"ref,omitempty"`
	Code   string          `json:"code"`
	Reason string          `json:"reason"`
}

type pongFrame struct {
	Type       string          `json:"type"`
	Ref        json.RawMessage `json:"ref,omitempty"`
	ServerTime time.Time       `json:"serverTime"`
}

// withheldPlay is what phones get instead of a track.played stored while
// broadcasting was paused, or of a play the DJ hid: its seq, not its track.
type withheldPlay struct {
	V         int      `json:"v"`
	Type      bus.Type `json:"type"`
	Seq       uint64   `json:"seq"`
	SessionID string   `json:"sessionId"`
	Hidden    bool     `json:"hidden"`
}

// SessionInfo is a session as the REST API and snapshots show it.
type SessionInfo struct {
	ID             string           `json:"id"`
	DJName         string           `json:"djName"`
	StartedAt      time.Time        `json:"startedAt"`
	LastActivityAt time.Time        `json:"lastActivityAt"`
	Status         string           `json:"status"` // "live" or "ended"
	EndedAt        *time.Time       `json:"endedAt,omitempty"`
	EndReason      string           `json:"endReason,omitempty"`
	CurrentTrack   *bus.PlayedTrack `json:"currentTrack"`
	ListenerCount  int              `json:"listenerCount"`
	// JoinURL is the link dancers should share (GET /api/sessions/:id only):
	// in LAN + cloud mode, the cloud's while the DJ's link to it is up.
	JoinURL string `json:"joinUrl,omitempty"`
}

// sessionInfo shows s with current as its current track (the caller has
// withheld a hidden or paused play already).
func sessionInfo(s bus.SessionState, current *bus.PlayedTrack, listeners int, now time.Time) SessionInfo {
	info := SessionInfo{
		ID: s.ID, DJName: s.DJName, StartedAt: s.StartedAt, LastActivityAt: s.LastActivityAt,
		Status: "live", CurrentTrack: current, ListenerCount: listeners,
	}
	if s.Ended(now) {
		info.Status, info.CurrentTrack = "ended", nil
		info.EndedAt, info.EndReason = s.EndedAt, s.EndReason
		if s.EndedAt == nil { // idle: it ended when it went quiet, not when we noticed
			at := s.LastActivityAt.Add(bus.SessionIdleTimeout)
			info.EndedAt, info.EndReason = &at, bus.EndByIdle
		}
	}
	return info
}

type snapshotFrame struct {
	Type          string            `json:"type"`
	SessionID     string            `json:"sessionId"`
	Seq           uint64            `json:"seq"`
	Session       SessionInfo       `json:"session"`
	NowPlaying    *bus.PlayedTrack  `json:"nowPlaying"`
	History       json.RawMessage   `json:"history"` // []bus.PlayedTrack, encoded once per change
	ListenerCount int               `json:"listenerCount"`
	Poll          *bus.Poll         `json:"poll"`
	Announcement  *bus.Announcement `json:"announcement"`
	Paused        bool              `json:"paused"`
	Tally         json.RawMessage   `json:"tally"` // nil marshals as null
	Mine          bus.Mine          `json:"mine"`
	Recovered     bool              `json:"recovered"`
	Resume        *resumeInfo       `json:"resume,omitempty"`
}

type resumeInfo struct {
	From     uint64            `json:"from"`
	Complete bool              `json:"complete"`
	Missed   []json.RawMessage `json:"missed"`
}

// RESTError is the body of every REST error.
type RESTError struct {
	Code   string `json:"code"`
	Reason string `json:"reason"`
}

// Health is the body of GET /healthz.
type Health struct {
	Status   string `json:"status"`
	Sockets  int    `json:"sockets"`
	Sessions int    `json:"sessions"`
}

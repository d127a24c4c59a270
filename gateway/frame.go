package gateway

import (
	"encoding/json"
	"time"

	"github.com/pika-dj/pika/bus"
)

// Frame types the server sends that are not bus events.
const (
	frameOK        = "ok"
	frameError     = "error"
	framePong      = "pong"
	frameSnapshot  = "snapshot"
	frameListeners = "listeners"
)

// Frame types a client sends.
const (
	frameSubscribe = "subscribe"
	framePing      = "ping"
)

// clientFrame is every field any client frame may carry. Unknown fields are
// ignored so that older gateways tolerate newer pages.
type clientFrame struct {
	Type      string          `json:"type"`
	Ref       json.RawMessage `json:"ref,omitempty"`
	SessionID string          `json:"sessionId,omitempty"`
	ClientID  string          `json:"clientId,omitempty"`
	LastSeq   *uint64         `json:"lastSeq,omitempty"`
}

type okFrame struct {
	Type string          `json:"type"`
	Ref  json.RawMessage `json:"ref,omitempty"`
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

type listenersFrame struct {
	Type      string `json:"type"`
	SessionID string `json:"sessionId"`
	Count     int    `json:"count"`
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
}

func sessionInfo(s bus.SessionState, listeners int, now time.Time) SessionInfo {
	info := SessionInfo{
		ID: s.ID, DJName: s.DJName, StartedAt: s.StartedAt, LastActivityAt: s.LastActivityAt,
		Status: "live", CurrentTrack: s.Current, ListenerCount: listeners,
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
	History       []bus.PlayedTrack `json:"history"`
	ListenerCount int               `json:"listenerCount"`
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

package bus

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"time"
)

// CommandKind names a DJ action. Commands are requests on CommandSubject,
// answered by the session's owner with a CommandReply; the owner alone
// turns them into session events.
type CommandKind string

// DJ commands.
const (
	CmdPollStart       CommandKind = "poll.start"
	CmdPollEnd         CommandKind = "poll.end"
	CmdPollCancel      CommandKind = "poll.cancel"
	CmdAnnounce        CommandKind = "announce"
	CmdAnnounceCancel  CommandKind = "announce.cancel"
	CmdPlayHide        CommandKind = "play.hide"
	CmdPlayCorrect     CommandKind = "play.correct"
	CmdBroadcastPause  CommandKind = "broadcast.pause"
	CmdBroadcastResume CommandKind = "broadcast.resume"
	CmdSessionEnd      CommandKind = "session.end"
	// CmdAuth only checks the secret: a console subscribing with it sees
	// withheld plays and is not counted as a listener.
	CmdAuth CommandKind = "session.auth"
)

// Command is one DJ action, carrying the session's DJ secret.
type Command struct {
	V        int         `json:"v"`
	Kind     CommandKind `json:"kind"`
	Session  string      `json:"sessionId"`
	Secret   string      `json:"secret"`
	Question string      `json:"question,omitempty"` // poll.start
	Options  []string    `json:"options,omitempty"`  // poll.start
	Seconds  int         `json:"seconds,omitempty"`  // poll.start timer (0: none); announce duration
	Text     string      `json:"text,omitempty"`     // announce
	PlayID   string      `json:"playId,omitempty"`   // play.hide, play.correct
	PollID   string      `json:"pollId,omitempty"`   // poll.end, poll.cancel (empty: the open poll)
	Title    string      `json:"title,omitempty"`    // play.correct
	Artist   string      `json:"artist,omitempty"`   // play.correct
}

// CommandReply answers a Command: OK, or a code and a readable reason.
type CommandReply struct {
	OK     bool   `json:"ok"`
	Code   string `json:"code,omitempty"`
	Reason string `json:"reason,omitempty"`
	ID     string `json:"id,omitempty"` // the poll or announcement made
}

// Codes of refused commands.
const (
	CodeForbidden   = "forbidden"
	CodeBadRequest  = "bad_request"
	CodeNotFound    = "not_found"
	CodeConflict    = "conflict"
	CodeUnavailable = "unavailable"
)

// NewSecret makes a DJ secret: 32 hex characters (128 bits).
func NewSecret() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// HashSecret is what is stored of a secret.
func HashSecret(secret string) string {
	sum := sha256.Sum256([]byte("pika-dj-secret\n" + secret))
	return hex.EncodeToString(sum[:])
}

// SecretMatches compares a secret with a stored hash in constant time.
func SecretMatches(secret, hash string) bool {
	if secret == "" || hash == "" {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(HashSecret(secret)), []byte(hash)) == 1
}

// CommandTimeout is how long a gateway waits for the owner's answer.
const CommandTimeout = 5 * time.Second

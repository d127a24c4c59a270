package bus

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Version is the schema version written into every event. A reader refuses
// a version it does not know rather than guessing at its meaning.
const Version = 1

// Type names an event. It is also the last tokens of the event's subject and
// the "type" of the WebSocket frame that carries it to phones.
type Type string

// The event types of a DJ session.
const (
	TypeSessionStarted Type = "session.started"
	TypeTrackPlayed    Type = "track.played"
	TypeTrackStopped   Type = "track.stopped"
	TypeSessionEnded   Type = "session.ended"

	// Crowd interaction, published by the session's owner on the DJ side.
	TypePollStarted           Type = "poll.started"
	TypePollClosed            Type = "poll.closed"
	TypeAnnouncementMade      Type = "announcement.made"
	TypeAnnouncementCancelled Type = "announcement.cancelled"
	TypePlayHidden            Type = "play.hidden"
	TypePlayCorrected         Type = "play.corrected"
	TypeBroadcastPaused       Type = "broadcast.paused"
	TypeBroadcastResumed      Type = "broadcast.resumed"
)

// Known reports whether t is a type this version understands.
func (t Type) Known() bool {
	switch t {
	case TypeSessionStarted, TypeTrackPlayed, TypeTrackStopped, TypeSessionEnded,
		TypePollStarted, TypePollClosed, TypeAnnouncementMade, TypeAnnouncementCancelled,
		TypePlayHidden, TypePlayCorrected, TypeBroadcastPaused, TypeBroadcastResumed:
		return true
	}
	return false
}

// Event is one thing that happened in a session, as recorded at its origin.
// It is the JSON stored in JetStream and, unchanged, the frame sent to phones.
//
// ID is set once where the event happens and never again: it is the
// JetStream message id (a retried publish is stored once) and, later, the
// unique key of the PostgreSQL row. At is the origin's clock, so a play
// recorded offline keeps the time it really happened. Seq is the session's
// own sequence, assigned by the session's single owner on the DJ side and
// increasing by one, so a phone can say exactly where it stopped.
type Event struct {
	V       int       `json:"v"`
	ID      string    `json:"id"`
	Type    Type      `json:"type"`
	Session string    `json:"sessionId"`
	Seq     uint64    `json:"seq"`
	At      time.Time `json:"at"`
	DJ      string    `json:"djId"`

	// Exactly one of these is set, matching Type (track.stopped,
	// broadcast.paused and broadcast.resumed have none).
	Started      *SessionStarted `json:"started,omitempty"`
	Play         *Play           `json:"play,omitempty"`
	Ended        *SessionEnded   `json:"ended,omitempty"`
	Poll         *Poll           `json:"poll,omitempty"`
	PollResult   *PollResult     `json:"pollResult,omitempty"`
	Announcement *Announcement   `json:"announcement,omitempty"`
	Ref          *Ref            `json:"ref,omitempty"`
	Correction   *Correction     `json:"correction,omitempty"`
}

// SessionStarted opens a session.
type SessionStarted struct {
	DJName string `json:"djName"`
}

// Play is a track that became audible. The play's id is the event's ID.
type Play struct {
	Track Track `json:"track"`
	// Source names what detected it: "virtualdj", "m3u", "manual", "demo".
	Source string `json:"source,omitempty"`
	// SourceKey is the detector's stable identity for this sighting (one
	// history-file entry), so the same entry read again — after a restart,
	// or from a rewritten file — is recognized as the same play.
	SourceKey string `json:"sourceKey,omitempty"`
}

// Reasons a session ends.
const (
	EndByDJ   = "dj"   // the DJ ended it
	EndByIdle = "idle" // nothing played for SessionIdleTimeout
)

// SessionEnded closes a session for good.
type SessionEnded struct {
	Reason string `json:"reason"`
}

// Limits on what an event may hold. They keep one bad tag from becoming a
// megabyte on every phone.
const (
	MaxEventBytes = 16 << 10
	MaxNameLen    = 100 // DJ name, in characters
	MaxTextLen    = 300 // title, artist, album, in characters
	MaxKeyLen     = 16  // a musical key
	MaxKeyBytes   = 128 // a source key
	MaxRecording  = 80  // Track.Recording: "audio:" and a hex hash fit
	MinBPM        = 20.0
	MaxBPM        = 400.0
)

// ErrInvalid wraps every validation failure, so callers can tell bad data
// from a broken connection.
var ErrInvalid = errors.New("invalid event")

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

// Validate checks an event is complete and within limits.
func (e *Event) Validate() error {
	if e.V != Version {
		return invalid("version %d, want %d", e.V, Version)
	}
	if !ValidID(e.ID) {
		return invalid("id %q is not a ULID", e.ID)
	}
	if !ValidID(e.Session) {
		return invalid("session id %q is not a ULID", e.Session)
	}
	if !ValidDJID(e.DJ) {
		return invalid("dj id %q is malformed", e.DJ)
	}
	if e.Seq == 0 {
		return invalid("seq is 0")
	}
	if e.At.IsZero() {
		return invalid("no origin time")
	}
	payloads := 0
	for _, set := range []bool{e.Started != nil, e.Play != nil, e.Ended != nil, e.Poll != nil,
		e.PollResult != nil, e.Announcement != nil, e.Ref != nil, e.Correction != nil} {
		if set {
			payloads++
		}
	}
	need := func(present bool) error {
		if !present || payloads != 1 {
			return invalid("%s needs exactly its own payload", e.Type)
		}
		return nil
	}
	switch e.Type {
	case TypeSessionStarted:
		if err := need(e.Started != nil); err != nil {
			return err
		}
		return checkText("djName", e.Started.DJName, MaxNameLen, true)
	case TypeTrackPlayed:
		if err := need(e.Play != nil); err != nil {
			return err
		}
		if len(e.Play.SourceKey) > MaxKeyBytes || !utf8.ValidString(e.Play.SourceKey) {
			return invalid("source key longer than %d bytes or not UTF-8", MaxKeyBytes)
		}
		if len(e.Play.Source) > 32 {
			return invalid("source name longer than 32 bytes")
		}
		return e.Play.Track.Validate()
	case TypeTrackStopped, TypeBroadcastPaused, TypeBroadcastResumed:
		if payloads != 0 {
			return invalid("%s carries no payload", e.Type)
		}
		return nil
	case TypeSessionEnded:
		if err := need(e.Ended != nil); err != nil {
			return err
		}
		if e.Ended.Reason != EndByDJ && e.Ended.Reason != EndByIdle {
			return invalid("end reason %q", e.Ended.Reason)
		}
		return nil
	case TypePollStarted:
		if err := need(e.Poll != nil); err != nil {
			return err
		}
		return e.Poll.Validate()
	case TypePollClosed:
		if err := need(e.PollResult != nil); err != nil {
			return err
		}
		return e.PollResult.Validate()
	case TypeAnnouncementMade:
		if err := need(e.Announcement != nil); err != nil {
			return err
		}
		return e.Announcement.Validate()
	case TypeAnnouncementCancelled, TypePlayHidden:
		if err := need(e.Ref != nil); err != nil {
			return err
		}
		if !ValidID(e.Ref.ID) {
			return invalid("%s: id %q is not a ULID", e.Type, e.Ref.ID)
		}
		return nil
	case TypePlayCorrected:
		if err := need(e.Correction != nil); err != nil {
			return err
		}
		return e.Correction.Validate()
	default:
		return invalid("unknown type %q", e.Type)
	}
}

// Validate checks a track's fields are present, printable and within limits.
func (t *Track) Validate() error {
	if err := checkText("title", t.Title, MaxTextLen, true); err != nil {
		return err
	}
	if err := checkText("artist", t.Artist, MaxTextLen, false); err != nil {
		return err
	}
	if err := checkText("album", t.Album, MaxTextLen, false); err != nil {
		return err
	}
	if err := checkText("key", t.Key, MaxKeyLen, false); err != nil {
		return err
	}
	if err := checkText("recording", t.Recording, MaxRecording, false); err != nil {
		return err
	}
	if t.ID != TrackID(t.Artist, t.Title) {
		return invalid("track id %q does not match artist and title", t.ID)
	}
	if math.IsNaN(t.BPM) || math.IsNaN(t.Duration) {
		return invalid("bpm and duration must be numbers")
	}
	if t.BPM != 0 && (t.BPM < MinBPM || t.BPM > MaxBPM) {
		return invalid("bpm %v outside %v–%v", t.BPM, MinBPM, MaxBPM)
	}
	if t.Duration < 0 || t.Duration > 24*3600 {
		return invalid("duration %v s", t.Duration)
	}
	return nil
}

// checkText refuses invalid UTF-8, control characters and overlong text.
func checkText(field, s string, max int, required bool) error {
	if required && strings.TrimSpace(s) == "" {
		return invalid("%s is empty", field)
	}
	if !utf8.ValidString(s) {
		return invalid("%s is not valid UTF-8", field)
	}
	if n := utf8.RuneCountInString(s); n > max {
		return invalid("%s is %d characters, at most %d", field, n, max)
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return invalid("%s contains a control character", field)
		}
	}
	return nil
}

// Decode parses and validates one stored event. Unknown fields are refused:
// a newer writer must bump Version instead of sneaking fields past us.
func Decode(data []byte) (Event, error) {
	var e Event
	if len(data) > MaxEventBytes {
		return e, invalid("%d bytes, at most %d", len(data), MaxEventBytes)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil {
		return Event{}, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if dec.More() {
		return Event{}, invalid("trailing data after the event")
	}
	if err := e.Validate(); err != nil {
		return Event{}, err
	}
	return e, nil
}

// Encode validates and marshals an event.
func Encode(e Event) ([]byte, error) {
	if err := e.Validate(); err != nil {
		return nil, err
	}
	b, err := json.Marshal(e)
	if err != nil {
		return nil, fmt.Errorf("bus: marshal %s: %w", e.Type, err)
	}
	if len(b) > MaxEventBytes {
		return nil, invalid("%d bytes, at most %d", len(b), MaxEventBytes)
	}
	return b, nil
}

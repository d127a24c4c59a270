package bus

import "time"

// SessionIdleTimeout ends a session in which nothing has happened for this
// long, as today's product does: Friday's set and Saturday's are two
// sessions even if the laptop never quit.
const SessionIdleTimeout = 4 * time.Hour

// PlayedTrack is one play as shown to people: the play's id (its event id),
// when it happened at the origin, and the track.
type PlayedTrack struct {
	PlayID   string    `json:"playId"`
	PlayedAt time.Time `json:"playedAt"`
	Track
}

// SessionState is a session folded from its events: the value kept in the
// sessions KV bucket under the session id, and the heart of every snapshot.
type SessionState struct {
	V              int          `json:"v"`
	ID             string       `json:"id"`
	DJ             string       `json:"djId"`
	DJName         string       `json:"djName"`
	StartedAt      time.Time    `json:"startedAt"`
	LastActivityAt time.Time    `json:"lastActivityAt"`
	EndedAt        *time.Time   `json:"endedAt,omitempty"`
	EndReason      string       `json:"endReason,omitempty"`
	Seq            uint64       `json:"seq"`
	Current        *PlayedTrack `json:"currentTrack"`
	Plays          int          `json:"plays"`
	// Crowd interaction state: the open poll, the announcement being shown
	// (until its EndsAt), and whether plays are hidden from dancers.
	Poll         *Poll         `json:"poll,omitempty"`
	Announcement *Announcement `json:"announcement,omitempty"`
	Paused       bool          `json:"paused,omitempty"`
}

// Apply folds one event into the state. Events at or below the state's Seq
// were already folded and are ignored, so replaying a stream is harmless; it
// reports whether the event changed anything.
func (s *SessionState) Apply(e Event) bool {
	if e.Seq <= s.Seq || (s.ID != "" && e.Session != s.ID) {
		return false
	}
	s.V = Version
	s.ID, s.DJ, s.Seq = e.Session, e.DJ, e.Seq
	if e.At.After(s.LastActivityAt) {
		s.LastActivityAt = e.At
	}
	switch e.Type {
	case TypeSessionStarted:
		s.DJName = e.Started.DJName
		s.StartedAt = e.At
	case TypeTrackPlayed:
		s.Current = &PlayedTrack{PlayID: e.ID, PlayedAt: e.At, Track: e.Play.Track}
		s.Plays++
		if s.StartedAt.IsZero() || e.At.Before(s.StartedAt) {
			s.StartedAt = e.At
		}
	case TypeTrackStopped:
		s.Current = nil
	case TypeSessionEnded:
		at := e.At
		s.EndedAt, s.EndReason, s.Current, s.Poll, s.Announcement = &at, e.Ended.Reason, nil, nil, nil
	case TypePollStarted:
		p := *e.Poll
		s.Poll = &p
	case TypePollClosed:
		if s.Poll != nil && s.Poll.ID == e.PollResult.ID {
			s.Poll = nil
		}
	case TypeAnnouncementMade:
		a := *e.Announcement
		s.Announcement = &a
	case TypeAnnouncementCancelled:
		if s.Announcement != nil && s.Announcement.ID == e.Ref.ID {
			s.Announcement = nil
		}
	case TypePlayHidden:
		if s.Current != nil && s.Current.PlayID == e.Ref.ID {
			s.Current = nil
		}
	case TypePlayCorrected:
		if s.Current != nil && s.Current.PlayID == e.Correction.PlayID {
			c := *s.Current
			c.Title, c.Artist = e.Correction.Title, e.Correction.Artist
			s.Current = &c
		}
	case TypeBroadcastPaused:
		s.Paused = true
	case TypeBroadcastResumed:
		s.Paused = false
	}
	return true
}

// Ended reports whether the session was ended explicitly or has gone idle.
func (s *SessionState) Ended(now time.Time) bool {
	return s.EndedAt != nil || now.Sub(s.LastActivityAt) >= SessionIdleTimeout
}

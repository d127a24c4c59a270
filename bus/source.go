package bus

import (
	"fmt"
	"strings"
	"time"
)

// SourceStatus is what the DJ side's detector is doing: which DJ program it
// follows, whether it reads it, the last track it saw, and what is wrong.
// It is for the DJ's console only: gateways forward it to sockets that
// proved the DJ secret, never to dancers. It is a plain NATS message on
// SourceSubject, sent when it changes and every SourceStatusEvery, so a
// console that opens later has it within that time.
type SourceStatus struct {
	Type    string    `json:"type"` // SourceStatusType
	V       int       `json:"v"`
	Session string    `json:"sessionId"`
	At      time.Time `json:"at"`
	// Source is the product id ("serato", "mixxx", …), "" when nothing is
	// followed (manual entry only); Name is the product as DJs know it.
	Source string `json:"source,omitempty"`
	Name   string `json:"name,omitempty"`
	Path   string `json:"path,omitempty"` // what it reads
	// State is SourceReading, SourceError or SourceNone.
	State      string    `json:"state"`
	LastTrack  string    `json:"lastTrack,omitempty"` // "Artist – Title" of the last play it handed over
	LastAt     time.Time `json:"lastAt,omitzero"`     // when that play started
	LastReadAt time.Time `json:"lastReadAt,omitzero"` // the last read without error
	Error      string    `json:"error,omitempty"`     // why it is not reading, in the DJ's words
	Why        string    `json:"why,omitempty"`       // how the source was chosen
	// Links are the DJ side's ways to the dancers: the venue's network and,
	// in LAN + cloud mode, the cloud (up or down), so the console shows
	// which work.
	Links []Link `json:"links,omitempty"`
}

// Link is one of the DJ side's ways to the dancers.
type Link struct {
	Name string `json:"name"` // LinkVenue or LinkCloud
	Up   bool   `json:"up"`
	// URL is where dancers join through this link (the base of the
	// session's /s/<id> link).
	URL   string    `json:"url,omitempty"`
	Since time.Time `json:"since,omitzero"` // when Up last changed
}

// Link names.
const (
	LinkVenue = "venue"
	LinkCloud = "cloud"
)

// maxLinks bounds SourceStatus.Links: there are two kinds.
const maxLinks = 4

// SourceStatusType is SourceStatus.Type.
const SourceStatusType = "source"

// States of SourceStatus.
const (
	SourceReading = "reading"
	SourceError   = "error"
	SourceNone    = "none"
)

// SourceStatusEvery is how often the DJ side repeats an unchanged status.
const SourceStatusEvery = 10 * time.Second

// MaxSourceStatusBytes bounds a status message.
const MaxSourceStatusBytes = 8 << 10

// Validate checks a status is well formed and small.
func (s *SourceStatus) Validate() error {
	if s.Type != SourceStatusType {
		return invalid("source status type %q", s.Type)
	}
	if !ValidID(s.Session) {
		return invalid("source status session %q", s.Session)
	}
	switch s.State {
	case SourceReading, SourceError, SourceNone:
	default:
		return invalid("source status state %q", s.State)
	}
	for _, f := range []struct {
		name, v string
		max     int
	}{{"source", s.Source, 32}, {"name", s.Name, MaxNameLen}, {"path", s.Path, 1024}, {"lastTrack", s.LastTrack, 2*MaxTextLen + 3},
		{"error", s.Error, 1024}, {"why", s.Why, 1024}} {
		if err := checkText(f.name, f.v, f.max, false); err != nil {
			return err
		}
	}
	if len(s.Links) > maxLinks {
		return invalid("source status with %d links", len(s.Links))
	}
	for _, l := range s.Links {
		if l.Name != LinkVenue && l.Name != LinkCloud {
			return invalid("source status link %q", l.Name)
		}
		if err := checkText("link url", l.URL, 1024, false); err != nil {
			return err
		}
	}
	return nil
}

// TrackLine is "Artist – Title", or the title alone without an artist.
func TrackLine(artist, title string) string {
	artist, title = strings.TrimSpace(artist), strings.TrimSpace(title)
	if artist == "" {
		return title
	}
	return fmt.Sprintf("%s – %s", artist, title)
}

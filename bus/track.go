package bus

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"unicode"

	"golang.org/x/text/unicode/norm"
)

// Track is what a dancer sees of a song. Fields a source does not know stay
// zero and are left out of the JSON.
type Track struct {
	// ID is TrackID(Artist, Title), set by NewTrack. It is what likes,
	// journals and history are keyed on, and never changes for a song.
	ID string `json:"id"`
	// Recording names the recording itself when the source knows it:
	// "isrc:…", "mbid:…" (MusicBrainz) or "audio:…" (a hash of the audio,
	// not the tags), best first; see RecordingID. It tells two recordings
	// with one name apart (a remix tagged without its remix name) and one
	// recording under two spellings together, for the recap; it never
	// replaces ID.
	Recording string  `json:"recording,omitempty"`
	Title     string  `json:"title"`
	Artist    string  `json:"artist"`
	Album     string  `json:"album,omitempty"`
	BPM       float64 `json:"bpm,omitempty"`
	Key       string  `json:"key,omitempty"`
	Duration  float64 `json:"durationSec,omitempty"` // seconds
}

// NewTrack returns a Track with its id computed from artist and title.
func NewTrack(artist, title string) Track {
	artist, title = strings.TrimSpace(artist), strings.TrimSpace(title)
	return Track{ID: TrackID(artist, title), Artist: artist, Title: title}
}

// RecordingID is Track.Recording from what a source knows, best first: an
// ISRC, else a MusicBrainz recording id, else an audio hash; "" with none.
func RecordingID(isrc, mbid, audioHash string) string {
	isrc = strings.ToUpper(strings.ReplaceAll(strings.TrimSpace(isrc), "-", ""))
	switch {
	case len(isrc) == 12:
		return "isrc:" + isrc
	case strings.TrimSpace(mbid) != "":
		return "mbid:" + strings.ToLower(strings.TrimSpace(mbid))
	case strings.TrimSpace(audioHash) != "":
		return "audio:" + strings.TrimSpace(audioHash)
	}
	return ""
}

// TrackID is the stable identity of a song, fixed for good:
//
//	"trk_" + hex(sha256(Normalize(artist) + "\n" + Normalize(title)))[:20]
//
// Two spellings that normalize alike ("Beyoncé" and "BEYONCE", "Don't" and
// "Dont") are one track. Changing this function would split every like and
// journal ever recorded, so it must never change.
func TrackID(artist, title string) string {
	sum := sha256.Sum256([]byte(Normalize(artist) + "\n" + Normalize(title)))
	return "trk_" + hex.EncodeToString(sum[:])[:20]
}

// Normalize folds a name for TrackID: Unicode NFKD, combining marks dropped
// (é → e), lower case, apostrophes dropped, every other run of characters
// that are not letters or digits replaced by one space, and trimmed.
func Normalize(s string) string {
	var b strings.Builder
	space := false
	for _, r := range norm.NFKD.String(s) {
		switch {
		case unicode.Is(unicode.Mn, r):
			continue
		case r == '\'' || r == '\u2019' || r == '`':
			continue
		case unicode.IsLetter(r) || unicode.IsDigit(r):
			if space && b.Len() > 0 {
				b.WriteByte(' ')
			}
			space = false
			b.WriteRune(unicode.ToLower(r))
		default:
			space = true
		}
	}
	return b.String()
}

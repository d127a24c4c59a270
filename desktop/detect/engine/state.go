package engine

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/pika-dj/pika/desktop/detect"
)

// maxDecks is how many decks one unit can have (Prime 4: four; a SC6000 two
// layers).
const maxDecks = 4

// StateMap paths, per deck (deckPath) and per unit.
const (
	pathDeckCount   = "/Engine/DeckCount"
	pathPlayer      = "/Client/Preferences/Player"
	pathCrossfader  = "/Mixer/CrossfaderPosition"
	pathFaderFmt    = "/Mixer/CH%dfaderPosition"
	pathAssignFmt   = "/Mixer/ChannelAssignment%d"
	deckPlay        = "Play"
	deckPlayState   = "PlayState"
	deckBPM         = "CurrentBPM"
	deckExtVolume   = "ExternalMixerVolume"
	deckIsMaster    = "DeckIsMaster"
	deckArtist      = "Track/ArtistName"
	deckTitle       = "Track/SongName"
	deckTrackBPM    = "Track/CurrentBPM"
	deckKeyIndex    = "Track/CurrentKeyIndex"
	deckLength      = "Track/TrackLength"
	deckNetworkPath = "Track/TrackNetworkPath"
	deckSongLoaded  = "Track/SongLoaded"
)

func deckPath(n int, leaf string) string { return fmt.Sprintf("/Engine/Deck%d/%s", n, leaf) }

// subscriptions lists every path the source asks a unit for. The unit-wide
// ones come first: a unit answers a subscription with the current value, so
// the deck count and player number are known before any deck's state.
func subscriptions() []string {
	paths := []string{pathDeckCount, pathPlayer, pathCrossfader}
	for ch := 1; ch <= maxDecks; ch++ {
		paths = append(paths, fmt.Sprintf(pathFaderFmt, ch), fmt.Sprintf(pathAssignFmt, ch))
	}
	for n := 1; n <= maxDecks; n++ {
		// The path first: after a reconnection it is what tells the load
		// on the deck is the one seen before.
		for _, leaf := range []string{deckNetworkPath, deckTitle, deckArtist, deckSongLoaded, deckPlay, deckPlayState,
			deckBPM, deckExtVolume, deckIsMaster, deckTrackBPM, deckKeyIndex, deckLength} {
			paths = append(paths, deckPath(n, leaf))
		}
	}
	return paths
}

// value is one StateMap value. Units send small JSON objects:
// {"type":1,"state":true} for switches, {"type":0,"value":0.5} for numbers,
// {"type":8,"string":"…"} for text; PlayState has been seen with a number
// in "state".
type value struct {
	Str  string
	Num  float64
	Bool bool
	Kind byte // 's', 'n', 'b'
}

// parseValue reads the JSON object go-stagelinq decoded. ok is false for a
// shape it does not know, which the caller treats as the path being absent.
func parseValue(m map[string]any) (v value, ok bool) {
	for _, field := range []string{"string", "state", "value", "color"} {
		raw, present := m[field]
		if !present {
			continue
		}
		switch x := raw.(type) {
		case string:
			return value{Str: x, Kind: 's'}, true
		case bool:
			return value{Bool: x, Kind: 'b'}, true
		case float64:
			if math.IsNaN(x) || math.IsInf(x, 0) {
				return value{}, false
			}
			return value{Num: x, Kind: 'n'}, true
		}
	}
	return value{}, false
}

// truth reads v as a switch.
func (v value) truth() bool {
	switch v.Kind {
	case 'b':
		return v.Bool
	case 'n':
		return v.Num != 0
	case 's':
		b, _ := strconv.ParseBool(strings.TrimSpace(v.Str))
		return b
	}
	return false
}

// number reads v as a number.
func (v value) number() (float64, bool) {
	switch v.Kind {
	case 'n':
		return v.Num, true
	case 'b':
		if v.Bool {
			return 1, true
		}
		return 0, true
	case 's':
		f, err := strconv.ParseFloat(strings.TrimSpace(v.Str), 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return 0, false
		}
		return f, true
	}
	return 0, false
}

// text reads v as text.
func (v value) text() string {
	if v.Kind == 's' {
		return strings.TrimSpace(v.Str)
	}
	return ""
}

// snapshot is one unit's state at a moment: what decks() maps to decks.
type snapshot struct {
	Values map[string]value     // by StateMap path
	Loads  [maxDecks + 1]string // Entry.ID of each deck's current load, by deck number; "" when empty
}

func (s snapshot) get(path string) (value, bool) {
	v, ok := s.Values[path]
	return v, ok
}

func (s snapshot) num(path string) (float64, bool) {
	v, ok := s.Values[path]
	if !ok {
		return 0, false
	}
	return v.number()
}

// decks maps a unit's state to its loaded decks.
//
// Level: on a unit with its own mixer (Prime 4, Prime 2, Prime Go) it is the
// channel fader times the crossfader's gain for the channel's side. On a
// player whose channel comes from a linked X1800/X1850 it is
// ExternalMixerVolume. With neither (an analog or third-party mixer) it is 1
// while the deck plays: Engine then cannot tell a headphone preview from
// the room, so every playing deck counts, but only after Policy.MinAudible
// like any other deck, so a cue tap is not a play.
func decks(s snapshot) []detect.Deck {
	count := maxDecks
	if n, ok := s.num(pathDeckCount); ok && n >= 1 && n <= maxDecks {
		count = int(n)
	}
	player := 0
	if p, ok := s.num(pathPlayer); ok && p >= 1 && p <= 8 {
		player = int(p)
	}
	mixer := false
	for ch := 1; ch <= maxDecks; ch++ {
		if _, ok := s.num(fmt.Sprintf(pathFaderFmt, ch)); ok {
			mixer = true
		}
	}
	var out []detect.Deck
	for n := 1; n <= count; n++ {
		if s.Loads[n] == "" {
			continue
		}
		playing := false
		for _, leaf := range []string{deckPlay, deckPlayState} {
			if v, ok := s.get(deckPath(n, leaf)); ok && v.truth() {
				playing = true
			}
		}
		level := 0.0
		switch ext, extOK := s.num(deckPath(n, deckExtVolume)); {
		case mixer:
			fader, _ := s.num(fmt.Sprintf(pathFaderFmt, n))
			level = clamp01(fader) * crossfaderGain(s, n)
		case extOK:
			level = clamp01(ext)
		case playing:
			level = 1
		}
		out = append(out, detect.Deck{
			Deck:    deckName(n, count, player),
			Entry:   entry(s, n),
			Playing: playing,
			Level:   level,
		})
	}
	return out
}

// deckName names deck n as the DJ sees it: "1".."4" on a unit with more
// than two decks or no player number, "P2-A"/"P2-B" for the two layers of
// player 2 in a set of linked players.
func deckName(n, count, player int) string {
	if count > 2 || player == 0 {
		return strconv.Itoa(n)
	}
	return fmt.Sprintf("P%d-%c", player, 'A'+rune(n-1))
}

// crossfaderGain is how much of mixer channel ch the crossfader lets
// through: 1 for a channel on THRU (or whose assignment is not known), and
// for a channel on side A full from the A end to the centre, then falling
// linearly to 0 at the B end (the mirror for side B). The centre passes both
// sides fully, as Engine's default crossfader curve does (unverified).
// CrossfaderPosition runs 0 (A) .. 1 (B) (unverified).
func crossfaderGain(s snapshot, ch int) float64 {
	x, ok := s.num(pathCrossfader)
	if !ok {
		return 1
	}
	x = clamp01(x)
	v, _ := s.get(fmt.Sprintf(pathAssignFmt, ch))
	switch side(v) {
	case 'A':
		return clamp01(2 * (1 - x))
	case 'B':
		return clamp01(2 * x)
	}
	return 1
}

// side reads a ChannelAssignment value as the crossfader side 'A', 'B', or
// 0 for THRU or anything not understood (the format is unverified; THRU is
// the safe reading, leaving the channel fader alone to decide).
func side(v value) byte {
	s := strings.ToUpper(v.text())
	switch s {
	case "A", "L", "LEFT", "XFADERA", "CROSSFADERA":
		return 'A'
	case "B", "R", "RIGHT", "XFADERB", "CROSSFADERB":
		return 'B'
	}
	return 0
}

func clamp01(f float64) float64 { return min(max(f, 0), 1) }

// entry is the track on deck n as the unit reports it.
func entry(s snapshot, n int) detect.Entry {
	text := func(leaf string) string {
		v, _ := s.get(deckPath(n, leaf))
		return v.text()
	}
	e := detect.Entry{
		Artist: text(deckArtist),
		Title:  text(deckTitle),
		Path:   text(deckNetworkPath),
		Source: ProductID,
		ID:     s.Loads[n],
	}
	// The deck's tempo as playing (pitch included) is what dancers hear;
	// the track's own value is the fallback.
	for _, leaf := range []string{deckBPM, deckTrackBPM} {
		if b, ok := s.num(deckPath(n, leaf)); ok && b > 0 && b < 1000 {
			e.BPM = math.Round(b*100) / 100
			break
		}
	}
	if k, ok := s.num(deckPath(n, deckKeyIndex)); ok {
		e.Key = keyName(k)
	}
	if l, ok := s.num(deckPath(n, deckLength)); ok && l > 0 && l < 24*3600 {
		e.Duration = l
	}
	return e
}

// keyNames is Engine's key index order (the library's key column, as
// libdjinterop reads it: around the circle of fifths, major then relative
// minor). That CurrentKeyIndex uses the same order is unverified.
var keyNames = [24]string{
	"C", "Am", "G", "Em", "D", "Bm", "A", "F#m", "E", "C#m", "B", "G#m",
	"F#", "D#m", "Db", "Bbm", "Ab", "Fm", "Eb", "Cm", "Bb", "Gm", "F", "Dm",
}

func keyName(k float64) string {
	if k < 0 || k >= float64(len(keyNames)) || k != math.Trunc(k) {
		return ""
	}
	return keyNames[int(k)]
}

// loadKey is what tells one load of a deck from the next: the track's
// network path, or its title for a source without one (streaming).
func loadKey(s snapshot, n int) string {
	if v, _ := s.get(deckPath(n, deckNetworkPath)); v.text() != "" {
		return v.text()
	}
	v, _ := s.get(deckPath(n, deckTitle))
	return v.text()
}

// loadID names one load: the unit, the deck, the track and when the load
// was first seen. at is zero for a load already on the deck when Pika!
// first connected, so a restart mid-track gives the same ID.
func loadID(device string, n int, key string, at time.Time) string {
	var stamp int64
	if !at.IsZero() {
		stamp = at.UnixMilli()
	}
	sum := sha256.Sum256(fmt.Appendf(nil, "%s\x00%d\x00%s\x00%d", device, n, key, stamp))
	return ProductID + "-" + hex.EncodeToString(sum[:])[:20]
}

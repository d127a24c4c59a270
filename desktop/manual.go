package desktop

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/pika-dj/pika/bus"
)

// ManualSyntax is the one line the DJ types, shown in help text and errors.
const ManualSyntax = `"Artist - Title", or "Title" alone, optionally ending in "| 96" for the BPM`

// ParseManual turns a line typed by the DJ into a play with Source "manual":
//
//	Artist - Title | 96
//	Artist - Title
//	Title | 96 bpm
//	Title
//
// The artist ends at the first " - " (or " – "), so a title may itself hold a
// dash ("Artist - Song - Radio Edit"). The BPM is whatever follows the last
// "|", with an optional "bpm". The play has no Key: typing a song twice is
// two plays, as the DJ meant.
func ParseManual(line string) (Detected, error) {
	s := strings.TrimSpace(line)
	if s == "" {
		return Detected{}, fmt.Errorf("desktop: manual entry is empty: type %s", ManualSyntax)
	}
	var bpm float64
	if i := strings.LastIndex(s, "|"); i >= 0 {
		raw := strings.TrimSpace(s[i+1:])
		num := strings.TrimSpace(strings.TrimSuffix(strings.ToLower(raw), "bpm"))
		v, err := strconv.ParseFloat(num, 64)
		if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
			return Detected{}, fmt.Errorf("desktop: manual entry: %w: BPM %q after \"|\" is not a number", bus.ErrInvalid, raw)
		}
		bpm, s = v, strings.TrimSpace(s[:i])
	}
	if strings.HasSuffix(s, " -") || strings.HasSuffix(s, " –") {
		// "Artist - " trimmed: a separator with nothing after it.
		return Detected{}, errors.New("desktop: manual entry has no title after the dash: type " + ManualSyntax)
	}
	artist, title := "", s
	cut := -1
	sepLen := 0
	for _, sep := range []string{" - ", " – "} {
		if i := strings.Index(s, sep); i >= 0 && (cut < 0 || i < cut) {
			cut, sepLen = i, len(sep)
		}
	}
	if cut >= 0 {
		artist, title = s[:cut], s[cut+sepLen:]
	}
	t := bus.NewTrack(artist, title)
	if t.Title == "" {
		return Detected{}, errors.New("desktop: manual entry has no title: type " + ManualSyntax)
	}
	t.BPM = bpm
	if err := t.Validate(); err != nil {
		return Detected{}, fmt.Errorf("desktop: manual entry: %w", err)
	}
	return Detected{Track: t, Source: "manual"}, nil
}

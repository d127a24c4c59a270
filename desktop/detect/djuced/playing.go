package djuced

import (
	"strings"
	"unicode/utf8"

	"github.com/pika-dj/pika/desktop/detect"
)

// Format is the Text File Output format Pika! reads: one line per deck.
const Format = "%TI% | %DE% | %AR% | %AL%"

// Line is one deck's line of playing.txt.
type Line struct {
	Deck, Title, Artist, Album string
}

// empty is a line for a deck with nothing loaded.
func (l Line) empty() bool { return l.Title == "" && l.Artist == "" }

// maxFile bounds how much of playing.txt is read: it holds a line per deck.
const maxFile = 64 << 10

// ParsePlaying reads playing.txt written with Format: "title | deck |
// artist | album" lines, in UTF-8 (with or without a BOM), UTF-16 or
// Windows-1252, with any line endings. A line without a deck (a file caught
// half-written, a different format) is left out; a later line for the same
// deck wins.
func ParsePlaying(data []byte) []Line {
	var out []Line
	for _, raw := range strings.Split(decode(data), "\n") {
		l, ok := parseLine(raw)
		if !ok {
			continue
		}
		replaced := false
		for i := range out {
			if out[i].Deck == l.Deck {
				out[i], replaced = l, true
			}
		}
		if !replaced {
			out = append(out, l)
		}
	}
	return out
}

func parseLine(raw string) (Line, bool) {
	parts := strings.Split(raw, "|")
	if len(parts) < 2 {
		return Line{}, false
	}
	for i := range parts {
		parts[i] = clean(parts[i])
	}
	// The deck is the second field; a title with " | " in it pushes it
	// right, so take the first field after the title that is a deck.
	for i := 1; i < len(parts); i++ {
		deck, ok := deckName(parts[i])
		if !ok {
			continue
		}
		l := Line{Deck: deck, Title: joinFields(parts[:i])}
		if i+1 < len(parts) {
			l.Artist = parts[i+1]
		}
		if i+2 < len(parts) {
			l.Album = joinFields(parts[i+2:])
		}
		return l, true
	}
	return Line{}, false
}

// joinFields puts back the bars a title or album had in it.
func joinFields(parts []string) string {
	return strings.TrimSpace(strings.Join(parts, " | "))
}

// deckName reads DJUCED's %DE%: "1".."4" (or "Deck 1", or "A".."D" — which
// it writes is unverified).
func deckName(s string) (string, bool) {
	s = strings.TrimSpace(s)
	if len(s) > 5 && strings.EqualFold(s[:5], "deck ") {
		s = strings.TrimSpace(s[5:])
	}
	switch {
	case len(s) == 1 && s[0] >= '1' && s[0] <= '8':
		return s, true
	case len(s) == 1 && (s[0] >= 'A' && s[0] <= 'D' || s[0] >= 'a' && s[0] <= 'd'):
		return strings.ToUpper(s), true
	}
	return "", false
}

// decode turns the file's bytes into text with "\n" line ends.
func decode(b []byte) string {
	if len(b) > maxFile {
		b = b[:maxFile]
	}
	s := detect.DecodeText(b)
	s = strings.ReplaceAll(s, "\r\n", "\n")
	return strings.ReplaceAll(s, "\r", "\n")
}

// clean trims a field and drops control characters and NULs.
func clean(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == '\uFEFF' {
			return -1
		}
		return r
	}, s)
	if len(s) > 512 {
		s = s[:512]
		for !utf8.ValidString(s) {
			s = s[:len(s)-1]
		}
	}
	return strings.TrimSpace(s)
}

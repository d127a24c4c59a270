package nowplaying

import (
	"math"
	"strconv"
	"strings"
	"unicode"

	"github.com/pika-dj/pika/desktop/detect"
)

// maxField bounds each field read, in bytes: a damaged file must not put
// megabytes on every dancer's phone.
const maxField = 1024

// ParseNowPlaying reads the track a now-playing file names. It accepts
//
//   - one line "Artist - Title" (also with an en or em dash); a line with
//     no dash is the title;
//   - "Key: value" lines as djay's NowPlaying.txt writes them: Title,
//     Artist, Album, BPM, Key, Time or Duration (M:SS or seconds); other
//     keys are ignored and "N/A" means empty;
//
// in UTF-8 with or without a BOM, UTF-16 with a BOM, or else CP-1252.
// ok is false when the file names no track (empty: nothing is playing).
// Only Artist, Title, Album, BPM, Key and Duration are set.
func ParseNowPlaying(b []byte) (e detect.Entry, ok bool) {
	lines := strings.FieldsFunc(detect.DecodeText(b), func(r rune) bool { return r == '\n' || r == '\r' })
	var kv bool
	for _, line := range lines {
		name, value, found := strings.Cut(line, ":")
		if !found {
			continue
		}
		switch strings.ToLower(strings.TrimSpace(name)) {
		case "title":
			e.Title, kv = field(value), true
		case "artist":
			e.Artist, kv = field(value), true
		case "album":
			e.Album = field(value)
		case "bpm":
			e.BPM = bpm(field(value))
		case "key":
			e.Key = field(value)
		case "time", "duration", "length":
			e.Duration = seconds(field(value))
		}
	}
	if !kv {
		e = detect.Entry{}
		for _, line := range lines {
			if line = field(line); line != "" {
				e.Artist, e.Title = splitArtistTitle(line)
				break
			}
		}
	}
	return e, e.Artist != "" || e.Title != ""
}

// field cleans one value: no control characters or BOMs, trimmed, "N/A"
// empty, bounded.
func field(s string) string {
	s = strings.Map(func(r rune) rune {
		if r == '\uFEFF' || unicode.IsControl(r) {
			return -1
		}
		return r
	}, s)
	s = strings.TrimSpace(s)
	if strings.EqualFold(s, "N/A") {
		return ""
	}
	if len(s) > maxField {
		s = strings.TrimSpace(strings.ToValidUTF8(s[:maxField], ""))
	}
	return s
}

// separators split "Artist - Title", most common first.
var separators = []string{" - ", " – ", " — "}

// splitArtistTitle splits a line at its first separator; a line without
// one is all title.
func splitArtistTitle(line string) (artist, title string) {
	at := -1
	var sep string
	for _, s := range separators {
		if i := strings.Index(line, s); i >= 0 && (at < 0 || i < at) {
			at, sep = i, s
		}
	}
	if at < 0 {
		return "", line
	}
	artist, title = strings.TrimSpace(line[:at]), strings.TrimSpace(line[at+len(sep):])
	if title == "" {
		return "", artist
	}
	return artist, title
}

// bpm reads a tempo ("101", "101.5", "101,5"); 0 when it is not one.
func bpm(s string) float64 {
	f, err := strconv.ParseFloat(strings.Replace(s, ",", ".", 1), 64)
	if err != nil || math.IsNaN(f) || f <= 0 || f > 999 {
		return 0
	}
	return f
}

// seconds reads a length, "3:51", "1:02:03" or "231.4"; 0 when it is not
// one.
func seconds(s string) float64 {
	parts := strings.Split(s, ":")
	if len(parts) > 3 {
		return 0
	}
	var total float64
	for i, p := range parts {
		f, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
		if err != nil || math.IsNaN(f) || f < 0 || (i > 0 && f >= 60) {
			return 0
		}
		total = total*60 + f
	}
	if total <= 0 || total > 24*3600 {
		return 0
	}
	return total
}

package nowplaying

import (
	"strings"
	"testing"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/pika-dj/pika/desktop/detect"
)

func utf16LE(s string, bom bool) []byte {
	var b []byte
	if bom {
		b = []byte{0xFF, 0xFE}
	}
	for _, u := range utf16.Encode([]rune(s)) {
		b = append(b, byte(u), byte(u>>8))
	}
	return b
}

func utf16BE(s string) []byte {
	b := []byte{0xFE, 0xFF}
	for _, u := range utf16.Encode([]rune(s)) {
		b = append(b, byte(u>>8), byte(u))
	}
	return b
}

func TestParseNowPlaying(t *testing.T) {
	djay := "Title: Smooth Sailing (Club Edit)\nArtist: The Inventions\nAlbum: N/A\nTime: 03:18\n"
	tests := []struct {
		name string
		in   []byte
		want detect.Entry
		ok   bool
	}{
		{"artist - title", []byte("Example Band - Slow Dance\n"), detect.Entry{Artist: "Example Band", Title: "Slow Dance"}, true},
		{"en dash, no newline", []byte("Lila Moreau – Pocket Funk"), detect.Entry{Artist: "Lila Moreau", Title: "Pocket Funk"}, true},
		{"em dash", []byte("Lila Moreau — Pocket Funk\r\n"), detect.Entry{Artist: "Lila Moreau", Title: "Pocket Funk"}, true},
		{"first separator splits", []byte("Jay-Z & Co - Up - Tempo (Live)\n"), detect.Entry{Artist: "Jay-Z & Co", Title: "Up - Tempo (Live)"}, true},
		{"no separator: all title", []byte("Untitled Groove 7\n"), detect.Entry{Title: "Untitled Groove 7"}, true},
		{"trailing dash", []byte("Example Band - \n"), detect.Entry{Title: "Example Band -"}, true},
		{"blank lines first", []byte("\n\n  Example Band - Slow Dance  \nsecond line ignored\n"), detect.Entry{Artist: "Example Band", Title: "Slow Dance"}, true},
		{"djay NowPlaying.txt", []byte(djay), detect.Entry{Artist: "The Inventions", Title: "Smooth Sailing (Club Edit)", Duration: 198}, true},
		{"key-value, all fields, CRLF", []byte("Artist: Lila Moreau\r\nTitle: Pocket Funk\r\nAlbum: Grooves\r\nBPM: 104,5\r\nKey: 8A\r\nDuration: 245.9\r\n"),
			detect.Entry{Artist: "Lila Moreau", Title: "Pocket Funk", Album: "Grooves", BPM: 104.5, Key: "8A", Duration: 245.9}, true},
		{"key-value, title with a colon", []byte("title: Remix: The Return\nartist: N/A\n"), detect.Entry{Title: "Remix: The Return"}, true},
		{"key-value, all N/A", []byte("Title: N/A\nArtist: n/a\nAlbum: N/A\n"), detect.Entry{}, false},
		{"unknown keys only: a line", []byte("Now: Example Band - Slow Dance\n"), detect.Entry{Artist: "Now: Example Band", Title: "Slow Dance"}, true},
		{"odd numbers", []byte("Title: X\nBPM: fast\nTime: 99:99\n"), detect.Entry{Title: "X"}, true},
		{"hours", []byte("Title: Long Mix\nTime: 1:02:03\n"), detect.Entry{Title: "Long Mix", Duration: 3723}, true},
		{"UTF-8 BOM", []byte("\xEF\xBB\xBFMotörhead - Ace\n"), detect.Entry{Artist: "Motörhead", Title: "Ace"}, true},
		{"UTF-16 LE BOM", utf16LE("Title: Café Swing\r\nArtist: Zoë – Trio\r\n", true), detect.Entry{Artist: "Zoë – Trio", Title: "Café Swing"}, true},
		{"UTF-16 BE BOM", utf16BE("Beyoncé – Halo 🎶\n"), detect.Entry{Artist: "Beyoncé", Title: "Halo 🎶"}, true},
		{"UTF-16 LE without BOM", utf16LE("Example Band - Slow Dance", false), detect.Entry{Artist: "Example Band", Title: "Slow Dance"}, true},
		{"UTF-16 odd byte", append(utf16LE("Ab - Cd", true), 'x'), detect.Entry{Artist: "Ab", Title: "Cd"}, true},
		{"CP-1252", []byte("Mot\xf6rhead \x96 Ace of Spades\r\n"), detect.Entry{Artist: "Motörhead", Title: "Ace of Spades"}, true},
		{"empty", nil, detect.Entry{}, false},
		{"whitespace", []byte(" \r\n\t\n"), detect.Entry{}, false},
		{"BOM only", []byte("\xEF\xBB\xBF"), detect.Entry{}, false},
		{"UTF-16 BOM only", []byte{0xFF, 0xFE}, detect.Entry{}, false},
		{"control characters", []byte("Exa\x00mple\x07 Band - Slow\tDance\n"), detect.Entry{Artist: "Example Band", Title: "SlowDance"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := ParseNowPlaying(tt.in)
			if got != tt.want || ok != tt.ok {
				t.Errorf("ParseNowPlaying(%q)\n got %+v, %v\nwant %+v, %v", tt.in, got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestParseNowPlayingBoundsFields(t *testing.T) {
	long := strings.Repeat("é", 5000)
	got, ok := ParseNowPlaying([]byte("Title: " + long + "\nArtist: x\n"))
	if !ok || len(got.Title) > maxField || !utf8.ValidString(got.Title) {
		t.Fatalf("title of %d bytes, ok %v", len(got.Title), ok)
	}
}

// FuzzParseNowPlaying: the file is whatever some program wrote.
func FuzzParseNowPlaying(f *testing.F) {
	f.Add([]byte("Example Band - Slow Dance\n"))
	f.Add([]byte("Title: Smooth Sailing\nArtist: The Inventions\nAlbum: N/A\nTime: 03:18\n"))
	f.Add(utf16LE("Title: Café\r\nArtist: Zoë\r\n", true))
	f.Fuzz(func(t *testing.T, b []byte) {
		e, ok := ParseNowPlaying(b)
		if ok != (e.Artist != "" || e.Title != "") {
			t.Errorf("ok %v for %+v", ok, e)
		}
		for _, s := range []string{e.Artist, e.Title, e.Album, e.Key} {
			if !utf8.ValidString(s) || len(s) > maxField || strings.ContainsAny(s, "\r\n\x00") || s != strings.TrimSpace(s) {
				t.Errorf("bad field %q", s)
			}
		}
		if e.BPM < 0 || e.BPM > 999 || e.Duration < 0 || e.Duration > 24*3600 || e.BPM != e.BPM || e.Duration != e.Duration {
			t.Errorf("bad numbers %+v", e)
		}
	})
}

package djuced

import (
	"encoding/binary"
	"reflect"
	"strings"
	"testing"
	"unicode/utf16"
	"unicode/utf8"
)

func utf16Bytes(s string, bigEndian, bom bool) []byte {
	var b []byte
	if bom {
		s = "\uFEFF" + s
	}
	for _, u := range utf16.Encode([]rune(s)) {
		if bigEndian {
			b = binary.BigEndian.AppendUint16(b, u)
		} else {
			b = binary.LittleEndian.AppendUint16(b, u)
		}
	}
	return b
}

const twoDecks = "Slow Burn Shuffle | 1 | The Invented Trio | Late Night Sessions\r\nCafé Groove | 2 | Zoë & The Swingouts | Sunday Social\r\n"

func TestParsePlaying(t *testing.T) {
	both := []Line{
		{Deck: "1", Title: "Slow Burn Shuffle", Artist: "The Invented Trio", Album: "Late Night Sessions"},
		{Deck: "2", Title: "Café Groove", Artist: "Zoë & The Swingouts", Album: "Sunday Social"},
	}
	tests := []struct {
		name string
		data []byte
		want []Line
	}{
		{"CRLF", []byte(twoDecks), both},
		{"UTF-8 BOM, LF, no final newline", []byte("\xEF\xBB\xBF" + strings.TrimSuffix(strings.ReplaceAll(twoDecks, "\r\n", "\n"), "\n")), both},
		{"UTF-16LE with BOM", utf16Bytes(twoDecks, false, true), both},
		{"UTF-16BE with BOM", utf16Bytes(twoDecks, true, true), both},
		{"UTF-16LE without BOM", utf16Bytes(twoDecks, false, false), both},
		{"UTF-16LE cut mid-character", utf16Bytes(twoDecks, false, true)[:len(utf16Bytes(twoDecks, false, true))-1], both},
		{"Windows-1252", []byte("Caf\xe9 Groove | 2 | Zo\xeb & The Swingouts | Sunday Social\r\n"), both[1:]},
		{"half-written: second line cut in its title", []byte("Slow Burn Shuffle | 1 | The Invented Trio | Late Night Sessions\r\nCafé Gro"), both[:1]},
		{"half-written: second line cut after its deck", []byte(twoDecks[:strings.Index(twoDecks, "Zoë")]), []Line{both[0], {Deck: "2", Title: "Café Groove"}}},
		{"a title with a bar in it", []byte("Left | Right | 3 | Duo | Album | Part 2\n"), []Line{{Deck: "3", Title: "Left | Right", Artist: "Duo", Album: "Album | Part 2"}}},
		{"Deck N and letters", []byte("A | Deck 2 | B | C\nD | b | E | F\n"), []Line{{Deck: "2", Title: "A", Artist: "B", Album: "C"}, {Deck: "B", Title: "D", Artist: "E", Album: "F"}}},
		{"an empty deck", []byte(" | 2 |  | \n"), []Line{{Deck: "2"}}},
		{"a later line for a deck wins", []byte("Old | 1 | X | Y\nNew | 1 | X | Y\n"), []Line{{Deck: "1", Title: "New", Artist: "X", Album: "Y"}}},
		{"another format", []byte("The Invented Trio - Slow Burn Shuffle\n"), nil},
		{"empty", nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ParsePlaying(tt.data); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %q\nwant %q", got, tt.want)
			}
		})
	}
}

func FuzzParsePlaying(f *testing.F) {
	f.Add([]byte(twoDecks))
	f.Add(utf16Bytes(twoDecks, false, true))
	f.Add([]byte(twoDecks[:40]))
	f.Add([]byte("Left | Right | 3 | Duo | Album\n | 4 |  | \n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		seen := map[string]bool{}
		for _, l := range ParsePlaying(data) {
			if l.Deck == "" || seen[l.Deck] {
				t.Fatalf("deck %q missing or repeated in %q", l.Deck, l)
			}
			seen[l.Deck] = true
			for _, s := range []string{l.Deck, l.Title, l.Artist, l.Album} {
				if !utf8.ValidString(s) || strings.ContainsAny(s, "\r\n\x00") || s != strings.TrimSpace(s) {
					t.Fatalf("field %q of %q", s, l)
				}
			}
		}
	})
}

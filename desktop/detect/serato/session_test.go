package serato

import (
	"bytes"
	"encoding/binary"
	"reflect"
	"testing"
	"time"
	"unicode/utf16"
)

// Helpers writing Serato DJ 3 session chunks as Serato does.

func be32(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }

func chunk(tag string, payload []byte) []byte {
	out := append([]byte(tag), be32(uint32(len(payload)))...)
	return append(out, payload...)
}

func field(id uint32, v []byte) []byte {
	return append(append(be32(id), be32(uint32(len(v)))...), v...)
}

// utf16z is a string field's value: UTF-16BE with its terminating NUL.
func utf16z(s string) []byte {
	var out []byte
	for _, u := range utf16.Encode([]rune(s + "\x00")) {
		out = binary.BigEndian.AppendUint16(out, u)
	}
	return out
}

func vrsn(s string) []byte { return chunk("vrsn", utf16z(s)[:len(utf16z(s))-2]) }

// track is one row as a test writes it.
type track struct {
	row, deck     uint32
	artist, title string
	start         time.Time
	played        bool
	playTime      uint32
	end           time.Time
	wideTimes     bool // 8-byte timestamps, as some versions write
}

func (tr track) path() string {
	return "/Users/dj/Music/WCS/" + tr.artist + " - " + tr.title + ".mp3"
}

func (tr track) oent() []byte {
	ts := func(t time.Time) []byte {
		if tr.wideTimes {
			return binary.BigEndian.AppendUint64(nil, uint64(t.Unix()))
		}
		return be32(uint32(t.Unix()))
	}
	played := byte(0)
	if tr.played {
		played = 1
	}
	var f []byte
	f = append(f, field(fieldRow, be32(tr.row))...)
	f = append(f, field(fieldPath, utf16z(tr.path()))...)
	f = append(f, field(fieldLocation, utf16z("/Users/dj/Music/WCS"))...)
	f = append(f, field(fieldFileName, utf16z(tr.artist+" - "+tr.title+".mp3"))...)
	f = append(f, field(fieldTitle, utf16z(tr.title))...)
	f = append(f, field(fieldArtist, utf16z(tr.artist))...)
	f = append(f, field(fieldAlbum, utf16z("Invented Album"))...)
	f = append(f, field(fieldLength, utf16z("03:35.40"))...)
	f = append(f, field(13, utf16z("320.0kbps"))...)
	f = append(f, field(fieldBPM, be32(97))...)
	f = append(f, field(18, []byte("en"))...)
	if !tr.start.IsZero() {
		f = append(f, field(fieldStart, ts(tr.start))...)
	}
	if !tr.end.IsZero() {
		f = append(f, field(fieldEnd, ts(tr.end))...)
	}
	f = append(f, field(fieldDeck, be32(tr.deck))...)
	f = append(f, field(fieldPlayTime, be32(tr.playTime))...)
	f = append(f, field(48, be32(7))...)
	f = append(f, field(fieldPlayed, []byte{played})...)
	f = append(f, field(fieldKey, utf16z("Am"))...)
	f = append(f, field(52, []byte{1})...)
	f = append(f, field(63, utf16z("Deck "+string(rune('0'+tr.deck))))...)
	return chunk("oent", chunk("adat", f))
}

func oren(row uint32) []byte { return chunk("oren", chunk("uent", be32(row))) }

func join(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func TestParseSession(t *testing.T) {
	a := track{row: 1, deck: 1, artist: "Invented Band", title: "Slow Burn", start: t0}
	aPlayed := a
	aPlayed.played = true
	b := track{row: 2, deck: 2, artist: "Other Band", title: "Mistake", start: t0.Add(time.Minute)}
	c := track{row: 3, deck: 2, artist: "Other Band", title: "Push Break", start: t0.Add(2 * time.Minute), played: true, wideTimes: true}
	junk := []byte("\x7f\x01garbage after the blank space")
	data := join(vrsn("1.0/Serato Scratch LIVE Review"), a.oent(), b.oent(), aPlayed.oent(), oren(2),
		make([]byte, 4096), junk, c.oent())

	s := ParseSession(data)
	if s.Version != "1.0/Serato Scratch LIVE Review" || s.Truncated || s.Complete != len(data) || s.Skipped != 4096+len(junk) {
		t.Fatalf("session %+v", s)
	}
	if len(s.Rows) != 2 {
		t.Fatalf("rows %+v, want rows 1 and 3 (2 removed)", s.Rows)
	}
	want := SessionRow{Row: 1, Path: a.path(), Location: "/Users/dj/Music/WCS", FileName: "Invented Band - Slow Burn.mp3",
		Title: "Slow Burn", Artist: "Invented Band", Album: "Invented Album", Key: "Am", Length: "03:35.40",
		BPM: 97, Start: t0.Unix(), Deck: 1, Played: true}
	if !reflect.DeepEqual(s.Rows[0], want) {
		t.Fatalf("row 1\n got %+v\nwant %+v", s.Rows[0], want)
	}
	if r := s.Rows[1]; r.Row != 3 || r.Start != c.start.Unix() || r.Deck != 2 || !r.Played || r.Title != "Push Break" {
		t.Fatalf("row 3 (8-byte times) %+v", r)
	}

	// Every prefix: a file cut anywhere (Serato mid-write) parses without
	// harm, and what it reports complete parses the same on its own.
	for n := range len(data) {
		p := ParseSession(data[:n])
		if p.Complete > n {
			t.Fatalf("prefix %d: complete %d", n, p.Complete)
		}
		if !reflect.DeepEqual(ParseSession(data[:p.Complete]).Rows, p.Rows) {
			t.Fatalf("prefix %d: the complete part parses differently", n)
		}
	}
}

func TestParseSessionHalfWrittenRow(t *testing.T) {
	a := track{row: 1, deck: 1, artist: "A", title: "Loaded", start: t0}
	aPlayed := a
	aPlayed.played = true
	whole := aPlayed.oent()
	// Serato preallocated zeros and is writing the update into them: the
	// header is there, the fields only in part.
	data := join(a.oent(), whole[:40], make([]byte, len(whole)-40+1024))
	s := ParseSession(data)
	if len(s.Rows) != 1 || s.Rows[0].Played || s.Rows[0].Title != "Loaded" {
		t.Fatalf("a half-written update changed the row: %+v", s.Rows)
	}
	// Cut inside a chunk, without preallocation: reading stops cleanly.
	s = ParseSession(join(a.oent(), whole[:len(whole)-5]))
	if !s.Truncated || s.Complete != len(a.oent()) || len(s.Rows) != 1 || s.Rows[0].Played {
		t.Fatalf("truncated: %+v", s)
	}
}

func TestParseSessionDamage(t *testing.T) {
	a := track{row: 1, deck: 1, artist: "A", title: "Good", start: t0, played: true}
	for name, data := range map[string][]byte{
		"enormous length":   join(chunk("xxxx", nil)[:4], be32(0xfffffff0), a.oent()),
		"oent without adat": join(chunk("oent", chunk("zzzz", []byte("hi"))), a.oent()),
		"adat bad field":    join(chunk("oent", chunk("adat", join(field(fieldRow, be32(9)), be32(6), be32(1000)))), a.oent()),
		"row without id":    join(chunk("oent", chunk("adat", field(fieldTitle, utf16z("No Id")))), a.oent()),
		"odd utf16":         join(chunk("oent", chunk("adat", join(field(fieldRow, be32(5)), field(fieldTitle, []byte{0, 'X', 0})))), a.oent()),
		"unknown chunk":     join(chunk("ocol", []byte("whatever")), a.oent()),
	} {
		s := ParseSession(data)
		found := false
		for _, r := range s.Rows {
			if r.Title == "Good" && r.Played {
				found = true
			}
		}
		if !found {
			t.Errorf("%s: the good row after the damage was lost: %+v", name, s)
		}
	}
}

func TestParseLength(t *testing.T) {
	for s, want := range map[string]float64{"06:25.31": 385.31, "1:02:03": 3723, "00:59": 59, "": 0, "junk": 0, "3:75": 0, "-1:00": 0} {
		if got := parseLength(s); got < want-1e-9 || got > want+1e-9 {
			t.Errorf("parseLength(%q) = %v, want %v", s, got, want)
		}
	}
}

// FuzzParseSession: any bytes parse without panic, within bounds, and the
// part reported complete parses to the same rows on its own.
func FuzzParseSession(f *testing.F) {
	a := track{row: 1, deck: 1, artist: "A", title: "T", start: t0, played: true}
	f.Add(join(vrsn("1.0/Serato Scratch LIVE Review"), a.oent()))
	f.Add(a.oent()[:30])
	f.Add(join(a.oent(), oren(1), make([]byte, 16), []byte("junk"), a.oent()))
	f.Fuzz(func(t *testing.T, data []byte) {
		s := ParseSession(data)
		if s.Complete < 0 || s.Complete > len(data) || s.Skipped > len(data) {
			t.Fatalf("complete %d skipped %d of %d", s.Complete, s.Skipped, len(data))
		}
		if !reflect.DeepEqual(ParseSession(data[:s.Complete]).Rows, s.Rows) {
			t.Fatal("the complete part parses differently")
		}
		_ = sessionDecks(1, s)
	})
}

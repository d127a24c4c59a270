package traktor

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/pika-dj/pika/desktop/detect/traktor/traktortest"
)

// readAll feeds b in pieces of size n (all at once when n <= 0) and
// returns the titles read, each as "serial:artist/title".
func readAll(b []byte, n int) ([]string, *oggReader, error) {
	var r oggReader
	var got []string
	on := func(serial uint32, c comment) {
		i := c.info()
		got = append(got, string(rune('0'+serial%10))+":"+i.Artist+"/"+i.Title)
	}
	if n <= 0 {
		n = len(b) + 1
	}
	for len(b) > 0 {
		k := min(n, len(b))
		if err := r.feed(b[:k], on); err != nil {
			return got, &r, err
		}
		b = b[k:]
	}
	return got, &r, nil
}

func TestOggPageChecksum(t *testing.T) {
	// The reader's table-driven checksum against the fixture's bitwise
	// computation, written from the specification.
	p := traktortest.Page(traktortest.BOS, 0x12345678, 0, 0, []byte{3}, []byte("abc"))
	if got, want := pageCRC(p), traktortest.CRC(p); got != want || binary.LittleEndian.Uint32(p[22:]) != want {
		t.Fatalf("crc %08x, want %08x", got, want)
	}
	if _, n, err := parsePage(p); err != nil || n != len(p) {
		t.Fatalf("parsePage: %d %v", n, err)
	}
	p[len(p)-1] ^= 1
	if _, _, err := parsePage(p); !errors.Is(err, errBadPage) {
		t.Fatalf("a damaged page: %v", err)
	}
	if _, _, err := parsePage(p[:20]); !errors.Is(err, errShortPage) {
		t.Fatalf("a short page: %v", err)
	}
}

func TestOggReaderAnySplit(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 8))
	var stream []byte
	stream = append(stream, traktortest.TrackStream(rng, 1, "ARTIST=A", "TITLE=One")...)
	// A comment header exactly 255 bytes × 2 long (its lacing ends with a
	// 0), laid out one segment per page.
	w := traktortest.NewWriter(2)
	w.PerPage = 1
	stream = append(stream, w.Pages(traktortest.VorbisIdent())...)
	field := "TITLE=Two"
	pad := 510 - len(traktortest.VorbisComment(traktortest.Vendor, field, "X="))
	c := traktortest.VorbisComment(traktortest.Vendor, field, "X="+strings.Repeat("p", pad))
	if len(c) != 510 {
		t.Fatalf("comment %d bytes", len(c))
	}
	stream = append(stream, w.Pages(c, traktortest.Audio(rng, 300))...)
	stream = append(stream, traktortest.TrackStream(rng, 3, "artist=C", "title=Three")...)
	want := []string{"1:A/One", "2:/Two", "3:C/Three"}
	for _, n := range []int{0, 1, 2, 3, 27, 28, 255, 4096} {
		got, _, err := readAll(stream, n)
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("pieces of %d: %q %v, want %q", n, got, err, want)
		}
	}
}

func TestOggReaderLostPages(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	// The first page (ident) of a stream lost: its comment still counts.
	one := traktortest.TrackStream(rng, 1, "ARTIST=A", "TITLE=No Ident")
	_, n, err := parsePage(one)
	if err != nil {
		t.Fatal(err)
	}
	// A comment header continued over two pages whose first half is lost:
	// the second half alone is no comment.
	w := traktortest.NewWriter(2)
	w.PerPage = 1
	two := w.Pages(traktortest.VorbisIdent(), traktortest.VorbisComment(traktortest.Vendor, "TITLE=Cut", "X="+strings.Repeat("y", 300)))
	pages := splitPages(t, two)
	three := traktortest.TrackStream(rng, 3, "ARTIST=C", "TITLE=Whole")
	stream := slices.Concat(one[n:], pages[0], pages[2], three)
	got, r, err := readAll(stream, 100)
	if err != nil || !slices.Equal(got, []string{"1:A/No Ident", "3:C/Whole"}) {
		t.Fatalf("%q %v", got, err)
	}
	if r.badPages != 0 {
		t.Fatalf("%d bad pages", r.badPages)
	}
}

func splitPages(t *testing.T, b []byte) [][]byte {
	t.Helper()
	var out [][]byte
	for len(b) > 0 {
		_, n, err := parsePage(b)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b[:n])
		b = b[n:]
	}
	return out
}

func TestOggReaderNotOgg(t *testing.T) {
	mp3 := bytes.Repeat([]byte{0xff, 0xfb, 0x90, 0x64, 0, 0, 0, 0}, 200<<10)
	if _, _, err := readAll(mp3, 16<<10); !errors.Is(err, errNotOgg) {
		t.Fatalf("MP3 bytes: %v", err)
	}
	// Many false "OggS" whose pages do not check out.
	fake := bytes.Repeat(append([]byte("OggS\x00\x00"), make([]byte, 40)...), 200)
	if _, r, err := readAll(fake, 1000); !errors.Is(err, errNotOgg) || r.badPages <= maxBadPages {
		t.Fatalf("false pages: %v", err)
	}
}

func TestParseComment(t *testing.T) {
	c, ok := parseComment(traktortest.VorbisComment("vendor", "artist=Ella Mai", "TITLE=Trip", "Title=Second Title", "noequals", "=empty name", "ALBUM=Ready\xff"))
	if !ok || c.Vendor != "vendor" || c.get("ARTIST") != "Ella Mai" || c.get("TITLE") != "Trip" || len(c.Fields["TITLE"]) != 2 || c.get("ALBUM") != "Ready\uFFFD" {
		t.Fatalf("%+v %v", c, ok)
	}
	// Opus's comment header.
	opus := append([]byte("OpusTags"), traktortest.VorbisComment("x", "ARTIST=O", "TITLE=P")[7:]...)
	if c, ok := parseComment(opus); !ok || c.info() != (trackInfo{Artist: "O", Title: "P"}) {
		t.Fatalf("opus: %+v", c)
	}
	// A count larger than the fields there keeps what was read.
	p := traktortest.VorbisComment("v", "TITLE=Kept")
	binary.LittleEndian.PutUint32(p[7+4+1:], 1000)
	if c, ok := parseComment(p); !ok || c.get("TITLE") != "Kept" {
		t.Fatalf("big count: %+v %v", c, ok)
	}
	full := traktortest.VorbisComment("vendor", "TITLE=x")
	for _, bad := range [][]byte{nil, []byte("\x03vorbis"), full[:10], full[:15], traktortest.VorbisIdent(), []byte("\x03vorbi")} {
		if c, ok := parseComment(bad); ok && c.get("TITLE") != "" {
			t.Errorf("%q read as %+v", bad, c)
		}
	}
	// A title alone with " - " is split; with an artist it is not.
	if i := (comment{Fields: map[string][]string{"TITLE": {"A - B - C"}}}).info(); i.Artist != "A" || i.Title != "B - C" {
		t.Errorf("split: %+v", i)
	}
	if i := (comment{Fields: map[string][]string{"TITLE": {"B - C"}, "ARTIST": {"A"}}}).info(); i.Artist != "A" || i.Title != "B - C" {
		t.Errorf("no split: %+v", i)
	}
}

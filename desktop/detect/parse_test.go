package detect

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf16"
	"unicode/utf8"
)

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// want is the part of an Entry a test states; zero fields are not checked
// except Artist and Title.
type want struct {
	artist, title, remix, path, source string
	dur                                float64
	played                             int64
}

func check(t *testing.T, got []Entry, wants []want) {
	t.Helper()
	if len(got) != len(wants) {
		for _, e := range got {
			t.Logf("got %+v", e)
		}
		t.Fatalf("%d entries, want %d", len(got), len(wants))
	}
	ids := map[string]bool{}
	for i, w := range wants {
		e := got[i]
		if e.Artist != w.artist || e.Title != w.title {
			t.Errorf("entry %d: %q - %q, want %q - %q", i, e.Artist, e.Title, w.artist, w.title)
		}
		if w.remix != "" && e.Remix != w.remix {
			t.Errorf("entry %d: remix %q, want %q", i, e.Remix, w.remix)
		}
		if w.path != "" && e.Path != w.path {
			t.Errorf("entry %d: path %q, want %q", i, e.Path, w.path)
		}
		if w.source != "" && e.Source != w.source {
			t.Errorf("entry %d: source %q, want %q", i, e.Source, w.source)
		}
		if e.Duration != w.dur {
			t.Errorf("entry %d: duration %v, want %v", i, e.Duration, w.dur)
		}
		if w.played != 0 && !e.PlayedAt.Equal(time.Unix(w.played, 0)) || w.played == 0 && !e.PlayedAt.IsZero() {
			t.Errorf("entry %d: played at %v, want unix %d", i, e.PlayedAt, w.played)
		}
		if e.ID == "" || ids[e.ID] {
			t.Errorf("entry %d: id %q empty or repeated", i, e.ID)
		}
		ids[e.ID] = true
		tr := e.Track()
		if err := tr.Validate(); err != nil {
			t.Errorf("entry %d does not make a valid bus.Track: %v", i, err)
		}
	}
}

var vdjWants = []want{
	{artist: "Example Band", title: "Slow Dance (Club Edit)", remix: "Club Edit", path: `D:\Music\Example Band - Slow Dance (Club Edit).mp3`, source: "virtualdj", dur: 245.3, played: 1764103260},
	{artist: "Salt & Vinegar", title: "Rock & Roll Night", path: `D:\Music\Salt & Vinegar - Rock & Roll Night.flac`, source: "virtualdj", played: 1764103500},
	{artist: "Cartoon Orchestra", title: "Tom & Jerry Theme", path: "netsearch://dz3135556", source: "virtualdj", played: 1764103740},
	{artist: "Nina Sol", title: "Lento (Extended Mix)", remix: "Extended Mix", path: "netsearch://bp17845123", source: "virtualdj", played: 1764103980},
	{artist: "Unknown Crew", title: "Bare Path Groove", source: "m3u"},
}

func TestParseVirtualDJ(t *testing.T) {
	// BOM, CRLF, a remix, &amp; and raw &, tags in any order, netsearch
	// entries, a bare path line.
	check(t, ParseAll(readFixture(t, "vdj_history.m3u")), vdjWants)
}

func TestParsePlainM3U(t *testing.T) {
	check(t, ParseAll(readFixture(t, "plain.m3u8")), []want{
		{artist: "Daft Example", title: "Around the Block", path: "/home/dj/music/daft_example/around.mp3", source: "m3u", dur: 212},
		{title: "Untitled Jam", source: "m3u"},
		{artist: "The Artists", title: "Song - With Dash", path: "https://stream.example.com/tracks/4711.mp3", dur: 198},
	})
}

func TestParseCP1252(t *testing.T) {
	data := readFixture(t, "cp1252.m3u")
	if utf8.Valid(data) {
		t.Fatal("fixture must not be UTF-8")
	}
	check(t, ParseAll(data), []want{
		{artist: "Beyoncé", title: "Café – Nuit", path: `C:\Musique\Beyoncé - Café.mp3`, source: "virtualdj", played: 1764110000},
		{title: "Motörhead – Ace", dur: 180},
	})
}

func TestParseUTF16(t *testing.T) {
	text := string(readFixture(t, "vdj_history.m3u")[3:]) // without the UTF-8 BOM
	units := utf16.Encode([]rune(text))
	le, be := []byte{0xFF, 0xFE}, []byte{0xFE, 0xFF}
	for _, u := range units {
		le = append(le, byte(u), byte(u>>8))
		be = append(be, byte(u>>8), byte(u))
	}
	for name, data := range map[string][]byte{"LE": le, "BE": be} {
		t.Run(name, func(t *testing.T) {
			check(t, ParseAll(data), vdjWants)
			// Odd splits cut code units in half.
			p := NewParser("")
			var got []Entry
			for i := 0; i < len(data); i += 7 {
				got = append(got, p.Feed(data[i:min(i+7, len(data))])...)
			}
			check(t, append(got, p.Flush()...), vdjWants)
		})
	}
}

func TestParseEntryCompleteOnlyWithNewline(t *testing.T) {
	p := NewParser("2025-11-25.m3u")
	steps := []struct {
		feed string
		want int
	}{
		{"\xEF\xBB", 0}, // half a BOM
		{"\xBF#EXTVDJ:<lastplaytime>1764103260</lastplaytime><artist>A</artist><ti", 0},
		{"tle>Song</title>\r\n", 0},
		{`D:\Music\a`, 0}, // path line still being written
		{".mp3\r", 0},
		{"\n", 1},
		{"E:\\Other - Thing.mp3\n#EXTVDJ:<title>Next", 1},
	}
	var got []Entry
	for i, s := range steps {
		out := p.Feed([]byte(s.feed))
		if len(out) != s.want {
			t.Fatalf("step %d: %d entries, want %d", i, len(out), s.want)
		}
		got = append(got, out...)
	}
	if got[0].Title != "Song" || got[0].Path != `D:\Music\a.mp3` || got[1].Artist != "Other" || got[1].Title != "Thing" {
		t.Fatalf("entries %+v", got)
	}
	// The unterminated tag is not an entry, even when flushed.
	if out := p.Flush(); len(out) != 0 {
		t.Fatalf("flush made %+v from a tag with no path", out)
	}
}

func TestFlushCountsFinalLineOnce(t *testing.T) {
	p := NewParser("x.m3u")
	if out := p.Feed([]byte("#EXTINF:100,A - B\nD:\\b.mp3")); len(out) != 0 {
		t.Fatalf("unterminated path counted: %+v", out)
	}
	out := p.Flush()
	if len(out) != 1 || out[0].Title != "B" {
		t.Fatalf("flush = %+v", out)
	}
	// The newline arrives late, then the next entry: B is not repeated.
	out = p.Feed([]byte("\n#EXTINF:100,C - D\nD:\\d.mp3\n"))
	if len(out) != 1 || out[0].Title != "D" {
		t.Fatalf("after flush = %+v", out)
	}
	// A writer that glues the next tag to the unterminated line still
	// gets its entry read.
	p.Feed([]byte("D:\\e.mp3"))
	if out := p.Flush(); len(out) != 1 {
		t.Fatalf("flush = %+v", out)
	}
	out = p.Feed([]byte("#EXTINF:1,E - F\nD:\\f.mp3\n"))
	if len(out) != 1 || out[0].Title != "F" {
		t.Fatalf("glued tag = %+v", out)
	}
}

func TestParseSkipsOverlongLine(t *testing.T) {
	long := "#EXTVDJ:<title>" + strings.Repeat("x", MaxLineBytes+10) + "</title>"
	data := []byte("#EXTINF:1,A - First\na.mp3\n" + long + "\nb - Second.mp3\n#EXTINF:1,C - Third\nc.mp3\n")
	wants := []want{{artist: "A", title: "First", dur: 1}, {artist: "b", title: "Second"}, {artist: "C", title: "Third", dur: 1}}
	check(t, ParseAll(data), wants)

	// Fed in small chunks, the parser never holds much more than a line.
	p := NewParser("")
	var got []Entry
	for i := 0; i < len(data); i += 4096 {
		got = append(got, p.Feed(data[i:min(i+4096, len(data))])...)
		if len(p.buf) > MaxLineBytes+4096 {
			t.Fatalf("buffer grew to %d bytes", len(p.buf))
		}
	}
	check(t, got, wants)
}

func TestParseIDs(t *testing.T) {
	entry := func(at string) string {
		return "#EXTVDJ:<lastplaytime>" + at + "</lastplaytime><artist>A</artist><title>Same</title>\r\nD:\\same.mp3\r\n"
	}
	twice := ParseAll([]byte(entry("1764103260") + entry("1764109999")))
	if len(twice) != 2 || twice[0].ID == twice[1].ID {
		t.Fatalf("two plays of one song must differ: %+v", twice)
	}
	// Rewritten with something before it: lastplaytime keeps the ID.
	moved := ParseAll([]byte("#EXTM3U\r\n" + entry("1764109999")))
	if moved[0].ID != twice[1].ID {
		t.Fatal("an entry with lastplaytime changed ID when it moved in the file")
	}
	// Without lastplaytime, the offset tells two plays apart.
	bare := ParseAll([]byte("D:\\A - Same.mp3\nD:\\A - Same.mp3\n"))
	if len(bare) != 2 || bare[0].ID == bare[1].ID {
		t.Fatalf("bare plays: %+v", bare)
	}
	// The file name is part of the ID.
	a, b := NewParser("2025-11-25.m3u"), NewParser(`C:\History\2025-11-26.m3u`)
	if a.Feed([]byte(entry("1")))[0].ID == b.Feed([]byte(entry("1")))[0].ID {
		t.Fatal("file name not in the ID")
	}
}

func TestUnescape(t *testing.T) {
	for in, want := range map[string]string{
		"Tom &amp; Jerry":     "Tom & Jerry",
		"Tom & Jerry":         "Tom & Jerry",
		"R&B":                 "R&B",
		"Me&notes":            "Me&notes",
		"Don&#39;t":           "Don't",
		"&lt;3 &quot;x&quot;": `<3 "x"`,
		"a & b; c":            "a & b; c",
		"&":                   "&",
	} {
		if got := unescape(in); got != want {
			t.Errorf("unescape(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParseOddities(t *testing.T) {
	data := "#EXTINF:abc\n" + // no comma, no number
		"#EXTVDJ:<artist>Lone</artist><title></title><bpm>0.46875</bpm><key>8A</key>\n" + // empty title: from the path
		"/music/Some Artist - Some Song.v2.mp3\n" +
		"#EXTVDJ:<title>Unclosed<artist>X</artist><songlength>-1</songlength>\n" +
		"netsearch://dz1\n" +
		"#EXTVDJ:<title>\x01\x02</title>\n" + // only control characters: from the path
		"/music/\x03.mp3\n" +
		"\x04\n" + // nothing usable at all: no entry
		"#EXTINF:10,Both - Kinds\n#EXTVDJ:<lastplaytime>1764103260</lastplaytime>\nboth.mp3\n"
	got := ParseAll([]byte(data))
	check(t, got, []want{
		{artist: "Lone", title: "Some Song.v2"},
		{artist: "X", title: "Unclosed"},
		{title: "/music/ .mp3"},
		{artist: "Both", title: "Kinds", dur: 10, played: 1764103260, source: "virtualdj"},
	})
	if got[0].BPM != 128 || got[0].Key != "8A" {
		t.Errorf("bpm %v key %q", got[0].BPM, got[0].Key)
	}
}

func FuzzParse(f *testing.F) {
	for _, name := range []string{"vdj_history.m3u", "plain.m3u8", "cp1252.m3u"} {
		f.Add(readFixture(f, name))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		whole := NewParser("f.m3u")
		want := append(whole.Feed(data), whole.Flush()...)
		for _, e := range want {
			if strings.TrimSpace(e.Title) == "" {
				t.Fatalf("entry with empty title: %+v", e)
			}
			tr := e.Track()
			if err := tr.Validate(); err != nil {
				t.Fatalf("entry %+v is not a valid track: %v", e, err)
			}
		}
		// Every split for short inputs, a spread of them for long ones.
		step := max(1, len(data)/24)
		for split := 0; split <= len(data); split += step {
			p := NewParser("f.m3u")
			got := append(p.Feed(data[:split]), p.Feed(data[split:])...)
			got = append(got, p.Flush()...)
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("split at %d: %+v\nwant %+v", split, got, want)
			}
		}
		// Byte by byte, as a slow writer would append.
		if len(data) <= 128 {
			p := NewParser("f.m3u")
			var got []Entry
			for i := range data {
				got = append(got, p.Feed(data[i:i+1])...)
			}
			got = append(got, p.Flush()...)
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("byte by byte: %+v\nwant %+v", got, want)
			}
		}
	})
}

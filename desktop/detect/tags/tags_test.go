package tags

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/pika-dj/pika/desktop/detect"
)

const (
	mbid = "3f9a1c2e-7b4d-4e8a-9c1f-2d6b8e0a5c71"
	isrc = "USX9P2412345"
)

func TestReadMP3(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		tag  []byte
	}{
		{"v2.3 TXXX", id3v2(3, 256,
			textFrame("TIT2", "Slow Dance", 3),
			textFrame("TBPM", "102", 3),
			textFrame("TKEY", "Am", 3),
			textFrame("TSRC", "US-X9P-24-12345", 3),
			txxx("MusicBrainz Track Id", mbid))},
		{"v2.4 UFID", id3v2(4, 0,
			textFrame("TIT2", "Slow Dance", 4),
			textFrame("TBPM", "102.0", 4),
			textFrame("TKEY", "Am", 4),
			textFrame("TSRC", isrc, 4),
			txxx("MusicBrainz Album Id", "11111111-2222-3333-4444-555555555555"),
			ufid("http://musicbrainz.org", mbid))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := writeFile(t, dir, tc.name+".mp3", tc.tag, mpegFrames(6, 1))
			got, err := Read(p)
			if err != nil {
				t.Fatal(err)
			}
			if got.BPM != 102 || got.Key != "Am" || got.ISRC != isrc || got.MBID != mbid || len(got.AudioHash) != 32 {
				t.Fatalf("Read = %+v", got)
			}
		})
	}
}

func TestReadFLAC(t *testing.T) {
	p := writeFile(t, t.TempDir(), "a.flac", flacFile([]string{
		"TITLE=Slow Dance", "ARTIST=Example Band", "BPM=96", "INITIALKEY=8A",
		"ISRC=" + isrc, "MUSICBRAINZ_TRACKID=" + mbid,
	}, 0, 1))
	got, err := Read(p)
	if err != nil {
		t.Fatal(err)
	}
	if got.BPM != 96 || got.Key != "8A" || got.ISRC != isrc || got.MBID != mbid || len(got.AudioHash) != 32 {
		t.Fatalf("Read = %+v", got)
	}
}

// The audio hash identifies the recording, so retagging a file (new tags,
// a bigger tag, padding, trailers added or removed) must not change it,
// while different audio must.
func TestAudioHashIgnoresTags(t *testing.T) {
	dir := t.TempDir()
	audio := mpegFrames(8, 1)
	variants := []string{
		writeFile(t, dir, "bare.mp3", audio),
		writeFile(t, dir, "v23.mp3", id3v2(3, 0, textFrame("TIT2", "Slow Dance", 3)), audio),
		writeFile(t, dir, "v24.mp3", id3v2(4, 2048, textFrame("TIT2", "Slow Dance (Club Edit)", 4), textFrame("TBPM", "102", 4)), audio),
		writeFile(t, dir, "v1.mp3", id3v2(3, 10, textFrame("TKEY", "Am", 3)), audio, id3v1("Slow Dance")),
		writeFile(t, dir, "ape.mp3", id3v2(4, 0, textFrame("TSRC", isrc, 4)), audio, apev2("Title", "Slow Dance"), id3v1("Slow Dance")),
	}
	want := hashOf(t, variants[0])
	if want == "" {
		t.Fatal("no hash for a bare MP3")
	}
	for _, p := range variants[1:] {
		if got := hashOf(t, p); got != want {
			t.Errorf("%s: hash %s, want %s as for the same audio untagged", filepath.Base(p), got, want)
		}
	}
	other := writeFile(t, dir, "other.mp3", id3v2(3, 0, textFrame("TIT2", "Slow Dance", 3)), mpegFrames(8, 2))
	if hashOf(t, other) == want {
		t.Error("different audio with the same tags has the same hash")
	}
	longer := writeFile(t, dir, "longer.mp3", id3v2(3, 0, textFrame("TIT2", "Slow Dance", 3)), mpegFrames(9, 1))
	if hashOf(t, longer) == want {
		t.Error("longer audio has the same hash")
	}

	f1 := hashOf(t, writeFile(t, dir, "a.flac", flacFile([]string{"TITLE=Slow Dance"}, 0, 1)))
	f2 := hashOf(t, writeFile(t, dir, "b.flac", flacFile([]string{"TITLE=Slow Dance", "BPM=96", "INITIALKEY=8A"}, 1024, 1)))
	f3 := hashOf(t, writeFile(t, dir, "c.flac", flacFile([]string{"TITLE=Slow Dance"}, 0, 3)))
	if f1 == "" || f1 != f2 {
		t.Errorf("FLAC retagged: hashes %q and %q, want equal", f1, f2)
	}
	if f1 == f3 {
		t.Error("different FLAC audio has the same hash")
	}
}

// A file bigger than two hash windows is hashed from its ends only, and
// still tells a change in the middle's length apart.
func TestAudioHashLargeFile(t *testing.T) {
	dir := t.TempDir()
	audio := mpegFrames(6000, 4) // ~2.5 MB
	a := hashOf(t, writeFile(t, dir, "a.mp3", id3v2(3, 0), audio))
	b := hashOf(t, writeFile(t, dir, "b.mp3", id3v2(4, 4096, textFrame("TBPM", "120", 4)), audio, id3v1("x")))
	c := hashOf(t, writeFile(t, dir, "c.mp3", audio, mpegFrames(1, 4)))
	if a == "" || a != b {
		t.Errorf("hashes %q and %q, want equal", a, b)
	}
	if a == c {
		t.Error("longer audio has the same hash")
	}
}

func hashOf(t *testing.T, p string) string {
	t.Helper()
	info, err := Read(p)
	if err != nil {
		t.Fatal(err)
	}
	return info.AudioHash
}

func TestReadOtherFiles(t *testing.T) {
	dir := t.TempDir()
	if _, err := Read(filepath.Join(dir, "missing.mp3")); err == nil {
		t.Error("missing file: no error")
	}
	if _, err := Read(dir); err == nil {
		t.Error("folder: no error")
	}
	// Not audio: no tags and no hash, but no error either.
	got, err := Read(writeFile(t, dir, "notes.txt", []byte("Slow Dance - 102 bpm\n")))
	if err != nil || got != (Info{}) {
		t.Errorf("text file: %+v, %v", got, err)
	}
	// A tag whose size runs past the end of the file: the tags are
	// unreadable, and the hash has nothing to cover.
	bad := id3v2(3, 0, textFrame("TBPM", "102", 3))
	bad[9] = 0x7F
	got, err = Read(writeFile(t, dir, "bad.mp3", bad))
	if err != nil || got.BPM != 0 || got.AudioHash != "" {
		t.Errorf("damaged tag: %+v, %v", got, err)
	}
}

func TestEnrich(t *testing.T) {
	dir := t.TempDir()
	p := writeFile(t, dir, "Example Band - Slow Dance.mp3",
		id3v2(4, 0, textFrame("TBPM", "102", 4), textFrame("TKEY", "Am", 4), textFrame("TSRC", isrc, 4), ufid("http://musicbrainz.org", mbid)),
		mpegFrames(4, 1))
	played := time.Unix(1764103260, 0).UTC()
	base := detect.Entry{Artist: "Example Band", Title: "Slow Dance", Path: p, PlayedAt: played, Source: "virtualdj", ID: "x"}

	got := Enrich(base)
	if got.BPM != 102 || got.Key != "Am" || got.ISRC != isrc || got.MBID != mbid || got.AudioHash == "" {
		t.Fatalf("Enrich = %+v", got)
	}
	if got.ID != "x" || !got.PlayedAt.Equal(played) || got.Title != "Slow Dance" {
		t.Fatalf("Enrich changed the play's identity: %+v", got)
	}

	// The program's own values win.
	own := base
	own.BPM, own.Key = 101.5, "8A"
	got = Enrich(own)
	if got.BPM != 101.5 || got.Key != "8A" || got.ISRC != isrc {
		t.Errorf("program values lost: %+v", got)
	}

	for _, path := range []string{
		"netsearch://dz123456789",
		"streaming://tidal/123",
		"https://example.com/slow-dance.mp3",
		filepath.Join(dir, "missing.mp3"),
		dir,
		`D:\Music\Example Band - Slow Dance.mp3`,
		"",
	} {
		e := base
		e.Path = path
		if got := Enrich(e); got != e {
			t.Errorf("Enrich(%q) = %+v, want it unchanged", path, got)
		}
	}
}

func TestCleaners(t *testing.T) {
	for in, want := range map[string]float64{"128": 128, "127,5": 127.5, " 96.00 ": 96, "0": 0, "9999": 0, "fast": 0, "": 0} {
		if got := parseBPM(in); got != want {
			t.Errorf("parseBPM(%q) = %v, want %v", in, got, want)
		}
	}
	for in, want := range map[string]string{mbid: mbid, "3F9A1C2E-7B4D-4E8A-9C1F-2D6B8E0A5C71": mbid, "3f9a1c2e7b4d4e8a9c1f2d6b8e0a5c71": "", "3f9a1c2e-7b4d-4e8a-9c1f-2d6b8e0a5czz": ""} {
		if got := cleanMBID(in); got != want {
			t.Errorf("cleanMBID(%q) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[string]string{isrc: isrc, "us-x9p-24-12345": isrc, "USX9P241234": "", "USX9P24123!5": ""} {
		if got := cleanISRC(in); got != want {
			t.Errorf("cleanISRC(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzRead feeds arbitrary bytes as a file: Read must never panic, and a
// hash, when there is one, is 32 hex characters.
func FuzzRead(f *testing.F) {
	f.Add(append(id3v2(3, 16, textFrame("TBPM", "102", 3), txxx("MusicBrainz Track Id", mbid)), mpegFrames(2, 1)...))
	f.Add(flacFile([]string{"BPM=96", "INITIALKEY=8A"}, 8, 1))
	f.Add([]byte("ID3\x04\x00\x00\x00\x00\x01\x00TBPM"))
	f.Add([]byte("fLaC\x00\x00\x00\x22"))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(dir, "fuzz.bin")
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		info, err := Read(p)
		if err != nil {
			t.Fatalf("Read of a regular file failed: %v", err)
		}
		if info.AudioHash != "" && len(info.AudioHash) != 32 {
			t.Fatalf("hash %q", info.AudioHash)
		}
	})
}

package traktor

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pika-dj/pika/desktop/detect/traktor/traktortest"
)

// testCollection is an invented collection.nml in Traktor's layout: three
// tracks (one on a Windows drive, one tagged "Artist - Title" with no
// artist), names with &amp;, and a history-style playlist after the
// collection whose entries are volume-prefixed keys.
const testCollection = `<?xml version="1.0" encoding="UTF-8" standalone="no" ?>
<NML VERSION="19"><HEAD COMPANY="www.native-instruments.com" PROGRAM="Traktor"></HEAD>
<MUSICFOLDERS></MUSICFOLDERS>
<COLLECTION ENTRIES="3">
<ENTRY MODIFIED_DATE="2026/11/20" MODIFIED_TIME="40131" AUDIO_ID="AV8AAQ==" TITLE="Ain&apos;t No Mountain High Enough" ARTIST="Marvin Gaye &amp; Tammi Terrell">
<LOCATION DIR="/:Users/:dj/:Music/:Motown/:" FILE="Aint No Mountain.mp3" VOLUME="Macintosh HD" VOLUMEID="Macintosh HD"></LOCATION>
<ALBUM TRACK="1" TITLE="United"></ALBUM>
<MODIFICATION_INFO AUTHOR_TYPE="user"></MODIFICATION_INFO>
<INFO BITRATE="320000" GENRE="Soul" KEY="1d" PLAYCOUNT="12" PLAYTIME="151" PLAYTIME_FLOAT="151.200" IMPORT_DATE="2024/5/1" LAST_PLAYED="2026/11/20" FLAGS="14" FILESIZE="5940"></INFO>
<TEMPO BPM="130.010002" BPM_QUALITY="100.000000"></TEMPO>
<LOUDNESS PEAK_DB="-0.2" PERCEIVED_DB="0.4" ANALYZED_DB="0.4"></LOUDNESS>
<MUSICAL_KEY VALUE="0"></MUSICAL_KEY>
<CUE_V2 NAME="AutoGrid" DISPL_ORDER="0" TYPE="4" START="41.2" LEN="0" REPEATS="-1" HOTCUE="0"></CUE_V2>
</ENTRY>
<ENTRY MODIFIED_DATE="2026/11/21" MODIFIED_TIME="3600" TITLE="Free Yourself (Extended)" ARTIST="Jessie Ware">
<LOCATION DIR="/:Music/:WCS/:" FILE="free yourself.flac" VOLUME="D:" VOLUMEID="1a2b3c4d"></LOCATION>
<INFO KEY="9m" PLAYTIME="318"></INFO>
<TEMPO BPM="101.999985" BPM_QUALITY="100.000000"></TEMPO>
</ENTRY>
<ENTRY TITLE="Brandy - Almost Doesn&apos;t Count">
<LOCATION DIR="/:Users/:dj/:Music/:" FILE="almost.m4a" VOLUME="Macintosh HD"></LOCATION>
<INFO KEY="4m" PLAYTIME="246"></INFO>
<TEMPO BPM="88.000000"></TEMPO>
</ENTRY>
</COLLECTION>
<SETS ENTRIES="0"></SETS>
<PLAYLISTS><NODE TYPE="FOLDER" NAME="$ROOT"><SUBNODES COUNT="1">
<NODE TYPE="PLAYLIST" NAME="History 2026-11-20"><PLAYLIST ENTRIES="2" TYPE="LIST" UUID="0c7a">
<ENTRY><PRIMARYKEY TYPE="TRACK" KEY="Macintosh HD/:Users/:dj/:Music/:Motown/:Aint No Mountain.mp3"></PRIMARYKEY>
<EXTENDEDDATA DECK="0" DURATION="148.2" EXTENDEDTYPE="HistoryData" PLAYEDPUBLIC="1" STARTDATE="132844308" STARTTIME="75600"></EXTENDEDDATA></ENTRY>
<ENTRY><PRIMARYKEY TYPE="TRACK" KEY="D:/:Music/:WCS/:free yourself.flac"></PRIMARYKEY>
<EXTENDEDDATA DECK="1" DURATION="21.0" EXTENDEDTYPE="HistoryData" PLAYEDPUBLIC="0" STARTDATE="132844308" STARTTIME="75750"></EXTENDEDDATA></ENTRY>
</PLAYLIST></NODE></SUBNODES></NODE></PLAYLISTS>
</NML>
`

func TestReadCollection(t *testing.T) {
	c, err := readCollection(strings.NewReader(testCollection))
	if err != nil {
		t.Fatal(err)
	}
	// Three tracks, the one without artist under its split name too; the
	// playlist entries after the collection add nothing.
	if len(c.tracks) != 4 {
		t.Fatalf("%d keys: %v", len(c.tracks), c.tracks)
	}
	tests := []struct {
		artist, title string
		bpm           float64
		key           string
		dur           float64
		path          string
	}{
		{"Marvin Gaye & Tammi Terrell", "Ain't No Mountain High Enough", 130.01, "1d", 151.2, "/Users/dj/Music/Motown/Aint No Mountain.mp3"},
		{"marvin gaye and tammi terrell", "AIN’T NO MOUNTAIN HIGH ENOUGH", 0, "", 0, ""}, // "and" is not "&": no match
		{"JESSIE WARE", "free yourself (extended)", 102, "9m", 318, `D:\Music\WCS\free yourself.flac`},
		{"", "Brandy - Almost Doesn't Count", 88, "4m", 246, "/Users/dj/Music/almost.m4a"},
		{"Brandy", "Almost Doesn’t Count", 88, "4m", 246, "/Users/dj/Music/almost.m4a"},
	}
	for _, tc := range tests {
		got, ok := c.lookup(tc.artist, tc.title)
		if ok != (tc.path != "") {
			t.Errorf("%s / %s: found %v", tc.artist, tc.title, ok)
			continue
		}
		if got.BPM != tc.bpm || got.Key != tc.key || got.Duration != tc.dur || got.filePath(nil) != tc.path {
			t.Errorf("%s / %s: %+v path %q", tc.artist, tc.title, got, got.filePath(nil))
		}
	}
	var nilColl *collection
	if _, ok := nilColl.lookup("a", "b"); ok {
		t.Error("a nil collection found something")
	}
}

func TestCollectionFilePathOtherDisk(t *testing.T) {
	tr := collectionTrack{Volume: "DJ Drive", Dir: "/:Crates/:WCS/:", File: "x.mp3"}
	onDisk := map[string]bool{"/Volumes/DJ Drive/Crates/WCS/x.mp3": true}
	if got := tr.filePath(func(p string) bool { return onDisk[p] }); got != "/Volumes/DJ Drive/Crates/WCS/x.mp3" {
		t.Fatalf("other disk: %q", got)
	}
	if got := tr.filePath(func(string) bool { return false }); got != "/Crates/WCS/x.mp3" {
		t.Fatalf("unplugged disk: %q", got)
	}
	if got := (collectionTrack{Volume: "C:"}).filePath(nil); got != "" {
		t.Fatalf("no file: %q", got)
	}
}

func TestReadCollectionBroken(t *testing.T) {
	if _, err := readCollection(strings.NewReader(`<NML VERSION="19"><PLAYLISTS/></NML>`)); !errors.Is(err, errNoCollection) {
		t.Errorf("no COLLECTION: %v", err)
	}
	// Cut while Traktor writes it.
	if _, err := readCollection(strings.NewReader(testCollection[:len(testCollection)/2])); err == nil {
		t.Error("a truncated collection was accepted")
	}
	if _, err := readCollection(strings.NewReader("<NML><COLLECTION><ENTRY ARTIST=\"a\" TITLE=\"b\"><TEMPO BPM=\"x\"/></ENTRY></COLLECTION></NML>")); err != nil {
		t.Errorf("a bad number: %v", err)
	}
}

// TestReadWrittenCollection: the collection the end-to-end tests write
// (traktortest) reads as Traktor's own.
func TestReadWrittenCollection(t *testing.T) {
	path := filepath.Join(t.TempDir(), "collection.nml")
	traktortest.WriteCollection(t, path,
		traktortest.Track{Artist: "Marvin Gaye & Tammi Terrell", Title: `Ain't No "Mountain"`, Album: "United", BPM: 130.01, Key: "1d", Seconds: 151.2,
			Volume: "Macintosh HD", File: "/Users/dj/Music/Motown/Aint No Mountain.mp3"},
		traktortest.Track{Artist: "Jessie Ware", Title: "Free Yourself", BPM: 102, Key: "9m", Seconds: 318, Volume: "D:", File: "/free yourself.flac"})
	c, err := readCollectionFile(path)
	if err != nil {
		t.Fatal(err)
	}
	tr, ok := c.lookup("Marvin Gaye & Tammi Terrell", `Ain't No "Mountain"`)
	if !ok || tr.Album != "United" || tr.BPM != 130.01 || tr.Key != "1d" || tr.Duration != 151.2 ||
		tr.filePath(func(string) bool { return false }) != "/Users/dj/Music/Motown/Aint No Mountain.mp3" {
		t.Fatalf("track %+v, %v", tr, ok)
	}
	if tr, ok := c.lookup("Jessie Ware", "Free Yourself"); !ok || tr.Dir != "/:" || tr.File != "free yourself.flac" || tr.Volume != "D:" {
		t.Fatalf("track at a drive's root %+v, %v", tr, ok)
	}
}

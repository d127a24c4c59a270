package djay

import (
	"bytes"
	"testing"
	"time"
)

var start = time.Date(2026, 11, 27, 21, 14, 3, 250_000_000, time.UTC)

func TestDecodeItemWindowsAndMac(t *testing.T) {
	for _, mac := range []bool{false, true} {
		p := play{uuid: "9E3C2B1A-0000-4000-8000-00000000000A", deck: 2, start: start, isrc: "us-inv-26-00042", origin: "explorer", track: tLocal}
		it, ok := decodeItem(encodeItem(p, mac))
		if !ok {
			t.Fatalf("mac=%v: no track decoded", mac)
		}
		want := historyItem{
			UUID: p.uuid, TitleID: tLocal.titleID, Title: tLocal.title, Artist: tLocal.artist,
			Duration: tLocal.duration, Deck: "2", Start: start, ISRC: "USINV2600042", Origin: "explorer",
		}
		it.startRaw = 0
		if !it.Start.Equal(want.Start) {
			t.Errorf("mac=%v: start %v, want %v", mac, it.Start, want.Start)
		}
		it.Start = want.Start
		if it != want {
			t.Errorf("mac=%v:\n got %+v\nwant %+v", mac, it, want)
		}
	}
}

func TestDecodeAnalysisAndLocation(t *testing.T) {
	for _, mac := range []bool{false, true} {
		a := decodeAnalysis(encodeAnalysis(tWindows, mac))
		if a.BPM != 102.5 || a.Key != "C" {
			t.Errorf("mac=%v: analysis %+v, want 102.5 C", mac, a)
		}
		if got := decodeLocation(encodeLocation(tWindows, mac)); got != `D:\Music\WCS\Cafe Groove.flac` {
			t.Errorf("mac=%v: windows location %q", mac, got)
		}
		if got := decodeLocation(encodeLocation(tLocal, mac)); got != "/Users/dj/Music/WCS/Slow Burn Shuffle.mp3" {
			t.Errorf("mac=%v: macOS location %q", mac, got)
		}
		if got := decodeLocation(encodeLocation(tStream, mac)); got != tStream.uri {
			t.Errorf("mac=%v: streaming location %q", mac, got)
		}
	}
}

func TestKeyName(t *testing.T) {
	// The four indices another tool checked against real tracks, and both ends.
	for k, want := range map[float64]string{0: "Db", 1: "Bbm", 5: "Cm", 8: "F", 11: "Ebm", 18: "Bb", 22: "C", 23: "Am", 24: "", -1: "", 2.5: ""} {
		if got := keyName(k); got != want {
			t.Errorf("keyName(%v) = %q, want %q", k, got, want)
		}
	}
}

func TestDecodeTSAFTolerant(t *testing.T) {
	p := play{uuid: "uuid-1", deck: 1, start: start, origin: "music", track: tLocal}
	blob := encodeItem(p, false)

	t.Run("deck 1 written as the bare marker 0x2D", func(t *testing.T) {
		w := newTSAF(3)
		w.object("ADCHistorySessionItem")
		w.str("title", "Marker")
		w.b = append(w.b, 0x2D)
		w.key("deckNumber")
		w.str("artist", "After")
		it, _ := decodeItem(w.b)
		if it.Deck != "1" || it.Artist != "After" {
			t.Errorf("got %+v", it)
		}
	})
	t.Run("an unknown tag keeps the fields before it", func(t *testing.T) {
		w := newTSAF(3)
		w.object("ADCHistorySessionItem")
		w.str("title", "Known")
		w.b = append(w.b, 0x7E, 1, 2, 3)
		w.key("mystery")
		w.str("artist", "Lost")
		it, ok := decodeItem(w.b)
		if !ok || it.Title != "Known" || it.Artist != "" {
			t.Errorf("got %+v ok=%v", it, ok)
		}
	})
	t.Run("every truncation", func(t *testing.T) {
		uuidEnd := bytes.Index(blob, []byte("sessionUUID")) // uuid and its name are complete before this
		for n := range len(blob) {
			o, err := DecodeTSAF(blob[:n])
			if n >= uuidEnd && (err != nil || o.Str("uuid") != p.uuid) {
				t.Fatalf("cut at %d: uuid lost (err %v)", n, err)
			}
		}
	})
	t.Run("not TSAF", func(t *testing.T) {
		for _, b := range [][]byte{nil, []byte("TSAF"), []byte("bplist00 and more than twenty bytes"), append(bytes.Clone(blob[:20]), 0x08)} {
			if _, err := DecodeTSAF(b); err == nil {
				t.Errorf("%q decoded", b)
			}
		}
	})
	t.Run("a huge array count is damage, not an allocation", func(t *testing.T) {
		w := newTSAF(1)
		w.object("ADCMediaItemLocation")
		w.b = append(w.b, 0x0B)
		w.align(4)
		w.b = append(w.b, 0xff, 0xff, 0xff, 0x7f)
		if got := decodeLocation(w.b); got != "" {
			t.Errorf("got %q", got)
		}
	})
}

func FuzzDecodeTSAF(f *testing.F) {
	f.Add(encodeItem(play{uuid: "u", deck: 2, start: start, origin: "explorer", isrc: "USINV2600042", track: tLocal}, false))
	f.Add(encodeItem(play{uuid: "u", deck: 3, start: start, origin: "spotify", track: tStream}, true))
	f.Add(encodeAnalysis(tWindows, true))
	f.Add(encodeLocation(tWindows, false))
	f.Fuzz(func(t *testing.T, b []byte) {
		o, err := DecodeTSAF(b)
		if err == nil && o == nil {
			t.Fatal("no object and no error")
		}
		it, ok := decodeItem(b)
		if ok && it.Title == "" && it.Artist == "" {
			t.Fatal("a track with neither title nor artist")
		}
		_ = decodeAnalysis(b)
		_ = decodeLocation(b)
	})
}

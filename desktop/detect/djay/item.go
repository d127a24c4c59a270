package djay

import (
	"math"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// historyItem is one ADCHistorySessionItem: a track djay put in its
// history during a set.
type historyItem struct {
	rowid    int64
	UUID     string
	TitleID  string // 32 hex, the key of the track's other records
	Title    string
	Artist   string
	Duration float64 // seconds
	Deck     string  // "1".."4", "" when the blob has no deckNumber
	Start    time.Time
	startRaw float64 // CFAbsoluteTime as stored, for the entry's ID
	ISRC     string
	Origin   string // explorer, music, beatport, spotify, …
}

// decodeItem reads a historySessionItems blob. ok is false when it names no
// track at all.
func decodeItem(blob []byte) (it historyItem, ok bool) {
	o, err := DecodeTSAF(blob)
	if err != nil {
		return it, false
	}
	tid := o.Obj("titleID")
	it.UUID = text(o.Str("uuid"))
	it.TitleID = text(o.Str("titleID")) // some versions may store it flat
	if tid != nil {
		it.TitleID = text(tid.ID)
		if it.TitleID == "" {
			it.TitleID = text(tid.Str("uuid"))
		}
	}
	it.Title = text(first(o.Str("title"), tid.Str("title")))
	it.Artist = text(first(o.Str("artist"), tid.Str("artist")))
	if d, ok := o.Num("duration"); ok && d > 0 && d < 24*3600 {
		it.Duration = d
	} else if d, ok := tid.Num("duration"); ok && d > 0 && d < 24*3600 {
		it.Duration = d
	}
	if n, ok := o.Num("deckNumber"); ok && n >= 1 && n <= 16 && n == math.Trunc(n) {
		it.Deck = strconv.Itoa(int(n))
	}
	if v, ok := o.Fields["startTime"]; ok {
		if t := v.Time(); !t.IsZero() {
			it.Start, it.startRaw = t, v.Num
		}
	}
	it.ISRC = strings.ToUpper(strings.ReplaceAll(text(o.Str("isrc")), "-", ""))
	it.Origin = text(o.Str("originSourceID"))
	return it, it.Title != "" || it.Artist != ""
}

// analysis is what djay's analysis records about a track.
type analysis struct {
	BPM float64
	Key string
}

// decodeAnalysis reads a mediaItemAnalyzedData blob.
func decodeAnalysis(blob []byte) (a analysis) {
	o, err := DecodeTSAF(blob)
	if err != nil {
		return a
	}
	if b, ok := o.Num("bpm"); ok && b >= 20 && b <= 400 {
		a.BPM = math.Round(b*100) / 100
	}
	if k, ok := o.Num("keySignatureIndex"); ok {
		a.Key = keyName(k)
	}
	return a
}

// keyName names djay's keySignatureIndex. Even indices are major keys
// rising a semitone each from D♭ (0) to C (22); each odd index is the
// relative minor of the major before it (1 = B♭m, 23 = Am). Another
// now-playing tool checked this against four tracks; we have not.
func keyName(k float64) string {
	if k < 0 || k > 23 || k != math.Trunc(k) {
		return ""
	}
	i := int(k)
	root := (1 + i/2) % 12 // pitch class of the major key, C = 0
	if i%2 == 0 {
		return [12]string{"C", "Db", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B"}[root]
	}
	return [12]string{"Cm", "C#m", "Dm", "Ebm", "Em", "Fm", "F#m", "Gm", "G#m", "Am", "Bbm", "Bm"}[(root+9)%12]
}

// decodeLocation returns the first URI of a local or global media item
// location blob: a file path for a local file (file:// URIs made a path),
// the streaming URI ("spotify:track:…") otherwise.
func decodeLocation(blob []byte) string {
	o, err := DecodeTSAF(blob)
	if err != nil {
		return ""
	}
	var uris []string
	var collect func(v Value, depth int)
	collect = func(v Value, depth int) {
		switch {
		case depth > 4:
		case v.Kind == String && strings.Contains(v.Str, ":"):
			uris = append(uris, v.Str)
		case v.Kind == Array:
			for _, e := range v.Arr {
				collect(e, depth+1)
			}
		}
	}
	collect(o.Fields["sourceURIs"], 0)
	collect(o.Fields["sourceURI"], 0)
	for _, v := range o.Loose {
		if v.Kind == Array {
			collect(v, 0)
		}
	}
	for _, u := range uris {
		if p := filePath(u); p != "" {
			return p
		}
	}
	for _, u := range uris {
		if !strings.HasPrefix(strings.ToLower(u), "file:") {
			return text(u)
		}
	}
	return ""
}

// filePath turns a file:// URI into a path as the DJ's OS writes it:
// file:///Users/dj/Music/a.mp3 → /Users/dj/Music/a.mp3 and djay for
// Windows' file:///D:%5CMusic%5Ca.mp3 → D:\Music\a.mp3.
func filePath(uri string) string {
	if !strings.HasPrefix(strings.ToLower(uri), "file:") {
		return ""
	}
	u, err := url.Parse(uri)
	if err != nil || u.Path == "" || u.Path == "/" {
		return ""
	}
	p := u.Path
	if len(p) >= 3 && p[0] == '/' && p[2] == ':' { // /D:\… or /D:/…
		p = p[1:]
	}
	return text(p)
}

func first(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// text cleans a string from a blob for display: valid UTF-8, no control
// characters, trimmed, bounded.
func text(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, s)
	s = strings.TrimSpace(s)
	if len(s) > 512 {
		s = s[:512]
		for !utf8.ValidString(s) {
			s = s[:len(s)-1]
		}
	}
	return s
}

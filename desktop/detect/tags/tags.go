// Package tags owns what Pika! learns from a played track's own audio file:
// BPM, key, ISRC and MusicBrainz recording id from its tags, and a hash of
// its audio that stays the same when only the tags change. Enrich fills what
// a DJ program did not say; the program's own values always win.
package tags

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"unicode"

	"github.com/dhowden/tag"

	"github.com/pika-dj/pika/bus"
	"github.com/pika-dj/pika/desktop/detect"
)

// Info is what a file's tags and audio say about its recording. Fields the
// file does not have stay zero.
type Info struct {
	BPM       float64 // beats per minute, 0 if untagged or out of range
	Key       string  // as tagged ("Am", "8A", "C#m")
	ISRC      string  // 12 characters, upper case, no dashes
	MBID      string  // MusicBrainz recording id, lower case
	AudioHash string  // 32 hex characters over the audio only; "" for formats it does not cover
}

// MaxFileSize is the largest file Read looks at: a DJ's audio file is tens
// of megabytes, a multi-gigabyte file is a video or a disk image, and
// reading its tags is not worth the risk.
const MaxFileSize = 2 << 30

// Read returns the tags and audio hash of the local audio file at path. Its
// error is about the file (missing, not a regular file, unreadable); tags
// it cannot make sense of only leave their fields empty, since a damaged
// tag must not cost the DJ the rest.
func Read(path string) (Info, error) {
	f, err := os.Open(path)
	if err != nil {
		return Info{}, fmt.Errorf("read tags: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return Info{}, fmt.Errorf("read tags of %s: %w", path, err)
	}
	if !st.Mode().IsRegular() {
		return Info{}, fmt.Errorf("read tags of %s: not a regular file", path)
	}
	if st.Size() > MaxFileSize {
		return Info{}, fmt.Errorf("read tags of %s: %d bytes is too big for an audio file", path, st.Size())
	}
	var info Info
	if m := readTags(f); m != nil {
		info = fromTags(m)
	}
	// The hash is best effort too: a file whose layout it does not know
	// simply has none.
	info.AudioHash, _ = audioHash(f, st.Size())
	return info, nil
}

// readTags parses the file's tags with the library, which was not written
// for hostile input: a panic in it is a damaged file, not a reason to stop
// following the DJ.
func readTags(r io.ReadSeeker) (m tag.Metadata) {
	defer func() {
		if recover() != nil {
			m = nil
		}
	}()
	if _, err := r.Seek(0, io.SeekStart); err != nil {
		return nil
	}
	m, err := tag.ReadFrom(r)
	if err != nil {
		return nil
	}
	return m
}

// fromTags picks our fields out of the library's raw frames, whose names
// depend on the format.
func fromTags(m tag.Metadata) Info {
	raw := m.Raw()
	var info Info
	switch m.Format() {
	case tag.ID3v2_2:
		info.BPM = parseBPM(text(raw["TBP"]))
		info.Key = cleanKey(text(raw["TKE"]))
		info.ISRC = cleanISRC(text(raw["TRC"]))
		info.MBID = id3MBID(raw, "TXX", "UFI")
	case tag.ID3v2_3, tag.ID3v2_4:
		info.BPM = parseBPM(text(raw["TBPM"]))
		info.Key = cleanKey(text(raw["TKEY"]))
		info.ISRC = cleanISRC(text(raw["TSRC"]))
		info.MBID = id3MBID(raw, "TXXX", "UFID")
	case tag.VORBIS:
		// The library lower-cases Vorbis comment names.
		info.BPM = parseBPM(text(raw["bpm"]))
		info.Key = cleanKey(first(text(raw["initialkey"]), text(raw["key"])))
		info.ISRC = cleanISRC(text(raw["isrc"]))
		info.MBID = cleanMBID(text(raw["musicbrainz_trackid"])) // Picard's name for the recording id
	case tag.MP4:
		// Freeform "----" atoms come under their own names. The library
		// reads the standard tempo atom as one byte, so only a freeform
		// BPM is trusted.
		get := func(name string) string {
			for k, v := range raw {
				if strings.EqualFold(k, name) {
					return text(v)
				}
			}
			return ""
		}
		info.BPM = parseBPM(get("BPM"))
		info.Key = cleanKey(first(get("initialkey"), get("KEY")))
		info.ISRC = cleanISRC(get("ISRC"))
		info.MBID = cleanMBID(get("MusicBrainz Track Id"))
	}
	return info
}

// id3MBID finds the MusicBrainz recording id: Picard writes it as a UFID
// frame owned by musicbrainz.org; other taggers as TXXX "MusicBrainz Track
// Id". Repeated frames come as NAME, NAME_0, NAME_1….
func id3MBID(raw map[string]any, txxx, ufid string) string {
	var fromTXXX string
	for k, v := range raw {
		switch {
		case k == ufid || strings.HasPrefix(k, ufid+"_"):
			if u, ok := v.(*tag.UFID); ok && u.Provider == "http://musicbrainz.org" {
				if id := cleanMBID(string(u.Identifier)); id != "" {
					return id
				}
			}
		case k == txxx || strings.HasPrefix(k, txxx+"_"):
			if c, ok := v.(*tag.Comm); ok && strings.EqualFold(strings.TrimSpace(c.Description), "MusicBrainz Track Id") {
				fromTXXX = cleanMBID(c.Text)
			}
		}
	}
	return fromTXXX
}

func text(v any) string {
	switch v := v.(type) {
	case string:
		return strings.TrimSpace(strings.Trim(v, "\x00"))
	case int:
		return strconv.Itoa(v)
	}
	return ""
}

func first(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

// parseBPM reads "128", "127.98" or "128,0" and drops what the bus would
// refuse.
func parseBPM(s string) float64 {
	f, err := strconv.ParseFloat(strings.ReplaceAll(strings.TrimSpace(s), ",", "."), 64)
	if err != nil || f < bus.MinBPM || f > bus.MaxBPM {
		return 0
	}
	return f
}

func cleanKey(s string) string {
	s = strings.TrimSpace(s)
	if s == "" || len([]rune(s)) > bus.MaxKeyLen || strings.IndexFunc(s, unicode.IsControl) >= 0 {
		return ""
	}
	return s
}

// cleanISRC accepts "USRC17607839" and "US-RC1-76-07839".
func cleanISRC(s string) string {
	s = strings.ToUpper(strings.ReplaceAll(strings.TrimSpace(s), "-", ""))
	if len(s) != 12 {
		return ""
	}
	for _, r := range s {
		if !(r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return ""
		}
	}
	return s
}

// cleanMBID accepts a MusicBrainz id: a UUID in its 36-character form.
func cleanMBID(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	if len(s) != 36 {
		return ""
	}
	for i, r := range s {
		dash := i == 8 || i == 13 || i == 18 || i == 23
		if dash != (r == '-') || !dash && !(r >= '0' && r <= '9' || r >= 'a' && r <= 'f') {
			return ""
		}
	}
	return s
}

// Enrich fills what e lacks (BPM, key, ISRC, MusicBrainz id, audio hash)
// from its file's tags; what the program said stays. Entries without a
// local file (streaming, URLs, a file not on this computer) come back as
// they are, as do entries that already have everything.
func Enrich(e detect.Entry) detect.Entry {
	if e.BPM > 0 && e.Key != "" && e.ISRC != "" && e.MBID != "" && e.AudioHash != "" {
		return e
	}
	if !isLocal(e.Path) {
		return e
	}
	if st, err := os.Stat(e.Path); err != nil || !st.Mode().IsRegular() {
		return e
	}
	info, err := Read(e.Path)
	if err != nil {
		return e
	}
	if e.BPM <= 0 {
		e.BPM = info.BPM
	}
	if e.Key == "" {
		e.Key = info.Key
	}
	if e.ISRC == "" {
		e.ISRC = info.ISRC
	}
	if e.MBID == "" {
		e.MBID = info.MBID
	}
	if e.AudioHash == "" {
		e.AudioHash = info.AudioHash
	}
	return e
}

// isLocal reports whether p names a file rather than a stream: VirtualDJ's
// netsearch:// and streaming entries, http(s) URLs and the like have a
// scheme. A Windows drive letter ("D:\…") is not one.
func isLocal(p string) bool {
	p = strings.TrimSpace(p)
	if p == "" || strings.ContainsRune(p, '\x00') {
		return false
	}
	return !strings.Contains(p, "://")
}

// errNoAudio says the file's layout is not one audioHash knows.
var errNoAudio = errors.New("no audio found")

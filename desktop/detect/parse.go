package detect

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"html"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/pika-dj/pika/bus"
)

// MaxLineBytes is the longest line the parser reads. A longer line is
// skipped whole: a history file is a few hundred bytes per entry, so a huge
// line is damage or a different file, and buffering it would let one bad
// file grow memory without bound.
const MaxLineBytes = 64 << 10

// maxTags bounds the tags read from one #EXTVDJ line, so a damaged line of
// thousands of unclosed tags costs linear time, not quadratic.
const maxTags = 64

// maxBetween is how many blank or comment lines may separate an entry's tags
// from its path line.
const maxBetween = 8

// Sources an Entry can name.
const (
	SourceVirtualDJ = "virtualdj"
	SourceM3U       = "m3u"
)

// Entry is one play read from a history file.
type Entry struct {
	Artist, Title, Album, Remix string
	BPM                         float64   // 0 if unknown
	Key                         string    // musical key if the source has one
	Duration                    float64   // seconds, 0 if unknown (VDJ <songlength>)
	Path                        string    // the file/URL line (e.g. D:\Music\x.mp3, netsearch://dz123)
	PlayedAt                    time.Time // VDJ <lastplaytime> (unix seconds) when present; zero otherwise
	Source                      string    // the detector's name: "virtualdj", "m3u", "serato", "mixxx", …
	Deck                        string    // the deck it played on, "" when the source has no decks
	// ISRC, MBID (a MusicBrainz recording id) and AudioHash identify the
	// recording itself when the program or the file's tags know them.
	ISRC, MBID, AudioHash string
	// ID is a stable identity of this entry: the same entry read twice (two
	// polls, a restart, a rewritten file) gives the same ID; two different
	// plays of the same song give different IDs. With lastplaytime: hash of
	// (file base name, lastplaytime, artist, title). Without: hash of (file
	// base name, byte offset of the entry, artist, title).
	ID string
}

// Track is the entry as the bus contract's Track (id computed by bus.NewTrack).
func (e Entry) Track() bus.Track {
	t := bus.NewTrack(e.Artist, e.Title)
	t.Album, t.BPM, t.Key, t.Duration = e.Album, e.BPM, e.Key, e.Duration
	t.Recording = bus.RecordingID(e.ISRC, e.MBID, e.AudioHash)
	return t
}

// textEncoding is how a file's bytes become text. It is decided once per
// file from its first bytes, because only a BOM tells UTF-16 apart.
type textEncoding uint8

const (
	encUnknown textEncoding = iota // at offset 0 with fewer than 3 bytes seen
	encUTF8                        // UTF-8, each invalid line read as CP-1252
	encUTF16LE
	encUTF16BE
)

// Parser turns appended bytes into entries, keeping a partial trailing entry
// for later. Feed it the bytes of one file in order, in chunks of any size:
// the entries are the same whatever the split. It is not safe for
// concurrent use.
type Parser struct {
	file string // base name of the file, part of every ID
	off  int64  // file offset of buf[0]
	buf  []byte // bytes of the line not yet terminated
	enc  textEncoding
	// skip: the bytes at off are the rest of an overlong line, dropped up to
	// its newline.
	skip bool
	// cont: the line at off continues one Flush already counted complete (a
	// writer that left out the final newline), so it is dropped unless it
	// starts a new tag.
	cont bool
	pend *pending
	warn func(msg string, args ...any)
}

// pending is an entry whose tag lines were read and whose path line was not.
type pending struct {
	start    int64 // offset of its first line: the entry's offset
	e        Entry
	playtime string // raw <lastplaytime>, part of the ID
	between  int    // lines read since its tags that were neither tag nor path
	inf, vdj bool   // which tag kinds it already has
}

// item is an entry with where it ends, for the watcher's bookkeeping.
type item struct {
	Entry
	end  int64 // offset just after the entry's path line
	cont bool  // the path line had no newline yet (counted by Flush)
}

// NewParser returns a parser for a file read from its first byte. name is
// the file's name or path; only its base name goes into entry IDs.
func NewParser(name string) *Parser {
	return &Parser{file: baseName(name)}
}

// resumeParser continues a file at off (a point a previous parser reported
// safe) whose encoding is already known.
func resumeParser(name string, off int64, enc textEncoding, skip, cont bool) *Parser {
	if off == 0 {
		enc = encUnknown
	}
	return &Parser{file: baseName(name), off: off, enc: enc, skip: skip, cont: cont}
}

func baseName(name string) string {
	if name == "" {
		return ""
	}
	i := strings.LastIndexAny(name, `/\`)
	return name[i+1:]
}

// Feed parses data appended to what was fed before and returns the entries
// it completed: those whose path line ends with a newline.
func (p *Parser) Feed(data []byte) []Entry { return entries(p.feed(data)) }

// Flush also counts an unterminated final path line as complete, for a file
// known to be finished (some writers omit the last newline). The parser can
// be fed again afterwards: the rest of that line is then dropped, so the
// entry is never produced twice.
func (p *Parser) Flush() []Entry { return entries(p.flush()) }

// ParseAll parses a whole file: every entry, including a final path line
// without its newline.
func ParseAll(data []byte) []Entry {
	p := NewParser("")
	out := p.Feed(data)
	return append(out, p.Flush()...)
}

func entries(items []item) []Entry {
	if len(items) == 0 {
		return nil
	}
	out := make([]Entry, len(items))
	for i, it := range items {
		out[i] = it.Entry
	}
	return out
}

// state is where to resume: re-reading from off with these flags yields
// every entry not yet returned, and none that was.
func (p *Parser) state() (off int64, skip, cont bool) {
	if p.pend != nil {
		return p.pend.start, false, false
	}
	return p.off, p.skip, p.cont
}

func (p *Parser) feed(data []byte) []item {
	p.buf = append(p.buf, data...)
	var out []item
	for {
		if p.enc == encUnknown {
			if len(p.buf) < 3 {
				return out // a BOM may still be arriving
			}
			p.detect()
		}
		i, nl := p.newline()
		if i < 0 {
			if len(p.buf) > MaxLineBytes {
				if !p.skip {
					p.logf("skipping a line longer than the limit", "offset", p.off, "limit", MaxLineBytes)
				}
				n := len(p.buf)
				if p.enc == encUTF16LE || p.enc == encUTF16BE {
					n &^= 1 // keep code units aligned
				}
				p.skip, p.cont, p.pend = true, false, nil
				p.off += int64(n)
				p.buf = append(p.buf[:0], p.buf[n:]...)
			}
			return out
		}
		line, start := p.buf[:i], p.off
		p.off += int64(i + nl)
		p.buf = p.buf[i+nl:]
		if p.skip {
			p.skip = false
			continue
		}
		if len(line) > MaxLineBytes {
			p.logf("skipping a line longer than the limit", "offset", start, "limit", MaxLineBytes)
			p.cont, p.pend = false, nil
			continue
		}
		if it, ok := p.line(p.decode(line), start, p.off, false); ok {
			out = append(out, it)
		}
	}
}

func (p *Parser) flush() []item {
	if p.enc == encUnknown {
		if len(p.buf) == 0 {
			return nil
		}
		p.detect()
	}
	out := p.feed(nil)
	if p.skip || len(p.buf) == 0 {
		return out
	}
	if (p.enc == encUTF16LE || p.enc == encUTF16BE) && len(p.buf)%2 != 0 {
		return out // half a code unit: the line is surely still being written
	}
	s := cleanLine(p.decode(p.buf))
	if s != "" && s[0] == '#' {
		return out // a tag with no path yet: it completes when its newline comes
	}
	if s == "" && !p.cont {
		return out // blanks: nothing to count, and the line may yet become a path
	}
	start := p.off
	end := p.off + int64(len(p.buf))
	if it, ok := p.line(s, start, end, true); ok {
		out = append(out, it)
	}
	// The line is counted: whatever follows it on the same line is its rest.
	p.off, p.buf, p.cont = end, p.buf[:0], true
	return out
}

func (p *Parser) logf(msg string, args ...any) {
	if p.warn != nil {
		p.warn(msg, append(args, "file", p.file)...)
	}
}

// detect reads the BOM at the start of the file.
func (p *Parser) detect() {
	b := p.buf
	n := 0
	switch {
	case bytes.HasPrefix(b, []byte{0xEF, 0xBB, 0xBF}):
		p.enc, n = encUTF8, 3
	case bytes.HasPrefix(b, []byte{0xFF, 0xFE}):
		p.enc, n = encUTF16LE, 2
	case bytes.HasPrefix(b, []byte{0xFE, 0xFF}):
		p.enc, n = encUTF16BE, 2
	default:
		p.enc = encUTF8
	}
	p.off += int64(n)
	p.buf = p.buf[n:]
}

// newline finds the end of the first line in buf: its index and the size of
// the newline, or -1.
func (p *Parser) newline() (int, int) {
	b := p.buf
	switch p.enc {
	case encUTF16LE, encUTF16BE:
		hi, lo := 1, 0
		if p.enc == encUTF16BE {
			hi, lo = 0, 1
		}
		for i := 0; i+1 < len(b); i += 2 {
			if b[i+lo] == '\n' && b[i+hi] == 0 {
				return i, 2
			}
		}
		return -1, 0
	default:
		return bytes.IndexByte(b, '\n'), 1
	}
}

// decode turns one line's bytes into text.
func (p *Parser) decode(b []byte) string {
	switch p.enc {
	case encUTF16LE:
		return UTF16(b, false)
	case encUTF16BE:
		return UTF16(b, true)
	}
	return utf8OrWindows1252(b)
}

func cleanLine(s string) string {
	return strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(s), "\uFEFF"))
}

// line handles one complete line starting at start and ending at end.
func (p *Parser) line(s string, start, end int64, forced bool) (item, bool) {
	s = cleanLine(s)
	if p.cont {
		p.cont = false
		if !strings.HasPrefix(s, "#") {
			return item{}, false // the rest of a line already counted
		}
	}
	if s == "" || s[0] == '#' {
		switch {
		case hasPrefixFold(s, "#EXTINF:"):
			p.tag(start, false, s[len("#EXTINF:"):])
		case hasPrefixFold(s, "#EXTVDJ:"):
			p.tag(start, true, s[len("#EXTVDJ:"):])
		case p.pend != nil:
			// Blanks and other comments may sit between tags and path, but
			// not many: a pending entry must stay well under the watcher's
			// read chunk, or reading could never get past it.
			if p.pend.between++; p.pend.between > maxBetween {
				p.pend = nil
			}
		}
		return item{}, false // #EXTM3U and other comments carry nothing
	}
	pd := p.pend
	p.pend = nil
	if pd == nil {
		pd = &pending{start: start, e: Entry{Source: SourceM3U}}
	}
	e, ok := finish(pd, s, p.file)
	return item{Entry: e, end: end, cont: forced}, ok
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// tag records an #EXTINF or #EXTVDJ line. Both kinds before one path line
// describe the same entry; a second line of a kind already seen means the
// previous entry never got its path line, so it is dropped.
func (p *Parser) tag(start int64, vdj bool, body string) {
	if p.pend == nil || (vdj && p.pend.vdj) || (!vdj && p.pend.inf) {
		p.pend = &pending{start: start, e: Entry{Source: SourceM3U}}
	}
	pd := p.pend
	if vdj {
		pd.vdj = true
		pd.e.Source = SourceVirtualDJ
		parseVDJ(body, pd)
		return
	}
	pd.inf = true
	dur, display, found := strings.Cut(body, ",")
	if f := strings.Fields(dur); len(f) > 0 {
		if d, err := strconv.ParseFloat(f[0], 64); err == nil && pd.e.Duration == 0 {
			pd.e.Duration = duration(d)
		}
	}
	if !found {
		return
	}
	artist, title := splitArtistTitle(unescape(strings.TrimSpace(display)))
	// #EXTVDJ tags are more precise than the display string; keep them.
	if pd.e.Title == "" {
		pd.e.Title = title
		if pd.e.Artist == "" {
			pd.e.Artist = artist
		}
	}
}

// parseVDJ reads the concatenated <name>value</name> tags of an #EXTVDJ line,
// in any order, any of them missing.
func parseVDJ(s string, pd *pending) {
	for n := 0; n < maxTags; n++ {
		i := strings.IndexByte(s, '<')
		if i < 0 {
			return
		}
		s = s[i+1:]
		j := strings.IndexByte(s, '>')
		if j < 0 {
			return
		}
		name := s[:j]
		s = s[j+1:]
		if name == "" || name[0] == '/' || strings.HasSuffix(name, "/") {
			continue
		}
		var val string
		closing := "</" + name + ">"
		if k := strings.Index(s, closing); k >= 0 {
			val, s = s[:k], s[k+len(closing):]
		} else {
			// Unclosed: the value runs to the next tag.
			k := strings.IndexByte(s, '<')
			if k < 0 {
				k = len(s)
			}
			val, s = s[:k], s[k:]
		}
		val = strings.TrimSpace(unescape(val))
		e := &pd.e
		switch strings.ToLower(name) {
		case "artist":
			e.Artist = val
		case "title":
			e.Title = val
		case "remix":
			e.Remix = val
		case "album":
			e.Album = val
		case "key":
			e.Key = val
		case "bpm":
			if f, err := strconv.ParseFloat(val, 64); err == nil {
				e.BPM = bpm(f)
			}
		case "songlength":
			if f, err := strconv.ParseFloat(val, 64); err == nil {
				e.Duration = duration(f)
			}
		case "lastplaytime":
			if n, err := strconv.ParseInt(val, 10, 64); err == nil && n > 0 && n < 1<<34 {
				pd.playtime = val
				e.PlayedAt = time.Unix(n, 0).UTC()
			}
		}
	}
}

// bpm accepts beats per minute, or VirtualDJ's seconds per beat (values
// below 10), and drops what the bus contract would refuse.
func bpm(f float64) float64 {
	if f > 0 && f < 10 {
		f = 60 / f
	}
	if f < bus.MinBPM || f > bus.MaxBPM {
		return 0
	}
	return f
}

func duration(d float64) float64 {
	if d <= 0 || d > 24*3600 {
		return 0 // -1 is M3U for "unknown"
	}
	return d
}

// unescape decodes HTML entities that end in ';' and leaves every other '&'
// alone: VirtualDJ writes "Tom & Jerry" raw, other writers "Tom &amp; Jerry",
// and a name like "Me&notes" must not become "Me¬es".
func unescape(s string) string {
	if !strings.Contains(s, "&") {
		return s
	}
	var b strings.Builder
	for {
		i := strings.IndexByte(s, '&')
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		b.WriteString(s[:i])
		s = s[i:]
		j := strings.IndexByte(s, ';')
		if j > 1 && j <= 10 {
			if dec := html.UnescapeString(s[:j+1]); dec != s[:j+1] {
				b.WriteString(dec)
				s = s[j+1:]
				continue
			}
		}
		b.WriteByte('&')
		s = s[1:]
	}
}

// splitArtistTitle splits "Artist - Title" on the first " - "; without a
// separator it is all title.
func splitArtistTitle(s string) (artist, title string) {
	if a, t, ok := strings.Cut(s, " - "); ok {
		return strings.TrimSpace(a), strings.TrimSpace(t)
	}
	return "", strings.TrimSpace(s)
}

// fromPath derives "Artist - Title" from a path or URL's file name.
func fromPath(p string) (artist, title string) {
	name := baseName(strings.TrimRight(p, `/\`))
	if strings.Contains(p, "://") && strings.Contains(name, "%") {
		if u, err := url.PathUnescape(name); err == nil {
			name = u
		}
	}
	if ext := path.Ext(name); len(ext) >= 2 && len(ext) <= 6 && isAlnum(ext[1:]) && len(ext) < len(name) {
		name = name[:len(name)-len(ext)]
	}
	return splitArtistTitle(name)
}

func isAlnum(s string) bool {
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

// clean makes a field safe for the bus contract.
func clean(s string, limit int) string { return bus.CleanText(s, limit) }

// finish completes a pending entry with its path line. It reports false
// when nothing usable as a title is left.
func finish(pd *pending, pathLine, file string) (Entry, bool) {
	e := pd.e
	e.Path = clean(pathLine, 4096)
	e.Artist = clean(e.Artist, bus.MaxTextLen)
	e.Title = clean(e.Title, bus.MaxTextLen)
	e.Album = clean(e.Album, bus.MaxTextLen)
	e.Remix = clean(e.Remix, bus.MaxTextLen)
	e.Key = clean(e.Key, bus.MaxKeyLen)
	if e.Title == "" {
		a, t := fromPath(e.Path)
		e.Title = clean(t, bus.MaxTextLen)
		if e.Artist == "" {
			e.Artist = clean(a, bus.MaxTextLen)
		}
	}
	if e.Remix != "" && !strings.Contains(strings.ToLower(e.Title), strings.ToLower(e.Remix)) {
		e.Title = clean(e.Title+" ("+e.Remix+")", bus.MaxTextLen)
	}
	if e.Title == "" {
		e.Title = clean(e.Path, bus.MaxTextLen)
	}
	if e.Title == "" {
		return Entry{}, false
	}
	// The ID leaves out the offset when lastplaytime is known, so an entry
	// keeps its ID when the file is rewritten and everything moves.
	where := "o" + strconv.FormatInt(pd.start, 10)
	if pd.playtime != "" {
		where = "t" + pd.playtime
	}
	sum := sha256.Sum256([]byte(file + "\x00" + where + "\x00" + e.Artist + "\x00" + e.Title))
	e.ID = hex.EncodeToString(sum[:16])
	return e, true
}

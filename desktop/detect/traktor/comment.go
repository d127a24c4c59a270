package traktor

import (
	"bytes"
	"encoding/binary"
	"strings"
)

// comment is a Vorbis comment header: the encoder's vendor string and the
// KEY=value fields, names upper-cased (they are case-insensitive).
type comment struct {
	Vendor string
	Fields map[string][]string
}

// get returns the first value of the field name (upper case), trimmed.
func (c comment) get(name string) string {
	if v := c.Fields[name]; len(v) > 0 {
		return strings.TrimSpace(v[0])
	}
	return ""
}

// maxFields bounds the fields kept from one comment header.
const maxFields = 256

// parseComment reads a comment header packet: Vorbis (0x03 "vorbis") as
// Traktor sends, or Opus ("OpusTags") as other broadcasting tools may.
// After the magic: a little-endian uint32 vendor length and the vendor,
// a uint32 field count, then each field as a uint32 length and UTF-8
// "NAME=value". ok is false when p is not a comment header or is cut
// short before its fields; damaged text is kept with bad bytes replaced.
func parseComment(p []byte) (c comment, ok bool) {
	switch {
	case bytes.HasPrefix(p, []byte("\x03vorbis")):
		p = p[7:]
	case bytes.HasPrefix(p, []byte("OpusTags")):
		p = p[8:]
	default:
		return comment{}, false
	}
	next := func() ([]byte, bool) {
		if len(p) < 4 {
			return nil, false
		}
		n := binary.LittleEndian.Uint32(p)
		if uint64(n) > uint64(len(p)-4) {
			return nil, false
		}
		s := p[4 : 4+n]
		p = p[4+n:]
		return s, true
	}
	vendor, ok := next()
	if !ok || len(p) < 4 {
		return comment{}, false
	}
	c.Vendor = text(vendor)
	count := binary.LittleEndian.Uint32(p)
	p = p[4:]
	c.Fields = map[string][]string{}
	for i := uint32(0); i < count && i < maxFields; i++ {
		f, ok := next()
		if !ok {
			break // a count larger than the fields there: keep what was read
		}
		name, value, found := bytes.Cut(f, []byte("="))
		if !found || len(name) == 0 {
			continue
		}
		key := strings.ToUpper(text(name))
		c.Fields[key] = append(c.Fields[key], text(value))
	}
	return c, true
}

func text(b []byte) string { return strings.ToValidUTF8(string(b), "\uFFFD") }

// trackInfo is what a comment header says about the track.
type trackInfo struct {
	Artist, Title, Album string
}

// info reads the track from c. Some setups put the whole "Artist - Title"
// in TITLE with no ARTIST; it is split at the first " - ".
func (c comment) info() trackInfo {
	t := trackInfo{Artist: c.get("ARTIST"), Title: c.get("TITLE"), Album: c.get("ALBUM")}
	if t.Artist == "" {
		if a, b, ok := strings.Cut(t.Title, " - "); ok {
			t.Artist, t.Title = strings.TrimSpace(a), strings.TrimSpace(b)
		}
	}
	return t
}

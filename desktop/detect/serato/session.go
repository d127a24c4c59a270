package serato

import (
	"bytes"
	"encoding/binary"
	"strings"

	"github.com/pika-dj/pika/desktop/detect"
)

// A Serato DJ 3 / Scratch Live session file is a sequence of chunks: a
// 4-byte ASCII tag, a big-endian uint32 length, then the payload. "oent"
// holds one "adat" chunk describing one track row (written again, whole or
// in part, each time the row changes); "oren" holds a "uent" chunk naming a
// row that was removed. An adat payload is a list of fields: uint32 field
// id, uint32 length, value. Newer Serato versions preallocate zero-filled
// space at the end of the file and may leave junk after it.

// Field ids of a track row.
const (
	fieldRow      = 1
	fieldPath     = 2
	fieldLocation = 3
	fieldFileName = 4
	fieldTitle    = 6
	fieldArtist   = 7
	fieldAlbum    = 8
	fieldGenre    = 9
	fieldLength   = 10 // text, "06:25.31"
	fieldBPM      = 15
	fieldRemixer  = 20
	fieldStart    = 28
	fieldEnd      = 29
	fieldDeck     = 31
	fieldPlayTime = 45
	fieldPlayed   = 50
	fieldKey      = 51
)

// maxChunk bounds one chunk's length. A session row is a few hundred bytes;
// a larger claim is damage, and is treated like junk rather than read.
const maxChunk = 1 << 20

// SessionRow is one track row of a session file, its fields merged from
// every chunk that described it.
type SessionRow struct {
	Row                              uint32
	Path, Location, FileName         string
	Title, Artist, Album, Genre, Key string
	Length                           string // as Serato writes it: "06:25.31"
	BPM                              uint32
	Start, End                       int64 // unix seconds; 0 when not set
	Deck                             uint32
	PlayTime                         uint32 // seconds; 0 while not finished
	Played                           bool
}

// Session is what a session file says so far.
type Session struct {
	Version string       // the vrsn chunk, e.g. "1.0/Serato Scratch LIVE Review"
	Rows    []SessionRow // in the order each row first appeared, removed rows left out
	// Complete is how many bytes were read as whole chunks. When the file
	// ends inside a chunk (Serato still writing it), reading stopped there,
	// and the same bytes are read again, completed, next time.
	Complete int
	// Truncated is true when the file ends inside a chunk.
	Truncated bool
	// Skipped counts bytes of zero-filled space and junk passed over.
	Skipped int
}

// ParseSession reads a session file's bytes. It never fails: damage is
// skipped, a half-written trailing chunk ends the reading.
func ParseSession(data []byte) Session {
	var s Session
	fields := map[uint32]map[uint32][]byte{} // row → field id → value
	var order []uint32
	off := 0
	for off < len(data) {
		if data[off] == 0 || !plausibleTag(data[off:]) {
			// Preallocated zeros, or junk after them: skip to the next
			// row chunk.
			next := resync(data, off)
			s.Skipped += next - off
			if next >= len(data) {
				// Nothing after the gap yet; a chunk being written
				// there will be found next time.
				off = len(data)
				break
			}
			off = next
		}
		if len(data)-off < 8 {
			s.Truncated = true
			break
		}
		tag := string(data[off : off+4])
		n := binary.BigEndian.Uint32(data[off+4 : off+8])
		if n > maxChunk {
			s.Skipped += 4
			off += 4 // not a real chunk header: look for the next one after it
			continue
		}
		end := off + 8 + int(n)
		if end > len(data) {
			s.Truncated = true
			break
		}
		payload := data[off+8 : end]
		switch tag {
		case "vrsn":
			s.Version = utf16String(payload)
		case "oent":
			if adat, ok := child(payload, "adat"); ok {
				f := parseFields(adat)
				row, ok := f[fieldRow]
				if !ok || len(row) == 0 {
					break // a row without its id cannot be tracked
				}
				id := uintValue(row)
				id32 := uint32(id)
				merged, seen := fields[id32]
				if !seen {
					merged = map[uint32][]byte{}
					fields[id32] = merged
					order = append(order, id32)
				}
				for k, v := range f {
					merged[k] = v // a later chunk updates the row
				}
			}
		case "oren":
			if uent, ok := child(payload, "uent"); ok && len(uent) > 0 {
				id := uint32(uintValue(uent))
				if _, seen := fields[id]; seen {
					delete(fields, id)
					order = deleteRow(order, id)
				}
			}
		}
		off = end
		s.Complete = off
	}
	if !s.Truncated {
		s.Complete = off
	}
	for _, id := range order {
		s.Rows = append(s.Rows, decodeRow(id, fields[id]))
	}
	return s
}

// plausibleTag reports whether b starts with four printable ASCII bytes, as
// every chunk tag does.
func plausibleTag(b []byte) bool {
	if len(b) < 4 {
		return len(b) > 0 && b[0] >= 'a' && b[0] <= 'z' // maybe a tag still being written
	}
	for _, c := range b[:4] {
		if c < 0x20 || c > 0x7e {
			return false
		}
	}
	return true
}

// resync returns the offset of the next "oent" or "oren" tag at or after
// off, or len(data) when there is none.
func resync(data []byte, off int) int {
	best := len(data)
	for _, tag := range [][]byte{[]byte("oent"), []byte("oren")} {
		if i := bytes.Index(data[off:], tag); i >= 0 && off+i < best {
			best = off + i
		}
	}
	return best
}

func deleteRow(order []uint32, id uint32) []uint32 {
	out := order[:0]
	for _, r := range order {
		if r != id {
			out = append(out, r)
		}
	}
	return out
}

// child returns the payload of the first chunk tagged tag inside payload.
func child(payload []byte, tag string) ([]byte, bool) {
	for off := 0; len(payload)-off >= 8; {
		n := int(binary.BigEndian.Uint32(payload[off+4 : off+8]))
		if n > len(payload)-off-8 {
			return nil, false
		}
		if string(payload[off:off+4]) == tag {
			return payload[off+8 : off+8+n], true
		}
		off += 8 + n
	}
	return nil, false
}

// parseFields reads an adat payload's fields. A field whose length runs past
// the end is dropped with everything after it.
func parseFields(b []byte) map[uint32][]byte {
	f := map[uint32][]byte{}
	for off := 0; len(b)-off >= 8; {
		id := binary.BigEndian.Uint32(b[off : off+4])
		n := binary.BigEndian.Uint32(b[off+4 : off+8])
		if uint64(n) > uint64(len(b)-off-8) {
			break
		}
		if id != 0 { // id 0 is zero fill inside a row still being written
			f[id] = b[off+8 : off+8+int(n)]
		}
		off += 8 + int(n)
	}
	return f
}

func decodeRow(id uint32, f map[uint32][]byte) SessionRow {
	str := func(k uint32) string { return utf16String(f[k]) }
	num := func(k uint32) uint64 { return uintValue(f[k]) }
	r := SessionRow{
		Row:      id,
		Path:     str(fieldPath),
		Location: str(fieldLocation),
		FileName: str(fieldFileName),
		Title:    str(fieldTitle),
		Artist:   str(fieldArtist),
		Album:    str(fieldAlbum),
		Genre:    str(fieldGenre),
		Key:      str(fieldKey),
		Length:   str(fieldLength),
		BPM:      uint32(num(fieldBPM)),
		Start:    clampTime(num(fieldStart)),
		End:      clampTime(num(fieldEnd)),
		Deck:     uint32(num(fieldDeck)),
		PlayTime: uint32(num(fieldPlayTime)),
		Played:   num(fieldPlayed) != 0,
	}
	return r
}

// clampTime keeps a timestamp within what time.Unix handles sensibly; a
// damaged 8-byte value becomes 0 (not set).
func clampTime(v uint64) int64 {
	if v > 1<<40 {
		return 0
	}
	return int64(v)
}

// uintValue reads a big-endian unsigned integer of up to 8 bytes (Serato
// writes 1-byte flags, 4-byte numbers and 4- or 8-byte timestamps); a longer
// value keeps its last 8 bytes.
func uintValue(b []byte) uint64 {
	if len(b) > 8 {
		b = b[len(b)-8:]
	}
	var v uint64
	for _, c := range b {
		v = v<<8 | uint64(c)
	}
	return v
}

// utf16String decodes a UTF-16BE value, dropping its terminating NUL(s) and
// an odd trailing byte.
func utf16String(b []byte) string {
	return strings.TrimRight(detect.UTF16(b, true), "\x00")
}

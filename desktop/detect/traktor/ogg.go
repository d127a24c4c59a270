package traktor

import (
	"bytes"
	"encoding/binary"
	"errors"
)

// An Ogg stream as Traktor broadcasts it (RFC 3533): pages, each with a
// 27-byte header, a segment table and a body. Packets are cut into 255-byte
// segments; a segment shorter than 255 ends a packet, and a page whose last
// segment is 255 long continues its packet on the next page. Each track is a
// new logical stream (a new serial number) whose second packet is the
// Vorbis comment header with ARTIST and TITLE.

var capture = []byte("OggS")

const (
	pageHeaderLen = 27
	maxPageLen    = pageHeaderLen + 255 + 255*255

	flagContinued = 0x01 // the page's first packet began on the previous page
	flagBOS       = 0x02 // first page of a logical stream

	// maxPacket bounds one assembled packet. A comment header is a few
	// hundred bytes (a few KB with cover art); anything longer is dropped.
	maxPacket = 1 << 20
	// headerPackets is how many packets of a stream may come before its
	// comment header: the Vorbis identification header, the comment header
	// (Opus: OpusHead, OpusTags). Later packets are audio, not read.
	headerPackets = 3
)

var (
	errShortPage = errors.New("ogg: page not complete yet")
	errBadPage   = errors.New("ogg: not a valid page")
)

type page struct {
	flags  byte
	serial uint32
	seq    uint32
	segs   []byte // lacing values
	body   []byte
}

// parsePage reads the page at the start of b (which starts with "OggS"):
// the page and its length, errShortPage when b holds only part of it, or
// errBadPage when it is not a page (wrong version, checksum mismatch).
func parsePage(b []byte) (page, int, error) {
	if len(b) < pageHeaderLen {
		return page{}, 0, errShortPage
	}
	if !bytes.HasPrefix(b, capture) || b[4] != 0 {
		return page{}, 0, errBadPage
	}
	nseg := int(b[26])
	if len(b) < pageHeaderLen+nseg {
		return page{}, 0, errShortPage
	}
	segs := b[pageHeaderLen : pageHeaderLen+nseg]
	n := pageHeaderLen + nseg
	for _, l := range segs {
		n += int(l)
	}
	if len(b) < n {
		return page{}, 0, errShortPage
	}
	if binary.LittleEndian.Uint32(b[22:26]) != pageCRC(b[:n]) {
		return page{}, 0, errBadPage
	}
	return page{
		flags:  b[5],
		serial: binary.LittleEndian.Uint32(b[14:18]),
		seq:    binary.LittleEndian.Uint32(b[18:22]),
		segs:   segs,
		body:   b[pageHeaderLen+nseg : n],
	}, n, nil
}

// crcTable is Ogg's CRC-32: polynomial 0x04c11db7, most significant bit
// first, no reflection, initial value 0 (not hash/crc32's IEEE variant).
var crcTable = func() (t [256]uint32) {
	for i := range t {
		r := uint32(i) << 24
		for range 8 {
			if r&0x80000000 != 0 {
				r = r<<1 ^ 0x04c11db7
			} else {
				r <<= 1
			}
		}
		t[i] = r
	}
	return t
}()

// pageCRC is the checksum of a whole page, computed with its checksum
// field (bytes 22..25) taken as zero.
func pageCRC(p []byte) uint32 {
	var crc uint32
	for i, c := range p {
		if i >= 22 && i < 26 {
			c = 0
		}
		crc = crc<<8 ^ crcTable[byte(crc>>24)^c]
	}
	return crc
}

// oggReader turns the bytes of one connection, in chunks of any size, into
// the comment headers of its logical streams. Reads from TCP do not align
// with pages, so a partial page waits for the next chunk; damaged bytes are
// skipped up to the next "OggS" whose page checks out. Memory is bounded by
// one page plus one packet. It is not safe for concurrent use.
type oggReader struct {
	buf []byte

	have    bool   // a logical stream is being read
	serial  uint32 // its serial number
	seq     uint32 // the sequence number of its last page
	packets int    // packets completed in it
	done    bool   // its comment header was read (or never will be): its pages are skipped
	packet  []byte // the packet being assembled
	lost    bool   // the start of the packet being assembled was lost: drop it up to its end

	pages    int // valid pages read
	badPages int // pages skipped for a bad checksum or version
	junk     int // bytes skipped that were not in any page
}

// Limits past which a connection is not an Ogg stream at all (an MP3
// broadcast, a stranger's bytes). Each candidate page costs a checksum over
// up to 64 KB, so bad pages must stay few.
const (
	maxBadPages = 64
	maxJunk     = 4 * maxPageLen // any Ogg stream has a page in far less
)

// errNotOgg says a connection sends something other than Ogg.
var errNotOgg = errors.New("the broadcast is not an Ogg stream")

// feed reads p and calls onComment for each comment header completed. It
// returns errNotOgg once the bytes are clearly not Ogg; the reader must not
// be fed after that.
func (r *oggReader) feed(p []byte, onComment func(serial uint32, c comment)) error {
	r.buf = append(r.buf, p...)
	off := 0
	for {
		if r.badPages > maxBadPages || (r.pages == 0 && r.junk > maxJunk) {
			r.buf = nil
			return errNotOgg
		}
		i := bytes.Index(r.buf[off:], capture)
		if i < 0 {
			// Keep a tail that may be the start of "OggS".
			keep := min(len(r.buf)-off, len(capture)-1)
			r.junk += len(r.buf) - off - keep
			off = len(r.buf) - keep
			break
		}
		r.junk += i
		off += i
		pg, n, err := parsePage(r.buf[off:])
		if errors.Is(err, errShortPage) {
			break
		}
		if err != nil {
			r.badPages++
			off++ // look for the next "OggS" after this one
			continue
		}
		r.pages++
		r.page(pg, onComment)
		off += n
	}
	if off > 0 { // most reads end mid-page: keep the start where it is
		r.buf = append(r.buf[:0], r.buf[off:]...)
	}
	if cap(r.buf) > 2*maxPageLen {
		r.buf = append([]byte(nil), r.buf...) // let a burst's big buffer go
	}
	return nil
}

// page takes one valid page: it assembles the packets of the stream's
// header and reads the comment header among them.
func (r *oggReader) page(pg page, onComment func(uint32, comment)) {
	continued := pg.flags&flagContinued != 0
	switch {
	case !r.have || pg.serial != r.serial || pg.flags&flagBOS != 0:
		// A new track. A stream whose first page was damaged is still read
		// from its next pages, so a lost BOS page costs no track.
		r.have, r.serial, r.packets, r.done = true, pg.serial, 0, false
		r.packet, r.lost = r.packet[:0], continued
	case pg.seq != r.seq+1:
		// A page was lost: a packet cut by the gap is dropped.
		r.packet, r.lost = r.packet[:0], continued
	case !continued:
		r.packet, r.lost = r.packet[:0], false
	}
	r.seq = pg.seq
	if r.done {
		return
	}
	body := pg.body
	for _, l := range pg.segs {
		seg := body[:l]
		body = body[l:]
		if !r.lost {
			if len(r.packet)+len(seg) > maxPacket {
				r.packet, r.lost = r.packet[:0], true
			} else {
				r.packet = append(r.packet, seg...)
			}
		}
		if l == 255 {
			continue // the packet goes on
		}
		if !r.lost {
			if c, ok := parseComment(r.packet); ok {
				r.done = true
				onComment(r.serial, c)
				return
			}
		}
		r.packet, r.lost = r.packet[:0], false
		r.packets++
		if r.packets >= headerPackets {
			r.done = true // no comment header where it belongs: audio only
			return
		}
	}
	if cap(r.packet) > maxPacket {
		r.packet = nil
	}
}

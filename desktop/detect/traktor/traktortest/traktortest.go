// Package traktortest owns the Traktor fixture tests build on: the Ogg
// Vorbis stream Traktor broadcasts (pages with correct CRCs, one logical
// stream per track whose comment header names it), and a client that
// connects to an address as Traktor's Broadcasting does, as an Icecast
// SOURCE client, and sends that stream. The traktor package's tests and the
// end-to-end tests of `pika lan` both use it. It shares no code with the
// reader it tests: its pages and checksums are written from the Ogg
// specification (RFC 3533).
package traktortest

import (
	"bufio"
	"encoding/binary"
	"encoding/xml"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path"
	"strings"
	"testing"
	"time"
)

// Page header flags (RFC 3533, section 6).
const (
	Continued = 0x01 // the page's first packet continues one from the page before
	BOS       = 0x02 // the first page of a logical stream
	EOS       = 0x04 // the last page of a logical stream
)

// headerLen is an Ogg page header's size before its lacing values.
const headerLen = 27

// Page builds one Ogg page with a correct checksum.
func Page(flags byte, serial, seq uint32, granule uint64, lacing, body []byte) []byte {
	p := make([]byte, headerLen, headerLen+len(lacing)+len(body))
	copy(p, "OggS") // version 0 follows
	p[5] = flags
	binary.LittleEndian.PutUint64(p[6:], granule)
	binary.LittleEndian.PutUint32(p[14:], serial)
	binary.LittleEndian.PutUint32(p[18:], seq)
	p[26] = byte(len(lacing))
	p = append(p, lacing...)
	p = append(p, body...)
	binary.LittleEndian.PutUint32(p[22:], CRC(p))
	return p
}

// CRC is an Ogg page's checksum: CRC-32 with polynomial 0x04c11db7, no
// reflection, initial value and final XOR 0, over the whole page with its
// checksum field read as zero. It is computed bit by bit, the plainest
// reading of the specification, as a check on the reader's table.
func CRC(page []byte) uint32 {
	var crc uint32
	for i, c := range page {
		if i >= 22 && i < 26 {
			c = 0
		}
		crc ^= uint32(c) << 24
		for range 8 {
			if crc&0x80000000 != 0 {
				crc = crc<<1 ^ 0x04c11db7
			} else {
				crc <<= 1
			}
		}
	}
	return crc
}

// Writer lays packets out into the pages of one logical stream as an
// encoder does.
type Writer struct {
	Serial  uint32
	Seq     uint32 // the next page's sequence number; the page numbered 0 is marked BOS
	Granule uint64
	// PerPage is how many lacing segments a page holds at most (1..255); a
	// packet that does not fit continues on the next page.
	PerPage int
}

// NewWriter starts a logical stream with the given serial number.
func NewWriter(serial uint32) *Writer { return &Writer{Serial: serial, PerPage: 255} }

// Pages lays out packets into as many pages as they need.
func (w *Writer) Pages(packets ...[]byte) []byte {
	var out, lacing, body []byte
	continued := false
	flush := func(next bool) {
		var flags byte
		if continued {
			flags |= Continued
		}
		if w.Seq == 0 {
			flags |= BOS
		}
		w.Granule += 1024
		out = append(out, Page(flags, w.Serial, w.Seq, w.Granule, lacing, body)...)
		w.Seq++
		lacing, body, continued = nil, nil, next
	}
	for _, p := range packets {
		for {
			n := min(len(p), 255)
			lacing = append(lacing, byte(n))
			body = append(body, p[:n]...)
			p = p[n:]
			end := n < 255
			if len(lacing) >= w.PerPage {
				flush(!end)
			}
			if end {
				break
			}
		}
	}
	if len(lacing) > 0 {
		flush(false)
	}
	return out
}

// Vendor is the vendor string of Traktor's comment headers.
const Vendor = "Xiph.Org libVorbis I 20150105 (⛄⛄⛄⛄)"

// VorbisComment is a comment header packet with the given "NAME=value"
// fields.
func VorbisComment(vendor string, fields ...string) []byte {
	p := []byte("\x03vorbis")
	p = binary.LittleEndian.AppendUint32(p, uint32(len(vendor)))
	p = append(p, vendor...)
	p = binary.LittleEndian.AppendUint32(p, uint32(len(fields)))
	for _, f := range fields {
		p = binary.LittleEndian.AppendUint32(p, uint32(len(f)))
		p = append(p, f...)
	}
	return append(p, 1) // the framing bit
}

// VorbisIdent is an identification header: 44.1 kHz stereo, 128 kbit/s.
func VorbisIdent() []byte {
	p := []byte("\x01vorbis")
	p = binary.LittleEndian.AppendUint32(p, 0)     // version
	p = append(p, 2)                               // channels
	p = binary.LittleEndian.AppendUint32(p, 44100) // rate
	p = binary.LittleEndian.AppendUint32(p, 0)
	p = binary.LittleEndian.AppendUint32(p, 128000)
	p = binary.LittleEndian.AppendUint32(p, 0)
	return append(p, 0xb8, 1)
}

// Audio is an invented audio packet of n bytes (even first byte, as a
// Vorbis audio packet's type bit is 0).
func Audio(rng *rand.Rand, n int) []byte {
	p := make([]byte, n)
	for i := range p {
		p[i] = byte(rng.IntN(256))
	}
	p[0] &^= 1
	return p
}

// TrackStream is what Traktor sends for one track: the identification
// header alone on the first page, the comment header (with fields such as
// "ARTIST=…", "TITLE=…") and the setup header, then audio pages.
func TrackStream(rng *rand.Rand, serial uint32, fields ...string) []byte {
	w := NewWriter(serial)
	out := w.Pages(VorbisIdent())
	setup := append([]byte("\x05vorbis"), Audio(rng, 3000)...)
	out = append(out, w.Pages(VorbisComment(Vendor, fields...), setup)...)
	for range 3 {
		out = append(out, w.Pages(Audio(rng, 400), Audio(rng, 700), Audio(rng, 255))...)
	}
	return out
}

// Track is one track of Traktor's collection.nml.
type Track struct {
	Artist, Title, Album string
	BPM                  float64
	Key                  string  // Open Key text as Traktor shows it: "8m"
	Seconds              float64 // length
	Volume               string  // the drive: "Macintosh HD", "D:"
	File                 string  // the file's path on that drive: "/Users/dj/Music/a.mp3"
}

// WriteCollection writes collection.nml at file in Traktor's layout (NML
// version 19) with the given tracks, as Traktor saves it.
func WriteCollection(tb testing.TB, file string, tracks ...Track) {
	tb.Helper()
	attr := func(s string) string {
		var b strings.Builder
		_ = xml.EscapeText(&b, []byte(s)) // quotes too
		return b.String()
	}
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="UTF-8" standalone="no" ?>` + "\n")
	b.WriteString(`<NML VERSION="19"><HEAD COMPANY="www.native-instruments.com" PROGRAM="Traktor"></HEAD>` + "\n<MUSICFOLDERS></MUSICFOLDERS>\n")
	fmt.Fprintf(&b, "<COLLECTION ENTRIES=\"%d\">\n", len(tracks))
	for _, t := range tracks {
		// LOCATION's DIR writes each folder as "/:name": "/:Users/:dj/:".
		dir := "/:"
		for _, part := range strings.Split(path.Dir(t.File), "/") {
			if part != "" {
				dir += part + "/:"
			}
		}
		fmt.Fprintf(&b, "<ENTRY MODIFIED_DATE=\"2026/11/20\" MODIFIED_TIME=\"40131\" TITLE=\"%s\" ARTIST=\"%s\">\n", attr(t.Title), attr(t.Artist))
		fmt.Fprintf(&b, "<LOCATION DIR=\"%s\" FILE=\"%s\" VOLUME=\"%s\" VOLUMEID=\"%s\"></LOCATION>\n", attr(dir), attr(path.Base(t.File)), attr(t.Volume), attr(t.Volume))
		fmt.Fprintf(&b, "<ALBUM TRACK=\"1\" TITLE=\"%s\"></ALBUM>\n", attr(t.Album))
		fmt.Fprintf(&b, "<INFO BITRATE=\"320000\" KEY=\"%s\" PLAYTIME=\"%d\" PLAYTIME_FLOAT=\"%.3f\"></INFO>\n", attr(t.Key), int(t.Seconds), t.Seconds)
		fmt.Fprintf(&b, "<TEMPO BPM=\"%.6f\" BPM_QUALITY=\"100.000000\"></TEMPO>\n</ENTRY>\n", t.BPM)
	}
	b.WriteString("</COLLECTION>\n<SETS ENTRIES=\"0\"></SETS>\n<PLAYLISTS></PLAYLISTS>\n</NML>\n")
	if err := os.WriteFile(file, []byte(b.String()), 0o644); err != nil {
		tb.Fatal(err)
	}
}

// SourceRequest is the request Traktor's Broadcasting opens its
// connection with, as an Icecast source client (password "hackme").
const SourceRequest = "SOURCE /traktor.ogg HTTP/1.0\r\n" +
	"Authorization: Basic c291cmNlOmhhY2ttZQ==\r\n" + // source:hackme
	"Content-Type: application/ogg\r\n" +
	"ice-name: Friday Night Swing\r\n" +
	"ice-public: 0\r\n\r\n"

// dial connects to addr, trying for up to 10 s while nothing listens there
// yet (the server may be starting), and closes the connection when the test
// ends.
func dial(tb testing.TB, addr string) net.Conn {
	tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err == nil {
			tb.Cleanup(func() { c.Close() })
			return c
		}
		if time.Now().After(deadline) {
			tb.Fatalf("connect to %s: %v", addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// DialStatus connects to addr, sends request and returns the reply's
// status line.
func DialStatus(tb testing.TB, addr, request string) (net.Conn, string) {
	tb.Helper()
	c := dial(tb, addr)
	if _, err := c.Write([]byte(request)); err != nil {
		tb.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		tb.Fatalf("reading the reply: %v", err)
	}
	_ = c.SetReadDeadline(time.Time{})
	return c, strings.TrimSpace(line)
}

// Client plays Traktor: connected as an Icecast source, it writes its
// stream in random-size pieces.
type Client struct {
	TB     testing.TB
	Conn   net.Conn
	rng    *rand.Rand
	serial uint32
}

// Connect connects to addr as Traktor does and fails the test unless the
// reply is 200 OK. seed makes the pieces and audio bytes repeatable.
func Connect(tb testing.TB, addr string, seed uint64) *Client {
	tb.Helper()
	c, status := DialStatus(tb, addr, SourceRequest)
	if status != "HTTP/1.0 200 OK" {
		tb.Fatalf("reply %q, want 200 OK", status)
	}
	return &Client{TB: tb, Conn: c, rng: rand.New(rand.NewPCG(seed, 7)), serial: uint32(seed) << 16}
}

// Send writes b in random pieces of 1 to 700 bytes, a third of them 1 byte.
func (c *Client) Send(b []byte) {
	c.TB.Helper()
	for len(b) > 0 {
		n := 1
		if c.rng.IntN(3) > 0 {
			n = 1 + c.rng.IntN(700)
		}
		n = min(n, len(b))
		if _, err := c.Conn.Write(b[:n]); err != nil {
			c.TB.Fatalf("write: %v", err)
		}
		b = b[n:]
	}
}

// Play starts the next track as Traktor does: a new logical stream whose
// comment header carries fields such as "ARTIST=…" and "TITLE=…".
func (c *Client) Play(fields ...string) {
	c.TB.Helper()
	c.serial++
	c.Send(TrackStream(c.rng, c.serial, fields...))
}

// WaitClosed waits up to 10 s until the other side closes c, failing the
// test if it does not.
func WaitClosed(tb testing.TB, c net.Conn) {
	tb.Helper()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 512)
	for {
		_, err := c.Read(buf)
		if err == nil {
			continue
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			tb.Fatal("the server did not close the connection")
		}
		return
	}
}

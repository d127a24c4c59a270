package traktor

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pika-dj/pika/desktop/detect"
	"github.com/pika-dj/pika/internal/testenv"
)

// oggPage builds one page with a correct checksum.
func oggPage(flags byte, serial, seq uint32, granule uint64, lacing, body []byte) []byte {
	p := make([]byte, pageHeaderLen, pageHeaderLen+len(lacing)+len(body))
	copy(p, capture)
	p[5] = flags
	binary.LittleEndian.PutUint64(p[6:], granule)
	binary.LittleEndian.PutUint32(p[14:], serial)
	binary.LittleEndian.PutUint32(p[18:], seq)
	p[26] = byte(len(lacing))
	p = append(p, lacing...)
	p = append(p, body...)
	binary.LittleEndian.PutUint32(p[22:], pageCRC(p))
	return p
}

// oggWriter lays packets out into the pages of one logical stream as an
// encoder does.
type oggWriter struct {
	serial  uint32
	seq     uint32
	granule uint64
	perPage int // segments per page at most; a packet that does not fit continues on the next page
}

func newOggWriter(serial uint32) *oggWriter { return &oggWriter{serial: serial, perPage: 255} }

// pages lays out packets; the first page of the stream is marked BOS.
func (w *oggWriter) pages(packets ...[]byte) []byte {
	var out, lacing, body []byte
	continued := false
	flush := func(next bool) {
		var flags byte
		if continued {
			flags |= flagContinued
		}
		if w.seq == 0 {
			flags |= flagBOS
		}
		w.granule += 1024
		out = append(out, oggPage(flags, w.serial, w.seq, w.granule, lacing, body)...)
		w.seq++
		lacing, body, continued = nil, nil, next
	}
	for _, p := range packets {
		for {
			n := min(len(p), 255)
			lacing = append(lacing, byte(n))
			body = append(body, p[:n]...)
			p = p[n:]
			end := n < 255
			if len(lacing) == w.perPage {
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

// vorbisComment is a comment header packet with the given "NAME=value"
// fields.
func vorbisComment(vendor string, fields ...string) []byte {
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

const traktorVendor = "Xiph.Org libVorbis I 20150105 (⛄⛄⛄⛄)"

// vorbisIdent is an identification header: 44.1 kHz stereo.
func vorbisIdent() []byte {
	p := []byte("\x01vorbis")
	p = binary.LittleEndian.AppendUint32(p, 0)     // version
	p = append(p, 2)                               // channels
	p = binary.LittleEndian.AppendUint32(p, 44100) // rate
	p = binary.LittleEndian.AppendUint32(p, 0)
	p = binary.LittleEndian.AppendUint32(p, 128000)
	p = binary.LittleEndian.AppendUint32(p, 0)
	return append(p, 0xb8, 1)
}

// audio is an invented audio packet of n bytes (even first byte, as a
// Vorbis audio packet's type bit is 0).
func audio(rng *rand.Rand, n int) []byte {
	p := make([]byte, n)
	for i := range p {
		p[i] = byte(rng.IntN(256))
	}
	p[0] &^= 1
	return p
}

// trackStream is what Traktor sends for one track: the identification
// header alone on the first page, the comment and setup headers, then
// audio pages.
func trackStream(rng *rand.Rand, serial uint32, fields ...string) []byte {
	w := newOggWriter(serial)
	out := w.pages(vorbisIdent())
	setup := append([]byte("\x05vorbis"), audio(rng, 3000)...)
	out = append(out, w.pages(vorbisComment(traktorVendor, fields...), setup)...)
	for range 3 {
		out = append(out, w.pages(audio(rng, 400), audio(rng, 700), audio(rng, 255))...)
	}
	return out
}

// collector records what a source emits.
type collector struct {
	mu      sync.Mutex
	got     []detect.Entry
	fail    func(detect.Entry) error
	calls   int
	arrived chan detect.Entry // if set, each accepted entry is sent here too
}

func (c *collector) emit(ctx context.Context, e detect.Entry) error {
	c.mu.Lock()
	c.calls++
	if c.fail != nil {
		if err := c.fail(e); err != nil {
			c.mu.Unlock()
			return err
		}
	}
	c.got = append(c.got, e)
	ch := c.arrived
	c.mu.Unlock()
	if ch != nil {
		select {
		case ch <- e:
		case <-ctx.Done():
		}
	}
	return nil
}

func (c *collector) entries() []detect.Entry {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]detect.Entry(nil), c.got...)
}

func (c *collector) titles() []string {
	var t []string
	for _, e := range c.entries() {
		t = append(t, e.Title)
	}
	return t
}

// clock is an injected clock that moves a second each time it is read.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(time.Second)
	return c.t
}

// running is a started Source.
type running struct {
	s    *Source
	c    *collector
	stop func()
}

// start runs a source on a free loopback port until the test ends.
func start(t testing.TB, cfg Config, c *collector, tune ...func(*Source)) *running {
	t.Helper()
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:0"
	}
	s := New(cfg)
	for _, f := range tune {
		f(s)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx, c.emit) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run: %v", err)
				}
			case <-time.After(10 * time.Second):
				t.Error("Run did not return after cancel")
			}
		})
	}
	t.Cleanup(stop)
	testenv.Eventually(t, 10*time.Second, "the source listens", func() bool { return s.Addr() != "" })
	return &running{s: s, c: c, stop: stop}
}

// traktorConn is a test client playing Traktor: it connects as an Icecast
// source and writes its stream in random-size pieces.
type traktorConn struct {
	t   testing.TB
	c   net.Conn
	rng *rand.Rand
}

const sourceRequest = "SOURCE /traktor.ogg HTTP/1.0\r\n" +
	"Authorization: Basic c291cmNlOmhhY2ttZQ==\r\n" + // source:hackme
	"Content-Type: application/ogg\r\n" +
	"ice-name: Friday Night Swing\r\n" +
	"ice-public: 0\r\n\r\n"

// dialStatus connects, sends request and returns the reply's status line.
func dialStatus(t testing.TB, addr, request string) (net.Conn, string) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := c.Write([]byte(request)); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		t.Fatalf("reading the reply: %v", err)
	}
	_ = c.SetReadDeadline(time.Time{})
	return c, strings.TrimSpace(line)
}

func connectTraktor(t testing.TB, addr string, seed uint64) *traktorConn {
	t.Helper()
	c, status := dialStatus(t, addr, sourceRequest)
	if status != "HTTP/1.0 200 OK" {
		t.Fatalf("reply %q, want 200 OK", status)
	}
	return &traktorConn{t: t, c: c, rng: rand.New(rand.NewPCG(seed, 7))}
}

// send writes b in random pieces of 1 to 700 bytes, a third of them 1 byte.
func (tc *traktorConn) send(b []byte) {
	tc.t.Helper()
	for len(b) > 0 {
		n := 1
		if tc.rng.IntN(3) > 0 {
			n = 1 + tc.rng.IntN(700)
		}
		n = min(n, len(b))
		if _, err := tc.c.Write(b[:n]); err != nil {
			tc.t.Fatalf("write: %v", err)
		}
		b = b[n:]
	}
}

// waitClosed waits until the server closes c.
func waitClosed(t testing.TB, c net.Conn) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 512)
	for {
		_, err := c.Read(buf)
		if err == nil {
			continue
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatal("the server did not close the connection")
		}
		return
	}
}

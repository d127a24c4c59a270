package engine

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pika-dj/pika/desktop/detect"
	"github.com/pika-dj/pika/desktop/detect/detecttest"
	"github.com/pika-dj/pika/internal/testenv"
)

// fakeUnit is an Engine DJ unit made of real sockets on loopback: it
// announces itself over UDP, answers a services request on its main TCP
// port and serves a StateMap that answers each subscription with the
// current value and pushes every later change, as units do.
type fakeUnit struct {
	t        testing.TB
	token    token
	name     string
	software string
	main, sm net.Listener

	mu       sync.Mutex
	values   map[string]string // path → JSON
	order    []string          // paths in the order they were first set
	conns    []net.Conn        // open TCP connections (main and StateMap)
	subbed   map[net.Conn][]string
	announce *net.UDPAddr       // where it announces; nil = silent
	stopAnn  context.CancelFunc // stops the announcer
	wg       sync.WaitGroup
	garbage  bool         // answer the services request with junk
	active   atomic.Int32 // connections being served
}

func newFakeUnit(t testing.TB, name, software string) *fakeUnit {
	t.Helper()
	u := &fakeUnit{t: t, name: name, software: software, values: map[string]string{}, subbed: map[net.Conn][]string{}}
	copy(u.token[:], name+"-token-0123456789")
	u.token[0] &= 0x7f
	var err error
	if u.main, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	if u.sm, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	u.wg.Add(2)
	go u.accept(u.main, u.serveMain)
	go u.accept(u.sm, u.serveStateMap)
	t.Cleanup(u.close)
	return u
}

func (u *fakeUnit) close() {
	u.stopAnnouncing()
	u.main.Close()
	u.sm.Close()
	u.drop()
	u.wg.Wait()
}

func (u *fakeUnit) accept(l net.Listener, serve func(net.Conn)) {
	defer u.wg.Done()
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		u.mu.Lock()
		u.conns = append(u.conns, c)
		u.mu.Unlock()
		u.wg.Add(1)
		u.active.Add(1)
		go func() {
			defer u.wg.Done()
			defer u.active.Add(-1)
			defer c.Close()
			serve(c)
		}()
	}
}

// drop closes every TCP connection, as a unit does when it reboots or its
// cable is pulled; it keeps listening.
func (u *fakeUnit) drop() {
	u.mu.Lock()
	defer u.mu.Unlock()
	for _, c := range u.conns {
		c.Close()
	}
	u.conns = nil
	u.subbed = map[net.Conn][]string{}
}

// connections counts TCP connections the client has not closed.
func (u *fakeUnit) connections() int { return int(u.active.Load()) }

func (u *fakeUnit) serveMain(c net.Conn) {
	r := bufio.NewReader(c)
	m, err := readMainMessage(r)
	if err != nil || m.ID != msgServicesRequest {
		return
	}
	if u.garbage {
		_, _ = c.Write([]byte("HTTP/1.1 400 Bad Request\r\n\r\n"))
		return
	}
	var b bytes.Buffer
	for _, svc := range []struct {
		name string
		port int
	}{{"StateMap", u.sm.Addr().(*net.TCPAddr).Port}, {"BeatInfo", 1}} {
		_ = binary.Write(&b, binary.BigEndian, uint32(msgServiceAnnouncement))
		b.Write(u.token[:])
		writeNetString(&b, svc.name)
		_ = binary.Write(&b, binary.BigEndian, uint16(svc.port))
	}
	b.Write(reference(u.token, m.Token))
	if _, err := c.Write(b.Bytes()); err != nil {
		return
	}
	for { // the client's keep-alives
		if _, err := readMainMessage(r); err != nil {
			return
		}
	}
}

// serveStateMap reads the client's StateMap messages: its service
// announcement, then subscriptions.
func (u *fakeUnit) serveStateMap(c net.Conn) {
	r := bufio.NewReader(c)
	for {
		head, err := r.Peek(4)
		if err != nil {
			return
		}
		if binary.BigEndian.Uint32(head) == msgServiceAnnouncement {
			if _, err := readMainMessage(r); err != nil {
				return
			}
			continue
		}
		var n uint32
		_ = binary.Read(r, binary.BigEndian, &n)
		if n > 1<<16 {
			return
		}
		msg := make([]byte, n)
		if _, err := io.ReadFull(r, msg); err != nil || !bytes.HasPrefix(msg, []byte("smaa")) || len(msg) < 8 {
			return
		}
		if binary.BigEndian.Uint32(msg[4:]) != 0x7d2 { // not a subscription
			continue
		}
		path, err := readNetString(bytes.NewReader(msg[8:]))
		if err != nil {
			return
		}
		u.mu.Lock()
		u.subbed[c] = append(u.subbed[c], path)
		js, ok := u.values[path]
		u.mu.Unlock()
		if ok {
			_, _ = c.Write(stateEmit(path, js))
		}
	}
}

// stateEmit is a StateMap value message: length, "smaa", 0, the path and
// the JSON value as StagelinQ strings.
func stateEmit(path, js string) []byte {
	var body bytes.Buffer
	body.WriteString("smaa")
	body.Write([]byte{0, 0, 0, 0})
	writeNetString(&body, path)
	writeNetString(&body, js)
	return append(binary.BigEndian.AppendUint32(nil, uint32(body.Len())), body.Bytes()...)
}

// set changes values (path, JSON, path, JSON…) and pushes them to every
// subscriber, in order.
func (u *fakeUnit) set(kv ...string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	for i := 0; i+1 < len(kv); i += 2 {
		path, js := kv[i], kv[i+1]
		if _, ok := u.values[path]; !ok {
			u.order = append(u.order, path)
		}
		u.values[path] = js
		for c, subs := range u.subbed {
			if slices.Contains(subs, path) {
				_, _ = c.Write(stateEmit(path, js))
			}
		}
	}
}

// Value JSON as units send it.
func str(s string) string          { return fmt.Sprintf(`{"string":%q,"type":8}`, s) }
func num(f float64) string         { return fmt.Sprintf(`{"type":0,"value":%g}`, f) }
func state(b bool) string          { return fmt.Sprintf(`{"state":%t,"type":1}`, b) }
func dp(n int, leaf string) string { return deckPath(n, leaf) }

// loadTrack sets what a unit sends when a track is loaded on deck n.
func (u *fakeUnit) loadTrack(n int, artist, title string) {
	u.set(
		dp(n, deckSongLoaded), state(false),
		dp(n, deckNetworkPath), str("net://"+u.name+"/USB 1 (sda1)/Engine Library/Music/"+artist+" - "+title+".mp3"),
		dp(n, deckArtist), str(artist),
		dp(n, deckTitle), str(title),
		dp(n, deckBPM), num(101.5),
		dp(n, deckTrackBPM), num(100),
		dp(n, deckKeyIndex), num(2),
		dp(n, deckLength), num(215.3),
		dp(n, deckSongLoaded), state(true),
	)
}

// announceTo starts announcing the unit to addr every 100 ms.
func (u *fakeUnit) announceTo(addr *net.UDPAddr) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.stopAnn != nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	u.stopAnn, u.announce = cancel, addr
	a := announcement{Token: u.token, Name: u.name, Action: actionHowdy, Software: u.software, Version: "4.1.0",
		Port: uint16(u.main.Addr().(*net.TCPAddr).Port)}
	pkt := a.encode()
	u.wg.Add(1)
	go func() {
		defer u.wg.Done()
		c, err := net.DialUDP("udp4", nil, addr)
		if err != nil {
			u.t.Errorf("announce: %v", err)
			return
		}
		defer c.Close()
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			_, _ = c.Write(pkt)
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
}

func (u *fakeUnit) stopAnnouncing() {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.stopAnn != nil {
		u.stopAnn()
		u.stopAnn = nil
	}
}

// leave announces the unit leaving the network and stops announcing.
func (u *fakeUnit) leave() {
	u.stopAnnouncing()
	a := announcement{Token: u.token, Name: u.name, Action: actionExit, Software: u.software, Version: "4.1.0"}
	c, err := net.DialUDP("udp4", nil, u.announce)
	if err != nil {
		u.t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write(a.encode()); err != nil {
		u.t.Fatal(err)
	}
}

// harness runs a Source on a loopback port with a fake clock and collects
// what it emits.
type harness struct {
	src      *Source
	clock    *detecttest.Clock
	addr     *net.UDPAddr
	out      *detecttest.Emitted
	failNext atomic.Int32 // refuse this many emits
}

const testMinAudible = 300 * time.Millisecond

func start(t testing.TB, cfg Config) *harness {
	t.Helper()
	h := &harness{clock: detecttest.NewClock(time.Date(2026, 8, 14, 21, 30, 0, 0, time.UTC))}
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:0"
	}
	cfg.Now = h.clock.Now
	if cfg.Policy.MinAudible == 0 {
		cfg.Policy.MinAudible = testMinAudible
	}
	cfg.ReadEvery = 5 * time.Millisecond
	cfg.Retry = 50 * time.Millisecond
	if cfg.ExpireAfter == 0 {
		cfg.ExpireAfter = time.Second
	}
	if cfg.AnnounceTo == nil {
		cfg.AnnounceTo = func() []*net.UDPAddr { return nil }
	}
	listening := make(chan net.Addr, 1)
	cfg.onListen = func(a net.Addr) { listening <- a }
	src, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	h.src = src
	h.out = detecttest.RunSourceRefusing(t, src, func(detect.Entry) error {
		if h.failNext.Load() > 0 {
			h.failNext.Add(-1)
			return errors.New("the app is busy")
		}
		return nil
	})
	select {
	case a := <-listening:
		h.addr = a.(*net.UDPAddr)
	case <-time.After(10 * time.Second):
		t.Fatalf("the source never listened: %+v", src.Status())
	}
	return h
}

// settle waits until decks show what cond wants, then for two more looks at
// the decks, so the Decider has seen that state at the clock's time.
func (h *harness) settle(t testing.TB, what string, cond func([]detect.Deck) bool) {
	t.Helper()
	testenv.Eventually(t, 10*time.Second, what, func() bool { return cond(h.src.decks()) })
	h.looked(t)
}

// looked waits for two more looks at the decks.
func (h *harness) looked(t testing.TB) {
	t.Helper()
	n := h.src.observed.Load()
	testenv.Eventually(t, 10*time.Second, "two more looks at the decks", func() bool { return h.src.observed.Load() >= n+2 })
}

// wait advances the clock by d and lets the source look at the decks.
func (h *harness) wait(t testing.TB, d time.Duration) {
	t.Helper()
	h.clock.Advance(d)
	h.looked(t)
}

func (h *harness) wantTitles(t testing.TB, want ...string) {
	t.Helper()
	var got []string
	for _, e := range h.out.Entries() {
		got = append(got, e.Deck+": "+e.Title)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("emitted %q, want %q", got, want)
	}
}

// deck finds deck name in decks.
func deck(decks []detect.Deck, name string) (detect.Deck, bool) {
	for _, d := range decks {
		if d.Deck == name {
			return d, true
		}
	}
	return detect.Deck{}, false
}

// deckIs is a settle condition: deck name is loaded with title, playing
// as given, at level.
func deckIs(name, title string, playing bool, level float64) func([]detect.Deck) bool {
	return func(ds []detect.Deck) bool {
		d, ok := deck(ds, name)
		return ok && d.Entry.Title == title && d.Playing == playing && d.Level > level-1e-9 && d.Level < level+1e-9
	}
}

// goroutines waits until the goroutine count is back to before.
func goroutinesBackTo(t testing.TB, before int) {
	t.Helper()
	testenv.Eventually(t, 10*time.Second, "goroutines gone", func() bool { return runtime.NumGoroutine() <= before })
}

package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/fasthttp/websocket"
	gws "github.com/gorilla/websocket"
	"github.com/valyala/fasthttp"

	"github.com/pika-dj/pika/bus"
)

// Hot-path benchmarks. Sockets are real: a fasthttp server upgrades with
// the gateway's own upgrader over loopback and gorilla clients dial it, so
// enqueue and the writers work on the websocket.Conn they get in
// production. Run: go test -run '^$' -bench . -benchmem ./gateway/

// wsPair is one socket: the server's end and the phone's.
type wsPair struct {
	srv *websocket.Conn
	cli *gws.Conn
}

// loopbackSockets opens n sockets. The server ends live until the
// benchmark ends (fasthttp recycles a socket when its handler returns).
func loopbackSockets(tb testing.TB, n int) []wsPair {
	tb.Helper()
	up := newUpgrader()
	got := make(chan *websocket.Conn, n)
	done := make(chan struct{})
	srv := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		_ = up.Upgrade(ctx, func(ws *websocket.Conn) {
			got <- ws
			<-done
		})
	}, ReduceMemoryUsage: true}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	url := "ws://" + ln.Addr().String() + "/ws"
	dialer := gws.Dialer{ReadBufferSize: 1024, WriteBufferSize: 512, HandshakeTimeout: 10 * time.Second}
	pairs := make([]wsPair, n)
	for i := range pairs {
		cli, _, err := dialer.Dial(url, nil)
		if err != nil {
			tb.Fatalf("socket %d: %v", i, err)
		}
		pairs[i] = wsPair{srv: <-got, cli: cli}
	}
	tb.Cleanup(func() {
		close(done)
		for _, p := range pairs {
			_ = p.cli.Close()
		}
		_ = ln.Close()
	})
	return pairs
}

// benchHub is a hub with its own writer pool, not started: the caller
// runs writers or empties the work channel itself.
func benchHub(tb testing.TB, sockets int) *hub {
	ctx, cancel := context.WithCancel(context.Background())
	tb.Cleanup(cancel)
	return &hub{log: slog.New(slog.DiscardHandler), now: time.Now, ringLen: 256, grace: bus.ListenerGrace,
		writers: newWriters(sockets+1024, 5*time.Second), ctx: ctx, feeds: map[string]*feed{}}
}

// benchSession is a feed for a started session, as the hub builds it.
type benchSession struct {
	h   *hub
	f   *feed
	dj  string
	seq uint64
}

func newBenchSession(h *hub) *benchSession {
	sid := bus.NewID(time.Now())
	f := &feed{sid: sid, ready: make(chan struct{}), conns: map[*conn]struct{}{},
		listeners: map[string]*listener{}, idleSince: time.Now(), crowd: bus.NewCrowd(),
		playIdx: map[string]int{}, withheld: map[string]struct{}{}}
	close(f.ready)
	s := &benchSession{h: h, f: f, dj: bus.NewDJID()}
	s.deliver(s.event(bus.TypeSessionStarted, func(e *bus.Event) { e.Started = &bus.SessionStarted{DJName: "DJ Bench"} }))
	return s
}

// event is the session's next event and its stored bytes.
func (s *benchSession) event(typ bus.Type, fill func(*bus.Event)) (bus.Event, []byte) {
	s.seq++
	now := time.Now().UTC()
	e := bus.Event{V: bus.Version, ID: bus.NewID(now), Type: typ, Session: s.f.sid, Seq: s.seq, At: now, DJ: s.dj}
	if fill != nil {
		fill(&e)
	}
	raw, err := bus.Encode(e)
	if err != nil {
		panic(err)
	}
	return e, raw
}

// play is a track.played of a realistic size (about 400 bytes stored).
func (s *benchSession) play(i int) (bus.Event, []byte) {
	return s.event(bus.TypeTrackPlayed, func(e *bus.Event) {
		tr := bus.NewTrack(fmt.Sprintf("Orquesta Típica %d", i%17), fmt.Sprintf("Milonga de mis amores, take %d", i))
		tr.BPM = 118
		tr.Album = "Grabaciones completas, volumen 3"
		e.Play = &bus.Play{Track: tr, Source: "virtualdj", SourceKey: fmt.Sprintf("vdj-%d", i)}
	})
}

func (s *benchSession) deliver(e bus.Event, raw []byte) { s.h.deliver(s.f, e, raw) }

// attach subscribes conns for the pairs' server ends.
func (s *benchSession) attach(pairs []wsPair) []*conn {
	conns := make([]*conn, len(pairs))
	for i, p := range pairs {
		conns[i] = newConn(p.srv, 64, "127.0.0.1")
		s.f.conns[conns[i]] = struct{}{}
	}
	return conns
}

// resetQueues empties what enqueue left for writers that never ran.
func resetQueues(h *hub, conns []*conn) {
	for _, c := range conns {
		c.mu.Lock()
		clear(c.queue)
		c.head, c.n, c.scheduled = 0, 0, false
		c.mu.Unlock()
	}
	for len(h.writers.work) > 0 {
		<-h.writers.work
	}
}

var benchSizes = []int{100, 1000, 5000}

// BenchmarkBroadcastEnqueue is what a feed does when a track is played:
// fold the stored event, keep it in the resume ring, encode the frame once
// (PreparedMessage) and enqueue it on every subscribed socket, handing each
// to the writer pool. The writes themselves are BenchmarkBroadcastFanout.
func BenchmarkBroadcastEnqueue(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("sockets=%d", n), func(b *testing.B) {
			pairs := loopbackSockets(b, n)
			h := benchHub(b, n)
			s := newBenchSession(h)
			conns := s.attach(pairs)
			const batch = 32 // fewer than a queue holds
			type ev struct {
				e   bus.Event
				raw []byte
			}
			evs := make([]ev, 0, batch)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if i%batch == 0 {
					b.StopTimer()
					resetQueues(h, conns)
					if len(s.f.plays) >= 200 { // a long night, not an endless one
						s.f.plays, s.f.playIdx, s.f.crowd = nil, map[string]int{}, bus.NewCrowd()
					}
					evs = evs[:0]
					for j := range batch {
						e, raw := s.play(i + j)
						evs = append(evs, ev{e, raw})
					}
					b.StartTimer()
				}
				x := evs[i%batch]
				s.deliver(x.e, x.raw)
			}
		})
	}
}

// BenchmarkBroadcastFanout is a play reaching every phone: deliver as
// above, then the writer pool (2 × GOMAXPROCS, as in production) writes the
// frame to every socket, until every phone has read it. The phones are
// gorilla readers in this process on the same cores, and on loopback the
// kernel charges their receive work to the writes, so this is an upper
// bound of the server's fan-out time (gateway-fanout.md).
func BenchmarkBroadcastFanout(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("sockets=%d", n), func(b *testing.B) {
			pairs := loopbackSockets(b, n)
			h := benchHub(b, n)
			for range 4 {
				go h.writers.run(h.ctx)
			}
			s := newBenchSession(h)
			s.attach(pairs)
			var got sync.WaitGroup
			for _, p := range pairs {
				go func() {
					for {
						_, r, err := p.cli.NextReader()
						if err != nil {
							return
						}
						_, _ = io.Copy(io.Discard, r)
						got.Done()
					}
				}()
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				if len(s.f.plays) >= 200 {
					s.f.plays, s.f.playIdx, s.f.crowd = nil, map[string]int{}, bus.NewCrowd()
				}
				e, raw := s.play(i)
				got.Add(n)
				b.StartTimer()
				s.deliver(e, raw)
				got.Wait()
			}
		})
	}
}

// BenchmarkParseFrame decodes what phones send most.
func BenchmarkParseFrame(b *testing.B) {
	sid, play := bus.NewID(time.Now()), bus.NewID(time.Now())
	frames := map[string]string{
		"subscribe": `{"type":"subscribe","ref":"s1","sessionId":"` + sid + `","clientId":"c-3f9a2b7e41d04c5e","lastSeq":41}`,
		"like":      `{"type":"like","ref":17,"id":"` + bus.NewID(time.Now()) + `","playId":"` + play + `"}`,
		"ping":      `{"type":"ping","ref":18}`,
	}
	for _, name := range []string{"subscribe", "like", "ping"} {
		data := []byte(frames[name])
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(data)))
			for i := 0; i < b.N; i++ {
				f, _, rj := parseFrame(websocket.TextMessage, data)
				if rj != nil || f.Type != name {
					b.Fatalf("%s: %+v %v", name, f, rj)
				}
			}
		})
	}
}

// BenchmarkSnapshot is hub.subscribe for a session of 200 plays with an
// open poll and a tally: the snapshot is assembled under the feed's lock,
// encoded and queued. "resume" adds the last 10 events from the ring, as
// for a phone reconnecting with its lastSeq.
func BenchmarkSnapshot(b *testing.B) {
	pairs := loopbackSockets(b, 1)
	h := benchHub(b, 1)
	s := newBenchSession(h)
	var plays []string
	for i := range 200 {
		e, raw := s.play(i)
		s.deliver(e, raw)
		plays = append(plays, e.ID)
	}
	pollID := bus.NewID(time.Now())
	s.deliver(s.event(bus.TypePollStarted, func(e *bus.Event) {
		e.Poll = &bus.Poll{ID: pollID, Question: "Next tanda?", Options: []string{"Di Sarli", "D'Arienzo", "Pugliese", "Troilo"}}
	}))
	const client = "c-3f9a2b7e41d04c5e"
	now := time.Now().UTC()
	for i, p := range plays[len(plays)-20:] {
		s.f.crowd.Apply(bus.Action{V: bus.Version, ID: bus.NewID(now), Kind: bus.ActLike, Session: s.f.sid, Client: client, At: now, PlayID: p})
		s.f.crowd.Apply(bus.Action{V: bus.Version, ID: bus.NewID(now), Kind: bus.ActLike, Session: s.f.sid, Client: fmt.Sprintf("c-other-%08d", i), At: now, PlayID: p})
	}
	opt := 2
	s.f.crowd.Apply(bus.Action{V: bus.Version, ID: bus.NewID(now), Kind: bus.ActVote, Session: s.f.sid, Client: client, At: now, PollID: pollID, Option: &opt})
	tally, err := json.Marshal(s.f.crowd.Tally(s.f.sid, now, 180))
	if err != nil {
		b.Fatal(err)
	}
	s.f.tally, s.f.tallyAt, s.f.tallyN = tally, now, 180
	c := newConn(pairs[0].srv, 64, "127.0.0.1")
	conns := []*conn{c}

	for _, tc := range []struct {
		name    string
		lastSeq *uint64
	}{{"fresh", nil}, {"resume", func() *uint64 { v := s.seq - 10; return &v }()}} {
		b.Run(tc.name, func(b *testing.B) {
			resetQueues(h, conns)
			// The size phones download, for the record.
			if err := h.subscribe(s.f, c, client, tc.lastSeq); err != nil {
				b.Fatal(err)
			}
			b.Logf("snapshot frame: %d bytes", len(c.queue[c.head].data))
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if i%32 == 0 {
					b.StopTimer()
					resetQueues(h, conns)
					b.StartTimer()
				}
				if err := h.subscribe(s.f, c, client, tc.lastSeq); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestQueueGrowsToItsLimit: a socket's queue starts small and grows on
// demand, keeping order, up to QueueLen; one more item drops the socket
// as too slow.
func TestQueueGrowsToItsLimit(t *testing.T) {
	pairs := loopbackSockets(t, 1)
	c := newConn(pairs[0].srv, 64, "127.0.0.1")
	if len(c.queue) != initialQueue {
		t.Fatalf("a new socket's queue holds %d items, want %d", len(c.queue), initialQueue)
	}
	// Start the ring off index 0 so growing must unwrap it.
	c.enqueue(outItem{data: []byte("x")})
	c.enqueue(outItem{data: []byte("x")})
	c.head, c.n = (c.head+2)%len(c.queue), 0
	for i := range 64 {
		c.enqueue(outItem{data: []byte(fmt.Sprint(i))})
	}
	if c.killCode() != 0 || c.n != 64 || len(c.queue) != 64 {
		t.Fatalf("after 64 items: kill %d, n %d, ring %d", c.killCode(), c.n, len(c.queue))
	}
	for i := range c.n {
		if got := string(c.queue[(c.head+i)%len(c.queue)].data); got != fmt.Sprint(i) {
			t.Fatalf("item %d is %q: the queue lost its order as it grew", i, got)
		}
	}
	c.enqueue(outItem{data: []byte("one too many")})
	if c.killCode() != closeTooSlow {
		t.Fatalf("65th item: kill %d, want %d", c.killCode(), closeTooSlow)
	}
}

package gateway

import (
	"context"
	"math"
	"sync"
	"time"

	"github.com/fasthttp/websocket"
)

// outItem is one thing queued for a socket: a broadcast encoded once for
// everyone (pm), a frame for this socket alone (data), or a ping.
type outItem struct {
	pm   *websocket.PreparedMessage
	pmN  int // the prepared message's payload size
	data []byte
	ping bool
}

// size is about how many bytes the item puts on the wire.
func (it outItem) size() int {
	if it.pm != nil {
		return it.pmN + 14 // the largest WebSocket header
	}
	return len(it.data) + 14
}

// conn is one dancer's socket.
//
// Lifetime: the socket's own goroutine (serveWS) owns ws for reading and
// decides when the socket ends. Everyone else touches it only under mu and
// only while closed is false; serveWS sets closed under mu and then takes
// writeMu once, so after it returns no writer can still be using ws (the
// websocket and the hijacked connection are recycled by fasthttp then).
type conn struct {
	ws      *websocket.Conn
	writeMu sync.Mutex // held by the one writer of ws at a time
	sendBuf int        // the kernel send buffer's size, once read; only the holder of writeMu touches it
	roomEst int        // bytes the send buffer surely still takes (see writers.fits); writeMu too

	mu        sync.Mutex // guards the fields below
	queue     []outItem  // ring of len(queue), grown on demand up to maxQueue
	head, n   int
	maxQueue  int  // most items queued before the socket is too slow
	scheduled bool // on the writer pool's work channel or being drained
	closed    bool // serveWS has ended or is ending: write nothing more
	kill      int  // close code requested by someone other than serveWS

	// Owned by serveWS and the frame handlers it runs one at a time.
	feed     *feed
	clientID string
	dj       bool // subscribed with the DJ secret; set before the socket joins a feed
	limit    rateLimit
	ip       string
}

// initialQueue is the ring a socket starts with. An idle socket holds at
// most a broadcast or two, so allocating the full queue (64 items of 40
// bytes) up front cost 2.5 KB per socket for nothing: TestIdleSocketMemory
// measured the heap per idle socket at 11.0 KB with it and 8.4 KB without.
const initialQueue = 4

func newConn(ws *websocket.Conn, queueLen int, ip string) *conn {
	return &conn{ws: ws, queue: make([]outItem, min(initialQueue, queueLen)), maxQueue: queueLen, ip: ip}
}

// enqueue queues one item. A full queue means the phone is not reading fast
// enough: rather than wait for it (slowing everyone) or drop frames silently
// (leaving a gap it cannot see), the socket is closed with closeTooSlow and
// the phone resumes from its lastSeq. It reports whether the conn must be
// handed to a writer.
func (c *conn) enqueue(it outItem) (schedule bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed || c.kill != 0 {
		return false
	}
	if c.n == len(c.queue) {
		if c.n >= c.maxQueue {
			c.killLocked(closeTooSlow)
			return false
		}
		c.growLocked()
	}
	c.queue[(c.head+c.n)%len(c.queue)] = it
	c.n++
	if c.scheduled {
		return false
	}
	c.scheduled = true
	return true
}

// growLocked doubles the ring, up to maxQueue, keeping the queued items in
// order from index 0. c.mu must be held.
func (c *conn) growLocked() {
	q := make([]outItem, min(2*len(c.queue), c.maxQueue))
	for i := 0; i < c.n; i++ {
		q[i] = c.queue[(c.head+i)%len(c.queue)]
	}
	c.queue, c.head = q, 0
}

// roomy reports whether c's queue is at most half full. Replies to a flood
// are sent only then: a client that floods without reading would otherwise
// overflow its queue and be closed as "too slow" instead of for flooding.
func (c *conn) roomy() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n <= c.maxQueue/2
}

// killLocked asks serveWS to end the socket with code: it wakes its read by
// expiring the read deadline. c.mu must be held and c.closed false.
func (c *conn) killLocked(code int) {
	if c.kill != 0 {
		return
	}
	c.kill = code
	c.n = 0
	_ = c.ws.SetReadDeadline(time.Now())
	// A writer blocked on this socket (a phone that stopped reading) is
	// released now, not at its deadline. The net.Conn's setter is safe to
	// call while another goroutine writes; the websocket's is not.
	_ = c.ws.NetConn().SetWriteDeadline(time.Now())
}

// requestClose is killLocked for callers that do not hold c.mu.
func (c *conn) requestClose(code int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.closed {
		c.killLocked(code)
	}
}

// finish marks the socket closed and waits until no writer is using it.
// With flush, what is still queued is written first (within a second), so
// the last replies reach the phone before the close frame. Only serveWS
// calls it, just before it returns.
func (c *conn) finish(flush bool) {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	c.mu.Lock()
	var rest []outItem
	if flush {
		for i := 0; i < c.n; i++ {
			rest = append(rest, c.queue[(c.head+i)%len(c.queue)])
		}
	}
	c.closed = true
	c.n = 0
	c.mu.Unlock()
	deadline := time.Now().Add(time.Second)
	for _, it := range rest {
		if writeItem(c, it, deadline) != nil {
			return
		}
	}
}

// writers is the shared pool that drains sockets' queues. A shared writer
// never waits on a phone that stopped reading: when the next frame would
// not fit in what the socket's kernel buffer can still take (sendRoom), the
// socket goes to a slow lane of its own goroutine, which waits for it up to
// the write timeout, while the shared writers go on with everyone else.
// Without that, a few stuck phones held every shared writer for the whole
// timeout and everyone's tracks waited (pika-load --slow 10%: others' p99
// 1.46 s).
type writers struct {
	work         chan *conn
	writeTimeout time.Duration
	slowLane     chan struct{} // one token per socket being written on the slow lane
}

// maxSlowLane bounds the sockets waited on at once in the slow lane; a
// socket that would block when it is full is closed as too slow at once.
const maxSlowLane = 1024

func newWriters(queued int, writeTimeout time.Duration) *writers {
	return &writers{work: make(chan *conn, queued), writeTimeout: writeTimeout, slowLane: make(chan struct{}, maxSlowLane)}
}

// run is one writer; the pool is n of these. They stop when ctx ends.
func (w *writers) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case c := <-w.work:
			w.drain(c)
		}
	}
}

// schedule hands c to a writer. The work channel is sized for every socket
// the process can hold, so this does not block in practice.
func (w *writers) schedule(ctx context.Context, c *conn) {
	select {
	case w.work <- c:
	case <-ctx.Done():
	}
}

// drain writes c's queue until it is empty, holding writeMu so only one
// goroutine ever writes to the socket.
func (w *writers) drain(c *conn) {
	c.writeMu.Lock()
	if w.drainQueue(c, false) {
		return // the slow lane holds writeMu now, and unlocks it
	}
	c.writeMu.Unlock()
}

// drainQueue writes c's queued items; the caller holds c.writeMu. On a
// shared writer (slow false), an item that would block is handed with
// writeMu to a slow-lane goroutine, and drainQueue reports true.
func (w *writers) drainQueue(c *conn, slow bool) (handedOff bool) {
	for {
		c.mu.Lock()
		if c.closed || c.kill != 0 || c.n == 0 {
			c.scheduled = false
			c.mu.Unlock()
			return false
		}
		it := c.queue[c.head]
		c.queue[c.head] = outItem{}
		c.head = (c.head + 1) % len(c.queue)
		c.n--
		c.mu.Unlock()

		if !slow && !it.ping && !w.fits(c, it.size()) {
			select {
			case w.slowLane <- struct{}{}:
				go w.writeSlow(c, it)
				return true
			default:
				w.fail(c) // too many phones stuck at once: this one goes now
				return false
			}
		}
		if err := writeItem(c, it, time.Now().Add(w.writeTimeout)); err != nil {
			w.fail(c)
			return false
		}
	}
}

// fits reports whether n more bytes go into c's kernel send buffer without
// blocking. It asks the kernel only when its estimate runs short: the room
// it saw, less what was written since, can only be less than the truth
// (acknowledged bytes free room, nothing else takes it), and asking on
// every write cost 15 % of the server's CPU in a 10,000-phone fan-out.
// The caller holds c.writeMu.
func (w *writers) fits(c *conn, n int) bool {
	if c.roomEst < n {
		room, ok := sendRoom(c.ws.NetConn(), &c.sendBuf)
		if !ok {
			room = math.MaxInt / 2 // cannot ask here: never the slow lane
		}
		c.roomEst = room
	}
	if c.roomEst < n {
		return false
	}
	c.roomEst -= n
	return true
}

// writeSlow writes it and the rest of c's queue, waiting on the socket as
// long as the write timeout allows, then gives back writeMu and its token.
func (w *writers) writeSlow(c *conn, it outItem) {
	defer func() { <-w.slowLane }()
	defer c.writeMu.Unlock()
	defer func() { c.roomEst = 0 }() // unknown after waiting: ask the kernel next time
	if err := writeItem(c, it, time.Now().Add(w.writeTimeout)); err != nil {
		w.fail(c)
		return
	}
	w.drainQueue(c, true)
}

// fail ends a socket that is broken or stuck. Its read fails and serveWS
// cleans up.
func (w *writers) fail(c *conn) {
	c.mu.Lock()
	if !c.closed {
		c.killLocked(closeTooSlow)
	}
	c.scheduled = false
	c.mu.Unlock()
}

// writeItem writes one queued item. The caller holds c.writeMu.
func writeItem(c *conn, it outItem, deadline time.Time) error {
	switch {
	case it.ping:
		return c.ws.WriteControl(websocket.PingMessage, nil, deadline)
	case it.pm != nil:
		_ = c.ws.SetWriteDeadline(deadline)
		return c.ws.WritePreparedMessage(it.pm)
	default:
		_ = c.ws.SetWriteDeadline(deadline)
		return c.ws.WriteMessage(websocket.TextMessage, it.data)
	}
}

// rateLimit is a token bucket: rate per second, up to burst at once.
type rateLimit struct {
	tokens float64
	last   time.Time
	over   int // frames refused in a row
}

func (r *rateLimit) allow(now time.Time, rate, burst float64) bool {
	if r.last.IsZero() {
		r.tokens = burst
	} else {
		r.tokens = min(burst, r.tokens+now.Sub(r.last).Seconds()*rate)
	}
	r.last = now
	if r.tokens < 1 {
		r.over++
		return false
	}
	r.tokens--
	r.over = 0
	return true
}

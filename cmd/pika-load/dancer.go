package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gorilla/websocket"
)

// dancer is one phone: a real WebSocket and one goroutine reading it.
type dancer struct {
	idx     int
	sid     string // the session it follows
	client  string
	group   int // 0: the crowd under test; 1: the foreign group (another session)
	slow    bool
	ws      *websocket.Conn
	wmu     sync.Mutex // one writer at a time (gorilla allows one)
	done    chan struct{}
	paused  atomic.Bool   // a slow phone that stopped reading
	resume  chan struct{} // closed to make a paused phone read again
	lastSeq atomic.Uint64
	haveSeq atomic.Bool
	snapAt  atomic.Int64 // unix ns of the latest snapshot
	subAt   atomic.Int64 // unix ns the latest subscribe was sent
	closeBy atomic.Int32 // close code the server sent; -1: the connection ended without one
}

// crowd is the shared record every reader writes into, lock-free on the
// hot path.
type crowd struct {
	dancers  []*dancer
	recv     [][]atomic.Int64 // [track][dancer] unix ns of the first track.played frame
	dups     []atomic.Int64   // [track] track frames beyond the first at one phone
	playIDs  []atomic.Value   // [track] the play's event id (for likes)
	snaps    atomic.Int64
	foreign  atomic.Int64 // frames carrying another session's id
	leaks    atomic.Int64 // track frames that reached the foreign group
	frames   atomic.Int64
	readers  atomic.Int64 // live reader goroutines (the generator's own)
	subErrs  atomic.Int64
	actOK    atomic.Int64
	actOKBy  [5]atomic.Int64 // ok answers by ref a1…a4 (the actions phase's frames)
	actDup   atomic.Int64
	lastAns  atomic.Int64
	codesMu  sync.Mutex
	codes    map[string]int
	dialers  []*websocket.Dialer
	wsURL    string
	timeout  time.Duration
	ctx      context.Context
	slowRcvB int
}

func newCrowd(ctx context.Context, wsURL string, n, tracks, sources int, timeout time.Duration) *crowd {
	c := &crowd{ctx: ctx, wsURL: wsURL, timeout: timeout, codes: map[string]int{}, slowRcvB: 4096}
	c.recv = make([][]atomic.Int64, tracks)
	for k := range c.recv {
		c.recv[k] = make([]atomic.Int64, n)
	}
	c.dups = make([]atomic.Int64, tracks)
	c.playIDs = make([]atomic.Value, tracks)
	pool := &sync.Pool{}
	for s := range max(1, sources) {
		// 127.0.0.2, .3, …: each source address has its own ~28k ephemeral
		// ports, so the crowd can pass one address's limit.
		ip := net.IPv4(127, 0, byte((2+s)>>8), byte((2+s)&0xff))
		nd := &net.Dialer{LocalAddr: &net.TCPAddr{IP: ip}, Timeout: timeout}
		c.dialers = append(c.dialers, &websocket.Dialer{
			NetDialContext: nd.DialContext, HandshakeTimeout: timeout,
			ReadBufferSize: 2048, WriteBufferSize: 512, WriteBufferPool: pool,
		})
	}
	return c
}

// slowDialer is a dialer whose sockets have a small receive buffer, so a
// phone that stops reading fills up in seconds rather than megabytes.
func (c *crowd) slowDialer(i int) *websocket.Dialer {
	base := c.dialers[i%len(c.dialers)]
	nd := &net.Dialer{Timeout: c.timeout, Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, c.slowRcvB)
		})
		return errors.Join(err, serr)
	}}
	ip := net.IPv4(127, 0, 0, byte(2+i%len(c.dialers)))
	nd.LocalAddr = &net.TCPAddr{IP: ip}
	d := *base
	d.NetDialContext = nd.DialContext
	return &d
}

// connect dials one dancer and starts its reader.
func (c *crowd) connect(ctx context.Context, d *dancer) error {
	dl := c.dialers[d.idx%len(c.dialers)]
	if d.slow {
		dl = c.slowDialer(d.idx)
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	ws, resp, err := dl.DialContext(ctx, c.wsURL, nil)
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	if err != nil {
		return fmt.Errorf("dial: %w", err)
	}
	d.ws = ws
	d.done = make(chan struct{})
	d.resume = make(chan struct{})
	d.paused.Store(false)
	d.closeBy.Store(0)
	c.readers.Add(1)
	go c.read(d, ws, d.done, d.resume)
	return nil
}

// drop closes the socket as a phone that lost its network would, and waits
// for its reader.
func (d *dancer) drop() {
	if d.ws == nil {
		return
	}
	d.unpause()
	d.ws.Close()
	<-d.done
	d.ws = nil
}

// unpause makes a paused reader read again (once).
func (d *dancer) unpause() {
	if d.paused.CompareAndSwap(true, false) {
		close(d.resume)
	}
}

func (d *dancer) write(b []byte) error {
	d.wmu.Lock()
	defer d.wmu.Unlock()
	if d.ws == nil {
		return errors.New("not connected")
	}
	_ = d.ws.SetWriteDeadline(time.Now().Add(5 * time.Second))
	return d.ws.WriteMessage(websocket.TextMessage, b)
}

func (d *dancer) subscribe(withLastSeq bool) error {
	f := `{"type":"subscribe","ref":"s","sessionId":"` + d.sid + `","clientId":"` + d.client + `"`
	if withLastSeq && d.haveSeq.Load() {
		f += `,"lastSeq":` + strconv.FormatUint(d.lastSeq.Load(), 10)
	}
	d.subAt.Store(time.Now().UnixNano())
	return d.write([]byte(f + "}"))
}

// read is the dancer's only goroutine; closing ws ends it.
func (c *crowd) read(d *dancer, ws *websocket.Conn, done chan struct{}, resume chan struct{}) {
	defer close(done)
	defer c.readers.Add(-1)
	for {
		if d.paused.Load() {
			select {
			case <-resume:
			case <-c.ctx.Done():
				return
			}
		}
		_, data, err := ws.ReadMessage()
		if err != nil {
			var ce *websocket.CloseError
			if errors.As(err, &ce) {
				d.closeBy.Store(int32(ce.Code))
			} else {
				d.closeBy.CompareAndSwap(0, -1)
			}
			return
		}
		c.handle(d, data)
	}
}

func (c *crowd) handle(d *dancer, data []byte) {
	now := time.Now().UnixNano()
	c.frames.Add(1)
	typ := frameType(data)
	if sid := stringField(data, "sessionId"); sid != nil && string(sid) != d.sid {
		c.foreign.Add(1)
	}
	switch string(typ) {
	case "snapshot":
		if seq, ok := uintField(data, "seq"); ok {
			d.lastSeq.Store(seq)
			d.haveSeq.Store(true)
		}
		d.snapAt.Store(now)
		c.snaps.Add(1)
	case typeTrackPlayed:
		if seq, ok := uintField(data, "seq"); ok {
			d.lastSeq.Store(seq)
			d.haveSeq.Store(true)
		}
		k, ok := trackMarker(data)
		if !ok || k >= len(c.recv) {
			return
		}
		if d.group != 0 {
			c.leaks.Add(1)
			return
		}
		if !c.recv[k][d.idx].CompareAndSwap(0, now) {
			c.dups[k].Add(1)
		}
		if c.playIDs[k].Load() == nil {
			if id := stringField(data, "id"); id != nil {
				c.playIDs[k].CompareAndSwap(nil, string(id))
			}
		}
	case "ok", "error":
		ref := stringField(data, "ref")
		if len(ref) == 0 || ref[0] != 'a' {
			if string(typ) == "error" {
				c.subErrs.Add(1)
				c.count("subscribe:" + string(stringField(data, "code")))
			}
			return
		}
		c.lastAns.Store(now)
		if string(typ) == "ok" {
			c.actOK.Add(1)
			if len(ref) == 2 && ref[1] >= '1' && ref[1] <= '4' {
				c.actOKBy[ref[1]-'0'].Add(1)
			}
			if bytes.Contains(data, []byte(`"duplicate":true`)) {
				c.actDup.Add(1)
			}
			return
		}
		c.count(string(stringField(data, "code")))
	default:
		if seq, ok := uintField(data, "seq"); ok && string(typ) != "tally" {
			d.lastSeq.Store(seq)
			d.haveSeq.Store(true)
		}
	}
}

func (c *crowd) count(code string) {
	c.codesMu.Lock()
	c.codes[code]++
	c.codesMu.Unlock()
}

func (c *crowd) codeCounts() map[string]int {
	c.codesMu.Lock()
	defer c.codesMu.Unlock()
	out := make(map[string]int, len(c.codes))
	for k, v := range c.codes {
		out[k] = v
	}
	return out
}

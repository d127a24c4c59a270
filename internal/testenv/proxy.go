package testenv

import (
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// Proxy is a network link a test controls: a TCP proxy on loopback that
// forwards each connection to the next of its targets in turn. Cut closes
// every open connection and refuses new ones (accepts and closes them at
// once, as a dead uplink looks to a client that retries); Restore lets
// connections through again. It stops when the test ends.
type Proxy struct {
	l       net.Listener
	targets []string
	wg      sync.WaitGroup

	mu    sync.Mutex
	up    bool
	next  int
	conns map[net.Conn]struct{}
}

// StartProxy listens on 127.0.0.1 (a free port) and forwards to targets
// (host:port each).
func StartProxy(tb testing.TB, targets ...string) *Proxy {
	tb.Helper()
	if len(targets) == 0 {
		tb.Fatal("testenv: a proxy needs a target")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	p := &Proxy{l: l, targets: targets, up: true, conns: map[net.Conn]struct{}{}}
	p.wg.Add(1)
	go p.accept()
	tb.Cleanup(func() {
		l.Close()
		p.set(false)
		p.wg.Wait()
	})
	return p
}

// Retarget sends new connections to targets from now on (connections
// already open stay where they are): e.g. a link that comes back through
// another node.
func (p *Proxy) Retarget(targets ...string) {
	p.mu.Lock()
	p.targets, p.next = targets, 0
	p.mu.Unlock()
}

// Addr is the host:port clients dial instead of a target.
func (p *Proxy) Addr() string { return p.l.Addr().String() }

// Cut closes every connection through the proxy and refuses new ones.
func (p *Proxy) Cut() { p.set(false) }

// Restore lets connections through again.
func (p *Proxy) Restore() { p.set(true) }

func (p *Proxy) set(up bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.up = up
	if !up {
		for c := range p.conns {
			c.Close()
		}
	}
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.l.Accept()
		if err != nil {
			return // closed at the end of the test
		}
		p.mu.Lock()
		if !p.up {
			p.mu.Unlock()
			c.Close()
			continue
		}
		target := p.targets[p.next%len(p.targets)]
		p.next++
		p.conns[c] = struct{}{}
		p.wg.Add(1)
		p.mu.Unlock()
		go p.pipe(c, target)
	}
}

// pipe copies both ways until either side ends or the link is cut.
func (p *Proxy) pipe(c net.Conn, target string) {
	defer p.wg.Done()
	defer p.forget(c)
	u, err := net.DialTimeout("tcp", target, 5*time.Second)
	if err != nil {
		return
	}
	p.mu.Lock()
	if !p.up { // cut while dialing
		p.mu.Unlock()
		u.Close()
		return
	}
	p.conns[u] = struct{}{}
	p.mu.Unlock()
	defer p.forget(u)
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(u, c); done <- struct{}{} }()
	go func() { _, _ = io.Copy(c, u); done <- struct{}{} }()
	<-done // one side ended: closing both ends the other copy
	c.Close()
	u.Close()
	<-done
}

func (p *Proxy) forget(c net.Conn) {
	c.Close()
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
}

//go:build linux

package gateway

import (
	"context"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/pika-dj/pika/bus"
	"github.com/pika-dj/pika/internal/testenv"
)

// TestStuckPhoneDoesNotHoldTheWriters: with a single shared writer and a
// 20 s write timeout, a phone that stopped reading (its kernel buffers
// full) goes to the slow lane, and the other phone keeps getting tracks at
// once instead of after the stuck one's timeout.
func TestStuckPhoneDoesNotHoldTheWriters(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.Writers = 1; c.WriteTimeout = 20 * time.Second })
	sid := e.startSession("DJ")
	// Long titles make each snapshot ~25 KB, so a few fill the buffers.
	for i := range 50 {
		e.play(sid, strings.Repeat("Artist ", 40), strings.Repeat("Title ", 40)+string(rune('A'+i%26)))
	}
	fast := e.dial()
	fast.subscribe(sid, nil)

	// The stuck phone: a 4 KB receive buffer and no reader at all.
	d := websocket.Dialer{NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		nd := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
			var serr error
			err := rc.Control(func(fd uintptr) { serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
			if err != nil {
				return err
			}
			return serr
		}}
		return nd.DialContext(ctx, network, addr)
	}}
	stuck, _, err := d.Dial("ws"+strings.TrimPrefix(e.url, "http")+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer stuck.Close()
	// Ask for snapshots until the kernel buffer of the gateway's side of
	// this socket is full: its next write would block.
	testenv.Eventually(t, 20*time.Second, "the stuck phone's buffers full", func() bool {
		_ = stuck.SetWriteDeadline(time.Now().Add(time.Second))
		_ = stuck.WriteJSON(frame{"type": "subscribe", "sessionId": sid, "clientId": "c-stuck-phone"})
		time.Sleep(100 * time.Millisecond) // stay under the frame rate limit
		e.gw.mu.Lock()
		defer e.gw.mu.Unlock()
		for c := range e.gw.conns { // only the stuck phone's can be full
			var size int
			if room, ok := sendRoom(c.ws.NetConn(), &size); ok && room < 0 {
				return true
			}
		}
		return false
	})
	// While the stuck phone waits out its 20 s, the other phone is served
	// (a shared writer blocked on the stuck one would hold it 20 s).
	for i := range 3 {
		e.play(sid, "After", "Track "+string(rune('A'+i)))
		fast.expect(string(bus.TypeTrackPlayed))
	}
}

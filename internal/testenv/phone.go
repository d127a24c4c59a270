package testenv

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// Phone is a real WebSocket client of a gateway that keeps every JSON frame
// it receives, for tests that look for a frame among many.
type Phone struct {
	t  testing.TB
	WS *websocket.Conn

	mu     sync.Mutex // guards frames
	frames []map[string]any
	closed chan struct{} // closed when the socket's reading ends
}

// Dial connects a Phone to base (http://host:port) + /ws, closed when the
// test ends.
func Dial(t testing.TB, base string) *Phone {
	t.Helper()
	ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(base, "http")+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	p := &Phone{t: t, WS: ws, closed: make(chan struct{})}
	go func() { // ends when the socket closes
		defer close(p.closed)
		for {
			_, data, err := ws.ReadMessage()
			if err != nil {
				return
			}
			var f map[string]any
			if json.Unmarshal(data, &f) == nil {
				p.mu.Lock()
				p.frames = append(p.frames, f)
				p.mu.Unlock()
			}
		}
	}()
	t.Cleanup(func() { ws.Close() })
	return p
}

// Send writes one frame as JSON.
func (p *Phone) Send(f any) {
	p.t.Helper()
	if err := p.WS.WriteJSON(f); err != nil {
		p.t.Fatal(err)
	}
}

// Wait returns the first frame received so far or within d for which ok
// is true, failing the test with what after d.
func (p *Phone) Wait(d time.Duration, what string, ok func(map[string]any) bool) map[string]any {
	p.t.Helper()
	var found map[string]any
	Eventually(p.t, d, what, func() bool {
		for _, f := range p.Frames() {
			if ok(f) {
				found = f
				return true
			}
		}
		return false
	})
	return found
}

// Closed reports whether the socket has closed (by either side).
func (p *Phone) Closed() bool {
	select {
	case <-p.closed:
		return true
	default:
		return false
	}
}

// Frames returns the frames received so far.
func (p *Phone) Frames() []map[string]any {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]map[string]any(nil), p.frames...)
}

// Request sends one HTTP request, with a bearer token when bearer is set,
// and returns the status, headers and body.
func Request(t testing.TB, method, url, bearer string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, body
}

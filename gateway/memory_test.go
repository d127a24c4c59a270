//go:build !race

// The race detector multiplies stack and heap use, so these figures mean
// nothing under -race: scripts/test.sh runs this file in a step of its own,
// without it.

package gateway

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/pika-dj/pika/internal/testenv"
)

// Environment of the child process that plays the phones.
const (
	idleEnvURL     = "PIKA_IDLE_URL"
	idleEnvSession = "PIKA_IDLE_SESSION"
	idleEnvPlay    = "PIKA_IDLE_PLAY"
	idleEnvN       = "PIKA_IDLE_N"
)

// idleSockets is how many phones the test holds.
const idleSockets = 2000

// Bounds per idle socket, from runtime statistics after GC.
//
// Stack: the socket's goroutine measured 4 KB (gateway-fanout.md, and this
// test). Go grows a stack by doubling and keeps it until GC finds it less
// than a quarter used, so one deep call on the goroutine (json, fmt, a
// logger) makes it 8 KB for the life of the socket. 6 KB sits halfway: a
// 4 KB stack never reaches it, a doubled one always does.
//
// Heap: measured 7.4–8.2 KB per socket here (HeapInuse, so with span
// overhead; the heap profile accounts for about 6 KB of it): fasthttp's
// RequestCtx and parsed headers (about 2.6 KB, held by fasthttp's hijack
// goroutine until the socket ends), the websocket and its 256-byte read
// buffer, our conn and its 4-item queue, the dancer's listener, limiter and
// like, and about 1 KB the embedded NATS server keeps for the stored likes.
// 9.5 KB leaves 1.4 KB for noise (±0.4 KB run to run) and fails if the
// full 64-item queue (2.5 KB, 11.0 KB measured before it grew on demand),
// a 4 KB reader or a goroutine with its channel per socket comes back.
const (
	maxStackPerSocket = 6 << 10
	maxHeapPerSocket  = 9728 // 9.5 KB
)

// TestIdleSocketMemory holds 2,000 real WebSocket phones subscribed to a
// session, each having sent a subscribe, a ping and a like (so a deep call
// on the socket goroutine would have grown its stack), and measures the
// gateway's stack and heap per socket.
//
// The phones run in a child process (this test binary, running
// TestIdleSocketClients), so every byte and goroutine counted here is the
// server's: gorilla's buffers and reader goroutines would otherwise be
// counted as the gateway's. The heap figure includes what the embedded
// NATS server keeps for the 2,000 stored likes and the per-dancer state of
// the feed (listener, crowd), all real costs of an idle dancer.
func TestIdleSocketMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("holds 2,000 sockets")
	}
	e := newEnv(t, nil)
	sid := e.startSession("Memory")
	play := e.play(sid, "Idle Band", "Standing Still")

	// Warm up: the feed is loaded, the writers and the action path have run
	// once, so what follows is per socket, not per process.
	w := e.dial()
	w.subscribeAs("warmup-client-0001", sid, nil)
	w.send(frame{"type": "like", "ref": "w", "playId": play.ID})
	for f := w.expect("ok"); f.str("ref") != "w"; f = w.expect("ok") {
	}
	_ = w.ws.Close()
	testenv.Eventually(t, 5*time.Second, "warm-up socket closed", func() bool { return e.gw.Sockets() == 0 })

	before, goBefore := settledMemStats()
	// PIKA_IDLE_HEAPPROFILE=file writes the heap profile here and after the
	// phones settle, to see what a socket holds:
	// go tool pprof -base file.base file (with -test.memprofilerate=1).
	if p := os.Getenv("PIKA_IDLE_HEAPPROFILE"); p != "" {
		fh, _ := os.Create(p + ".base")
		_ = pprof.Lookup("heap").WriteTo(fh, 0)
		fh.Close()
	}

	cmd := exec.Command(os.Args[0], "-test.run=^TestIdleSocketClients$", "-test.count=1")
	cmd.Env = append(os.Environ(), idleEnvURL+"="+e.url, idleEnvSession+"="+sid, idleEnvPlay+"="+play.ID,
		idleEnvN+"="+strconv.Itoa(idleSockets))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = stdin.Close() // the child hangs up when its stdin closes
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if line := sc.Text(); strings.HasPrefix(line, "IDLE-") {
				select {
				case ready <- line:
				default:
				}
			}
		}
		close(ready)
	}()
	select {
	case line, ok := <-ready:
		if !ok || !strings.HasPrefix(line, "IDLE-READY") {
			t.Fatalf("phones: %q", line)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("phones not ready after 60 s")
	}
	if n := e.gw.Sockets(); n != idleSockets {
		t.Fatalf("gateway holds %d sockets, want %d", n, idleSockets)
	}
	f := e.gw.hub.followed(sid)
	f.mu.Lock()
	subscribed := len(f.conns)
	f.mu.Unlock()
	if subscribed != idleSockets {
		t.Fatalf("%d sockets subscribed, want %d", subscribed, idleSockets)
	}
	// Every frame handler has returned (its goroutine is short-lived):
	// what is left is one goroutine per socket, idle in its read.
	testenv.Eventually(t, 10*time.Second, "frame handlers finished", func() bool {
		return runtime.NumGoroutine()-goBefore <= idleSockets+idleSockets/100
	})
	after, goAfter := settledMemStats()
	if p := os.Getenv("PIKA_IDLE_HEAPPROFILE"); p != "" {
		fh, _ := os.Create(p)
		_ = pprof.Lookup("heap").WriteTo(fh, 0)
		fh.Close()
	}

	n := float64(idleSockets)
	stack := float64(int64(after.StackInuse)-int64(before.StackInuse)) / n
	heap := float64(int64(after.HeapInuse)-int64(before.HeapInuse)) / n
	gor := float64(goAfter-goBefore) / n
	t.Logf("idle sockets: %d; per socket after GC: stack %.0f B (%.2f KB), heap %.0f B (%.2f KB), goroutines %.3f; Sys %+.1f MB",
		idleSockets, stack, stack/1024, heap, heap/1024, gor, float64(int64(after.Sys)-int64(before.Sys))/(1<<20))
	if stack > maxStackPerSocket {
		t.Errorf("stack per socket %.0f B > %d B: the socket's long-lived goroutine grew its stack (keep serveWS shallow: doc.go)", stack, maxStackPerSocket)
	}
	if heap > maxHeapPerSocket {
		t.Errorf("heap per socket %.0f B > %d B", heap, maxHeapPerSocket)
	}
	if gor > 1.05 {
		t.Errorf("%.3f goroutines per socket, want 1", gor)
	}
}

// settledMemStats runs GC until the stacks have shrunk (GC shrinks them as
// it scans) and returns the statistics and the goroutine count.
func settledMemStats() (runtime.MemStats, int) {
	var m runtime.MemStats
	for range 3 {
		runtime.GC()
	}
	runtime.ReadMemStats(&m)
	return m, runtime.NumGoroutine()
}

// TestIdleSocketClients is the child process of TestIdleSocketMemory: it
// opens the sockets, sends a subscribe, a ping and a like through each and
// waits for their answers, prints IDLE-READY, then holds the sockets
// without reading until its stdin closes. It has no goroutine per socket.
func TestIdleSocketClients(t *testing.T) {
	url := os.Getenv(idleEnvURL)
	if url == "" {
		t.Skip("child process of TestIdleSocketMemory")
	}
	sid, play := os.Getenv(idleEnvSession), os.Getenv(idleEnvPlay)
	n, _ := strconv.Atoi(os.Getenv(idleEnvN))
	dialer := websocket.Dialer{ReadBufferSize: 1024, WriteBufferSize: 512, HandshakeTimeout: 10 * time.Second}
	wsURL := "ws" + strings.TrimPrefix(url, "http") + "/ws"

	conns := make([]*websocket.Conn, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	var once sync.Once
	var failure error
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				ws, err := idleClient(dialer, wsURL, sid, play, i)
				if err != nil {
					once.Do(func() { failure = fmt.Errorf("phone %d: %w", i, err) })
					return
				}
				conns[i] = ws
			}
		}()
	}
	wg.Wait()
	if failure != nil {
		fmt.Printf("IDLE-ERROR %v\n", failure)
		t.Fatal(failure)
	}
	fmt.Printf("IDLE-READY %d\n", n)
	_, _ = io.Copy(io.Discard, os.Stdin)
	for _, ws := range conns {
		_ = ws.Close()
	}
}

// idleClient opens one socket and sends a subscribe, a ping and a like,
// each awaited.
func idleClient(dialer websocket.Dialer, wsURL, sid, play string, i int) (*websocket.Conn, error) {
	ws, _, err := dialer.Dial(wsURL, nil)
	if err != nil {
		return nil, err
	}
	steps := []struct {
		frame map[string]any
		want  string // the frame type that answers it
	}{
		{map[string]any{"type": "subscribe", "ref": "s", "sessionId": sid, "clientId": fmt.Sprintf("idle-phone-%05d", i)}, "snapshot"},
		{map[string]any{"type": "ping", "ref": "p"}, "pong"},
		{map[string]any{"type": "like", "ref": "l", "playId": play}, "ok"},
	}
	for _, s := range steps {
		if err := ws.WriteJSON(s.frame); err != nil {
			ws.Close()
			return nil, err
		}
		_ = ws.SetReadDeadline(time.Now().Add(20 * time.Second))
		for {
			var f struct {
				Type string `json:"type"`
				Ref  string `json:"ref"`
				Code string `json:"code"`
			}
			if err := ws.ReadJSON(&f); err != nil {
				ws.Close()
				return nil, err
			}
			if f.Type == "error" {
				ws.Close()
				return nil, fmt.Errorf("%v answered with error %s", s.frame["type"], f.Code)
			}
			if f.Type == s.want && (f.Type == "snapshot" || f.Ref == s.frame["ref"]) {
				break
			}
		}
	}
	_ = ws.SetReadDeadline(time.Time{})
	return ws, nil
}

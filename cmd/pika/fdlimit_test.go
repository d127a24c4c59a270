package main

import (
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/pika-dj/pika/internal/testenv"
)

// TestOpenFileLimit: at the open-file limit pika lan keeps running without
// spinning, and serves again as soon as sockets close.
func TestOpenFileLimit(t *testing.T) {
	prlimit := testenv.Need(t, "prlimit")
	bin := pikaBinary(t)
	dir := t.TempDir()
	hist := newHistory(t, filepath.Join(dir, "history.m3u"))
	// 128 descriptors: enough to start, few enough to run out with 200 dancers.
	wrapper := filepath.Join(dir, "pika-limited")
	script := "#!/bin/sh\nexec " + prlimit + " --nofile=128:128 " + bin + " \"$@\"\n"
	if err := os.WriteFile(wrapper, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	p := startProc(t, wrapper, "--data", filepath.Join(dir, "data"), "--watch", hist.path)
	hist.append("Band - Full Room")
	sess := liveSession(t, p.base, "Full Room")

	wsURL := "ws" + strings.TrimPrefix(p.base, "http") + "/ws"
	dialer := websocket.Dialer{HandshakeTimeout: 500 * time.Millisecond}
	var open []*websocket.Conn
	refused := 0
	for i := 0; i < 200 && refused < 5; i++ {
		ws, _, err := dialer.Dial(wsURL, nil)
		if err != nil {
			refused++
			continue
		}
		open = append(open, ws)
	}
	t.Logf("at the limit: %d sockets open, %d dials waited in vain", len(open), refused)
	if refused == 0 {
		t.Fatal("the limit was never reached: the test proves nothing")
	}
	// Stuck at the limit for two seconds: the process must be idle, not spinning.
	pid := p.cmd.Process.Pid
	before := cpuTicks(t, pid)
	time.Sleep(2 * time.Second)
	if used := cpuTicks(t, pid) - before; used > 100 { // 100 ticks = 1 s of CPU
		t.Fatalf("pika used %d CPU ticks in 2 s at the file limit: the accept loop spins", used)
	}
	for _, ws := range open {
		ws.Close()
	}
	// Serving again: health, and a dancer joining the session.
	testenv.Eventually(t, 15*time.Second, "healthz after sockets closed", func() bool {
		resp, err := (&http.Client{Timeout: time.Second}).Get(p.base + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	d := dial(t, p.base)
	d.subscribe(sess.ID, nil)
	d.wait(5*time.Second, "snapshot after the limit", isType("snapshot"))
	if err := p.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatalf("pika is gone: %v\n%s", err, p.out)
	}
}

// cpuTicks is the user+system CPU time of pid, in clock ticks.
func cpuTicks(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		t.Fatalf("pika exited: %v", err)
	}
	// Fields after the command name (which may hold spaces, in parentheses).
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	utime, _ := strconv.Atoi(f[11])
	stime, _ := strconv.Atoi(f[12])
	return utime + stime
}

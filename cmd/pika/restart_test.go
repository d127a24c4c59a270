package main

import (
	"bufio"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pika-dj/pika/bus"
	"github.com/pika-dj/pika/gateway"
	"github.com/pika-dj/pika/internal/testenv"
)

// pikaBinary is the pika binary for process tests: $PIKA_BIN (built once
// by scripts/test.sh) or, when unset, one built here.
func pikaBinary(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("PIKA_BIN"); p != "" {
		return p
	}
	out := filepath.Join(t.TempDir(), "pika")
	cmd := exec.Command("go", "build", "-o", out, ".")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build pika: %v\n%s", err, b)
	}
	return out
}

// proc is a running `pika lan` process.
type proc struct {
	cmd  *exec.Cmd
	base string
	out  *lockedBuffer
}

var (
	servingRE = regexp.MustCompile(`serving on (127\.0\.0\.1:\d+)`)
	// consoleRE matches the console link without its port, which changes
	// on every start.
	consoleRE = regexp.MustCompile(`/dj#s=[0-9A-Z]{26}&k=[0-9a-f]{32}`)
)

func startProc(t *testing.T, bin string, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"lan", "--addr", "127.0.0.1:0"}, args...)...)
	out := &lockedBuffer{}
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = io.MultiWriter(out, pw), out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, out: out}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			if m := servingRE.FindStringSubmatch(sc.Text()); m != nil {
				found <- m[1]
				break
			}
		}
		_, _ = io.Copy(io.Discard, pr)
	}()
	select {
	case addr := <-found:
		p.base = "http://" + addr
	case <-time.After(20 * time.Second):
		t.Fatalf("pika lan did not start serving:\n%s", out)
	}
	return p
}

// stop ends the process with sig and waits for it.
func (p *proc) stop(t *testing.T, sig os.Signal) {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case err := <-done:
		if sig == os.Interrupt && err != nil {
			t.Fatalf("pika lan exited badly on Ctrl-C: %v\n%s", err, p.out)
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("pika lan did not exit on %v", sig)
	}
}

// TestRestart: stop pika lan (Ctrl-C, and kill -9), append two plays while
// it is down, start it on the same data folder: the session, its current
// track and its history are served again with the two new plays, none
// doubled, and a phone resubscribing with its lastSeq misses nothing.
func TestRestart(t *testing.T) {
	bin := pikaBinary(t)
	for _, sig := range []os.Signal{os.Interrupt, syscall.SIGKILL} {
		t.Run(sig.String(), func(t *testing.T) {
			dir := t.TempDir()
			hist := newHistory(t, filepath.Join(dir, "history.m3u"))
			data := filepath.Join(dir, "data")
			args := []string{"--data", data, "--watch", hist.path, "--dj-name", "DJ Restart"}

			p := startProc(t, bin, args...)
			defer func() {
				if t.Failed() {
					t.Logf("last pika lan output:\n%s", p.out)
				}
			}()
			hist.append("Band - Before One")
			hist.append("Band - Before Two")
			sess := liveSession(t, p.base, "Before Two")
			phone := dial(t, p.base)
			phone.subscribe(sess.ID, nil)
			snap := phone.wait(5*time.Second, "snapshot", isType("snapshot"))
			lastSeq := uint64(snap["seq"].(float64))
			// The dancer likes the current track before the laptop goes down.
			likedPlay := sess.CurrentTrack.PlayID
			phone.Send(map[string]any{"type": "like", "ref": "like1", "playId": likedPlay})
			phone.wait(5*time.Second, "like answered", func(f map[string]any) bool { return f["ref"] == "like1" && f["type"] == "ok" })

			console := consoleRE.FindString(p.out.String())
			if console == "" {
				t.Fatalf("no DJ console link printed:\n%s", p.out)
			}
			p.stop(t, sig)
			hist.append("Band - While Down One")
			hist.append("Band - While Down Two")

			p = startProc(t, bin, args...)
			again := liveSession(t, p.base, "While Down Two")
			// The DJ's console link (its secret) survives the restart.
			if got := consoleRE.FindString(p.out.String()); got != console {
				t.Fatalf("console link after restart %q, want the same %q", got, console)
			}
			if again.ID != sess.ID || again.DJName != "DJ Restart" {
				t.Fatalf("after restart: session %+v, want %s continued", again, sess.ID)
			}
			var plays []bus.PlayedTrack
			getJSON(t, p.base+"/api/sessions/"+sess.ID+"/history", &plays)
			var titles []string
			ids := map[string]bool{}
			for _, pl := range plays {
				titles = append(titles, pl.Title)
				if ids[pl.PlayID] {
					t.Fatalf("play %s listed twice", pl.PlayID)
				}
				ids[pl.PlayID] = true
			}
			want := "While Down Two,While Down One,Before Two,Before One"
			if strings.Join(titles, ",") != want {
				t.Fatalf("history after restart = %v, want %s", titles, want)
			}
			// Plays recorded while down keep the time VirtualDJ wrote.
			if !plays[0].PlayedAt.Equal(hist.at) {
				t.Errorf("play time %v, want the file's %v", plays[0].PlayedAt, hist.at)
			}

			phone = dial(t, p.base)
			phone.subscribe(sess.ID, &lastSeq)
			snap = phone.wait(5*time.Second, "snapshot", isType("snapshot"))
			// The like survived: the dancer's own, and in the owner's tally.
			if mine := snap["mine"].(map[string]any)["likes"].([]any); len(mine) != 1 || mine[0] != likedPlay {
				t.Fatalf("after restart the dancer's likes are %v, want [%s]", mine, likedPlay)
			}
			phone.wait(10*time.Second, "a tally counting the like from before the restart", func(f map[string]any) bool {
				likes, _ := f["likes"].(map[string]any)
				return f["type"] == "tally" && likes[likedPlay] == float64(1)
			})
			r := snap["resume"].(map[string]any)
			missed := r["missed"].([]any)
			if r["complete"] != true || len(missed) != 2 {
				t.Fatalf("resume from %d = %v", lastSeq, r)
			}
			for i, m := range missed {
				ev := m.(map[string]any)
				if uint64(ev["seq"].(float64)) != lastSeq+uint64(i)+1 {
					t.Fatalf("missed[%d] seq %v, want %d", i, ev["seq"], lastSeq+uint64(i)+1)
				}
			}
			// A third start reads nothing new: still four plays.
			p.stop(t, os.Interrupt)
			p = startProc(t, bin, args...)
			var info gateway.SessionInfo
			testenv.Eventually(t, 10*time.Second, "session served after a third start", func() bool {
				return getJSON(t, p.base+"/api/sessions/"+sess.ID, &info) == 200
			})
			time.Sleep(1500 * time.Millisecond) // more than one watcher poll
			getJSON(t, p.base+"/api/sessions/"+sess.ID+"/history", &plays)
			if len(plays) != 4 {
				t.Fatalf("after a start with nothing new: %d plays, want 4", len(plays))
			}
		})
	}
}

package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"time"
)

// target is the server under load, however it runs: in this process
// (--inprocess), as a child `pika-load serve` (the default: its memory and
// CPU are its own), as a child `pika lan` (--lan), or already running (--url).
type target struct {
	Base    string // http://127.0.0.1:port
	PID     int    // 0: unknown (no RSS or CPU)
	History string // the watched history file; "" if unknown
	ctl     string // control URL of a `pika-load serve` child
	local   *server
	crowd   func() *crowd // the generator's crowd (to subtract its goroutines in-process)
	stop    func() error
	hist    *historyFile
	profMu  sync.Mutex
	profF   *os.File
}

// serverStats is the server's process as /proc and (where we can ask) the
// Go runtime see it.
type serverStats struct {
	RSSKB      int64   `json:"rssKB"`
	CPUSeconds float64 `json:"cpuSeconds"`
	Goroutines int     `json:"goroutines"` // -1: unknown
	Sockets    int     `json:"sockets"`    // -1: unknown
	HeapInuse  uint64  `json:"heapInuse,omitempty"`
	StackInuse uint64  `json:"stackInuse,omitempty"`
}

func (t *target) canPlay() bool { return t.local != nil || t.ctl != "" }

// play records a play through the engine (drive mode "bus").
func (t *target) play(ctx context.Context, title string) (string, error) {
	if t.local != nil {
		return t.local.Play(ctx, title)
	}
	var out struct {
		Session string `json:"session"`
	}
	err := t.call(ctx, http.MethodPost, "/play?title="+url.QueryEscape(title), &out)
	return out.Session, err
}

func (t *target) end(ctx context.Context) error {
	if t.local != nil {
		return t.local.End(ctx)
	}
	if t.ctl == "" {
		return errors.New("this target cannot end a session (no control port)")
	}
	return t.call(ctx, http.MethodPost, "/end", nil)
}

// appendPlay writes a play to the watched history file, as a DJ program
// does (drive mode "file").
func (t *target) appendPlay(title string) error {
	if t.History == "" {
		return errors.New("no history file to append to")
	}
	if t.hist == nil {
		t.hist = &historyFile{path: t.History, at: time.Now().Add(-time.Hour).Truncate(time.Second)}
	}
	return t.hist.append(loadArtist, title)
}

func (t *target) fanout(ctx context.Context, k int) (fanout, bool) {
	if t.local != nil && t.local.probe != nil {
		return t.local.probe.get(k), true
	}
	if t.ctl == "" {
		return fanout{}, false
	}
	var f fanout
	if err := t.call(ctx, http.MethodGet, "/fanout?k="+strconv.Itoa(k), &f); err != nil {
		return fanout{}, false
	}
	return f, true
}

// stats reads the server's RSS and CPU from /proc and, where it can, its
// goroutines. In-process the generator's own reader goroutines are
// subtracted (its memory cannot be).
func (t *target) stats(ctx context.Context, gc bool) serverStats {
	st := serverStats{Goroutines: -1, Sockets: -1}
	switch {
	case t.local != nil:
		if gc {
			runtime.GC()
			debug.FreeOSMemory()
		}
		st.Goroutines = runtime.NumGoroutine()
		if t.crowd != nil && t.crowd() != nil {
			st.Goroutines -= int(t.crowd().readers.Load())
		}
		st.Sockets = t.local.Sockets()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		st.HeapInuse, st.StackInuse = ms.HeapInuse, ms.StackInuse
	case t.ctl != "":
		q := "/stats"
		if gc {
			q += "?gc=1"
		}
		_ = t.call(ctx, http.MethodGet, q, &st)
	}
	pid := t.PID
	if t.local != nil {
		pid = os.Getpid()
	}
	if pid > 0 {
		st.RSSKB, st.CPUSeconds = procStats(pid)
	}
	return st
}

// profile starts (path != "") or stops a CPU profile in the server.
func (t *target) profile(ctx context.Context, path string) error {
	if t.local != nil {
		t.profMu.Lock()
		defer t.profMu.Unlock()
		if path == "" {
			if t.profF == nil {
				return nil
			}
			pprof.StopCPUProfile()
			err := t.profF.Close()
			t.profF = nil
			return err
		}
		f, err := os.Create(path)
		if err != nil {
			return fmt.Errorf("cpu profile: %w", err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			f.Close()
			return fmt.Errorf("cpu profile: %w", err)
		}
		t.profF = f
		return nil
	}
	if t.ctl == "" {
		return errors.New("this target cannot be profiled by the generator")
	}
	return t.call(ctx, http.MethodPost, "/profile?path="+url.QueryEscape(path), nil)
}

func (t *target) call(ctx context.Context, method, path string, out any) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, t.ctl+path, nil)
	if err != nil {
		return fmt.Errorf("control %s: %w", path, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("control %s: %w", path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("control %s: %s: %s", path, resp.Status, strings.TrimSpace(string(body)))
	}
	if out != nil {
		if err := json.Unmarshal(body, out); err != nil {
			return fmt.Errorf("control %s: %w", path, err)
		}
	}
	return nil
}

// procStats reads VmRSS (KB) and utime+stime (s) of pid.
func procStats(pid int) (rssKB int64, cpu float64) {
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid)); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
				rssKB, _ = strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			}
		}
	}
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil {
		// Fields after the command name, which may hold spaces: ") S ppid …".
		s := string(b)
		if i := strings.LastIndexByte(s, ')'); i >= 0 {
			f := strings.Fields(s[i+1:])
			if len(f) > 13 {
				ut, _ := strconv.ParseFloat(f[11], 64)
				stt, _ := strconv.ParseFloat(f[12], 64)
				cpu = (ut + stt) / 100 // USER_HZ is 100 on Linux
			}
		}
	}
	return rssKB, cpu
}

// historyFile appends VirtualDJ-style entries, as VirtualDJ does.
type historyFile struct {
	path string
	at   time.Time
}

func (h *historyFile) append(artist, title string) error {
	h.at = h.at.Add(time.Minute)
	entry := fmt.Sprintf("#EXTVDJ:<time>%s</time><lastplaytime>%d</lastplaytime><artist>%s</artist><title>%s</title>\r\nD:\\Music\\%s.mp3\r\n",
		h.at.Format("15:04"), h.at.Unix(), artist, title, strings.ReplaceAll(title, " ", "_"))
	f, err := os.OpenFile(h.path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("append to history: %w", err)
	}
	if _, err := f.WriteString(entry); err != nil {
		f.Close()
		return fmt.Errorf("append to history: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("append to history: %w", err)
	}
	return nil
}

// startInProcess runs the server in this process.
func startInProcess(ctx context.Context, probe bool, databaseURL string, log *slog.Logger) (*target, error) {
	s, err := startServer(ctx, serverOpts{Probe: probe, DatabaseURL: databaseURL, Logger: log})
	if err != nil {
		return nil, err
	}
	return &target{Base: "http://" + s.Addr, History: s.History, local: s, stop: s.Close}, nil
}

// serveInfo is the first line a `pika-load serve` child prints.
type serveInfo struct {
	Addr    string `json:"addr"`
	Control string `json:"control"`
	History string `json:"history"`
}

// startChild runs `pika-load serve` (this binary) as a child process.
func startChild(ctx context.Context, probe bool, databaseURL string) (*target, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find this program: %w", err)
	}
	args := []string{"serve"}
	if !probe {
		args = append(args, "--probe=false")
	}
	if databaseURL != "" {
		args = append(args, "--database-url", databaseURL)
	}
	return startProcess(ctx, self, args, func(line string) (*target, bool) {
		var si serveInfo
		if json.Unmarshal([]byte(line), &si) != nil || si.Addr == "" {
			return nil, false
		}
		return &target{Base: "http://" + si.Addr, ctl: "http://" + si.Control, History: si.History}, true
	})
}

// startLAN runs the real `pika lan` with a watched history file in a
// temporary folder.
func startLAN(ctx context.Context, bin string) (*target, error) {
	dir, err := os.MkdirTemp("", "pika-load-lan-")
	if err != nil {
		return nil, fmt.Errorf("make data folder: %w", err)
	}
	hist := filepath.Join(dir, "history.m3u")
	if err := os.WriteFile(hist, []byte("\ufeff"), 0o644); err != nil {
		return nil, fmt.Errorf("history file: %w", err)
	}
	t, err := startProcess(ctx, bin, []string{"lan", "--addr", "127.0.0.1:0", "--data", filepath.Join(dir, "data"), "--watch", hist, "--dj-name", "DJ Load"},
		func(line string) (*target, bool) {
			v, ok := strings.CutPrefix(strings.TrimSpace(line), "serving on ")
			if !ok {
				return nil, false
			}
			return &target{Base: "http://" + v, History: hist}, true
		})
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	stop := t.stop
	t.stop = func() error { err := stop(); os.RemoveAll(dir); return err }
	return t, nil
}

// startProcess starts bin and reads its stdout until parse recognises the
// line telling where it serves (within 30 s).
func startProcess(ctx context.Context, bin string, args []string, parse func(string) (*target, bool)) (*target, error) {
	cmd := exec.Command(bin, args...)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	waited := make(chan error, 1)
	found := make(chan *target, 1)
	go func() {
		sc := bufio.NewScanner(out)
		sent := false
		for sc.Scan() {
			if !sent {
				if t, ok := parse(sc.Text()); ok {
					found <- t
					sent = true
				}
			}
		}
		// Reading to the end keeps the child from blocking on a full pipe.
		waited <- cmd.Wait()
	}()
	stop := func() error {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case err := <-waited:
			return err
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			return fmt.Errorf("%s did not stop within 20 s: killed", filepath.Base(bin))
		}
	}
	select {
	case t := <-found:
		t.PID = cmd.Process.Pid
		t.stop = stop
		return t, nil
	case err := <-waited:
		return nil, fmt.Errorf("%s ended before serving: %v", filepath.Base(bin), err)
	case <-time.After(30 * time.Second):
		_ = stop()
		return nil, fmt.Errorf("%s not serving after 30 s", filepath.Base(bin))
	case <-ctx.Done():
		_ = stop()
		return nil, ctx.Err()
	}
}

// serve is `pika-load serve`: the server alone in its own process, with a
// control port on loopback (never the dancers' port) for the generator.
func serve(ctx context.Context, args []string, stdout io.Writer, log *slog.Logger) error {
	fs := newFlagSet("serve")
	probe := fs.Bool("probe", true, "count the generator's track frames as they are written (server-side fan-out completion)")
	addr := fs.String("addr", "127.0.0.1:0", "dancers' address (loopback only)")
	dbURL := fs.String("database-url", "", "also persist to this PostgreSQL")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := loopbackAddr(*addr); err != nil {
		return err
	}
	raiseFileLimit(log)
	s, err := startServer(ctx, serverOpts{Addr: *addr, Probe: *probe, DatabaseURL: *dbURL, Logger: log})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		_ = s.Close()
		return fmt.Errorf("control port: %w", err)
	}
	t := &target{local: s}
	mux := http.NewServeMux()
	reply := func(w http.ResponseWriter, v any, err error) {
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(v)
	}
	mux.HandleFunc("POST /play", func(w http.ResponseWriter, r *http.Request) {
		sid, err := s.Play(r.Context(), r.URL.Query().Get("title"))
		reply(w, map[string]string{"session": sid}, err)
	})
	mux.HandleFunc("POST /end", func(w http.ResponseWriter, r *http.Request) { reply(w, struct{}{}, s.End(r.Context())) })
	mux.HandleFunc("GET /stats", func(w http.ResponseWriter, r *http.Request) {
		reply(w, t.stats(r.Context(), r.URL.Query().Get("gc") != ""), nil)
	})
	mux.HandleFunc("GET /fanout", func(w http.ResponseWriter, r *http.Request) {
		k, _ := strconv.Atoi(r.URL.Query().Get("k"))
		f, _ := t.fanout(r.Context(), k)
		reply(w, f, nil)
	})
	mux.HandleFunc("POST /profile", func(w http.ResponseWriter, r *http.Request) {
		reply(w, struct{}{}, t.profile(r.Context(), r.URL.Query().Get("path")))
	})
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = hs.Serve(ln) }()
	b, _ := json.Marshal(serveInfo{Addr: s.Addr, Control: ln.Addr().String(), History: s.History})
	fmt.Fprintln(stdout, string(b))
	<-ctx.Done()
	_ = t.profile(context.Background(), "")
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = hs.Shutdown(sctx)
	return s.Close()
}

package detect

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pika-dj/pika/internal/testenv"
)

const poll = 20 * time.Millisecond

// vdjEntry is one VirtualDJ history entry, CRLF as VirtualDJ writes it.
func vdjEntry(at int64, artist, title string) string {
	return fmt.Sprintf("#EXTVDJ:<time>21:41</time><lastplaytime>%d</lastplaytime><artist>%s</artist><title>%s</title>\r\nD:\\Music\\%s - %s.mp3\r\n",
		at, artist, title, artist, title)
}

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func appendFile(t *testing.T, path, data string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(data); err != nil {
		t.Fatal(err)
	}
}

// setMtime gives files distinct modification times, so "newest" does not
// depend on how fast the test runs.
func setMtime(t *testing.T, path string, at time.Time) {
	t.Helper()
	if err := os.Chtimes(path, at, at); err != nil {
		t.Fatal(err)
	}
}

// collector records what a watcher hands over; fail, when set, can refuse.
type collector struct {
	mu       sync.Mutex
	got      []Entry
	attempts int
	fail     func(Entry) error
}

func (c *collector) emit(_ context.Context, e Entry) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.attempts++
	if c.fail != nil {
		if err := c.fail(e); err != nil {
			return err
		}
	}
	c.got = append(c.got, e)
	return nil
}

func (c *collector) titles() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, e := range c.got {
		out = append(out, e.Title)
	}
	return out
}

func (c *collector) entries() []Entry {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.got)
}

// run is a running watcher.
type run struct {
	w    *Watcher
	c    *collector
	stop func()
	now  atomic.Int64
}

// start runs a watcher until the test ends or stop is called. Its clock
// ticks a second per call, so every poll stamps a new LastReadAt.
func start(t *testing.T, cfg WatchConfig, c *collector) *run {
	t.Helper()
	r := &run{c: c}
	if cfg.Poll == 0 {
		cfg.Poll = poll
	}
	cfg.Now = func() time.Time { return time.Unix(1764100000+r.now.Add(1), 0) }
	w, err := NewWatcher(cfg)
	if err != nil {
		t.Fatal(err)
	}
	r.w = w
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx, c.emit) }()
	var once sync.Once
	r.stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run returned %v, want nil", err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("Run did not return after cancel")
			}
		})
	}
	t.Cleanup(r.stop)
	return r
}

// settle waits for n more polls that read without error.
func (r *run) settle(t *testing.T, n int) {
	t.Helper()
	seen := map[time.Time]bool{r.w.Status().LastReadAt: true}
	testenv.Eventually(t, 5*time.Second, fmt.Sprintf("%d polls without error; status %+v", n, r.w.Status()), func() bool {
		seen[r.w.Status().LastReadAt] = true
		return len(seen) > n
	})
}

func (r *run) waitTitles(t *testing.T, want ...string) {
	t.Helper()
	testenv.Eventually(t, 5*time.Second, fmt.Sprintf("titles %q", want), func() bool {
		return slices.Equal(r.c.titles(), want)
	})
	// And nothing more comes: the same entries seen again are not repeated.
	r.settle(t, 3)
	if got := r.c.titles(); !slices.Equal(got, want) {
		t.Fatalf("titles %q, want %q", got, want)
	}
}

func TestWatchFirstSightingSkipsOldEntries(t *testing.T) {
	dir := t.TempDir()
	hist := filepath.Join(dir, "2025-11-25.m3u")
	writeFile(t, hist, "\uFEFF"+vdjEntry(1764103260, "Old", "One")+vdjEntry(1764103500, "Old", "Two"))
	r := start(t, WatchConfig{Path: dir, StateFile: filepath.Join(t.TempDir(), "state.json")}, &collector{})
	r.settle(t, 2)
	if got := r.c.titles(); len(got) != 0 {
		t.Fatalf("entries from before the first sighting were played: %q", got)
	}
	appendFile(t, hist, vdjEntry(1764103740, "New", "Three"))
	r.waitTitles(t, "Three")
	st := r.w.Status()
	if st.File != hist || st.LastEntry == nil || st.LastEntry.Title != "Three" || st.Err != "" || st.Path != dir {
		t.Fatalf("status %+v", st)
	}
}

func TestWatchImport(t *testing.T) {
	dir := t.TempDir()
	older, newer := filepath.Join(dir, "2025-11-24.m3u"), filepath.Join(dir, "2025-11-25.m3u")
	writeFile(t, newer, vdjEntry(1764103260, "A", "Three"))
	writeFile(t, older, vdjEntry(1764000000, "A", "One")+vdjEntry(1764000300, "A", "Two"))
	setMtime(t, older, time.Now().Add(-48*time.Hour))
	setMtime(t, newer, time.Now().Add(-time.Hour))
	r := start(t, WatchConfig{Path: dir, Import: true}, &collector{})
	r.waitTitles(t, "One", "Two", "Three") // oldest file first
}

func TestWatchPartialEntryAppended(t *testing.T) {
	dir := t.TempDir()
	hist := filepath.Join(dir, "2025-11-25.m3u")
	writeFile(t, hist, "")
	r := start(t, WatchConfig{Path: hist}, &collector{})
	r.settle(t, 1)
	// The tag line is written, the path line is not yet.
	appendFile(t, hist, "#EXTVDJ:<lastplaytime>1764103260</lastplaytime><artist>A</artist><title>Half")
	r.settle(t, 3)
	appendFile(t, hist, " Written</title>\r\n")
	r.settle(t, 3)
	if got := r.c.titles(); len(got) != 0 {
		t.Fatalf("an entry without its path line was emitted: %q", got)
	}
	appendFile(t, hist, "D:\\a.mp3\r\n")
	r.waitTitles(t, "Half Written")
}

func TestWatchUnterminatedFinalLine(t *testing.T) {
	dir := t.TempDir()
	hist := filepath.Join(dir, "h.m3u")
	writeFile(t, hist, "")
	r := start(t, WatchConfig{Path: dir, StateFile: filepath.Join(t.TempDir(), "state.json")}, &collector{})
	r.settle(t, 1)
	// A writer that leaves out the last newline: the entry still comes,
	// once the file has stood still for two polls…
	appendFile(t, hist, "#EXTINF:100,A - First\nD:\\first.mp3")
	r.waitTitles(t, "First")
	// …and the newline arriving later does not bring it again.
	appendFile(t, hist, "\n#EXTINF:100,B - Second\nD:\\second.mp3\n")
	r.waitTitles(t, "First", "Second")
}

func TestWatchNewDatedFileMidRun(t *testing.T) {
	dir := t.TempDir()
	day1, day2 := filepath.Join(dir, "2025-11-25.m3u"), filepath.Join(dir, "2025-11-26.m3u")
	writeFile(t, day1, "\uFEFF"+vdjEntry(1764103260, "Old", "Before"))
	setMtime(t, day1, time.Now().Add(-time.Minute))
	r := start(t, WatchConfig{Path: dir, StateFile: filepath.Join(t.TempDir(), "state.json")}, &collector{})
	r.settle(t, 1)
	appendFile(t, day1, vdjEntry(1764114000, "A", "Late Night"))
	// Midnight: VirtualDJ starts a new file; the last entry of the old one
	// was appended just before the switch.
	appendFile(t, day1, vdjEntry(1764115100, "A", "Just Before Midnight"))
	writeFile(t, day2, "\uFEFF"+vdjEntry(1764115300, "B", "After Midnight"))
	setMtime(t, day1, time.Now().Add(-time.Second))
	r.waitTitles(t, "Late Night", "Just Before Midnight", "After Midnight")
	if st := r.w.Status(); st.File != day2 {
		t.Fatalf("status file %q, want the new file", st.File)
	}
	appendFile(t, day2, vdjEntry(1764115600, "B", "Next"))
	// Rare, but the old file may still grow.
	appendFile(t, day1, vdjEntry(1764115200, "A", "Straggler"))
	testenv.Eventually(t, 5*time.Second, "both files read", func() bool { return len(r.c.titles()) == 5 })
	got := r.c.titles()
	if !slices.Contains(got, "Next") || !slices.Contains(got, "Straggler") {
		t.Fatalf("titles %q", got)
	}
}

func TestWatchRestartWithState(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(t.TempDir(), "state.json")
	day1 := filepath.Join(dir, "2025-11-25.m3u")
	writeFile(t, day1, "\uFEFF"+vdjEntry(1764103260, "A", "Old"))
	setMtime(t, day1, time.Now().Add(-time.Hour))
	cfg := WatchConfig{Path: dir, StateFile: state}

	r := start(t, cfg, &collector{})
	r.settle(t, 1)
	appendFile(t, day1, vdjEntry(1764103500, "A", "While Up"))
	r.waitTitles(t, "While Up")
	r.stop()

	// Pika! is down: two plays in the old file, and a new day's file.
	appendFile(t, day1, vdjEntry(1764103740, "A", "Down One")+vdjEntry(1764103980, "A", "Down Two"))
	setMtime(t, day1, time.Now().Add(-time.Minute))
	day2 := filepath.Join(dir, "2025-11-26.m3u")
	writeFile(t, day2, "\uFEFF"+vdjEntry(1764190000, "B", "Next Day"))

	r2 := start(t, cfg, &collector{})
	r2.waitTitles(t, "Down One", "Down Two", "Next Day")

	// And a third start hands over nothing again.
	r2.stop()
	r3 := start(t, cfg, &collector{})
	r3.settle(t, 3)
	if got := r3.c.titles(); len(got) != 0 {
		t.Fatalf("restart repeated %q", got)
	}
}

func TestWatchEmitErrorIsRetried(t *testing.T) {
	dir := t.TempDir()
	hist := filepath.Join(dir, "h.m3u")
	writeFile(t, hist, "")
	failures := 3
	c := &collector{fail: func(e Entry) error {
		if e.Title == "Flaky" && failures > 0 {
			failures--
			return errors.New("bus down")
		}
		return nil
	}}
	state := filepath.Join(t.TempDir(), "state.json")
	r := start(t, WatchConfig{Path: hist, StateFile: state}, c)
	r.settle(t, 1)
	appendFile(t, hist, vdjEntry(1764103260, "A", "Flaky")+vdjEntry(1764103500, "A", "After"))
	testenv.Eventually(t, 5*time.Second, "an error in Status while emit fails", func() bool {
		return strings.Contains(r.w.Status().Err, "bus down")
	})
	r.waitTitles(t, "Flaky", "After")
	c.mu.Lock()
	attempts := c.attempts
	c.mu.Unlock()
	if attempts != 5 {
		t.Fatalf("%d emit calls, want 3 failures + 2 successes", attempts)
	}
	if st := r.w.Status(); st.Err != "" {
		t.Fatalf("error not cleared after success: %q", st.Err)
	}
}

func TestWatchShrunkFileKeepsIDs(t *testing.T) {
	dir := t.TempDir()
	hist := filepath.Join(dir, "h.m3u")
	writeFile(t, hist, "")
	r := start(t, WatchConfig{Path: hist}, &collector{})
	r.settle(t, 1)
	appendFile(t, hist, vdjEntry(1764103260, "A", "One")+vdjEntry(1764103500, "A", "Two"))
	r.waitTitles(t, "One", "Two")
	// Rewritten shorter, the second entry gone, a new one after.
	writeFile(t, hist, vdjEntry(1764103260, "A", "One")+vdjEntry(1764109000, "A", "Three"))
	testenv.Eventually(t, 5*time.Second, "the rewritten file read again", func() bool { return len(r.c.titles()) == 4 })
	got := r.c.entries()
	if got[2].Title != "One" || got[2].ID != got[0].ID || got[3].Title != "Three" {
		t.Fatalf("after the rewrite: %q (ids %s %s)", r.c.titles(), got[0].ID, got[2].ID)
	}
}

func TestWatchRewrittenLongerFile(t *testing.T) {
	dir := t.TempDir()
	hist := filepath.Join(dir, "h.m3u")
	writeFile(t, hist, "")
	r := start(t, WatchConfig{Path: hist}, &collector{})
	r.settle(t, 1)
	appendFile(t, hist, vdjEntry(1764103260, "A", "One"))
	r.waitTitles(t, "One")
	// Replaced by a different, longer file: the bytes where reading
	// stopped changed, so it is read again from the start.
	writeFile(t, hist, "#EXTM3U\r\n"+vdjEntry(1764103260, "A", "One")+vdjEntry(1764103500, "A", "Two"))
	testenv.Eventually(t, 5*time.Second, "the rewritten file read again", func() bool { return len(r.c.titles()) == 3 })
	got := r.c.entries()
	if got[1].ID != got[0].ID || got[2].Title != "Two" {
		t.Fatalf("after the rewrite: %q", r.c.titles())
	}
}

func TestWatchMissingPathThenAppears(t *testing.T) {
	home := t.TempDir()
	dir := filepath.Join(home, "VirtualDJ", "History")
	r := start(t, WatchConfig{Path: dir, StateFile: filepath.Join(t.TempDir(), "state.json")}, &collector{})
	testenv.Eventually(t, 5*time.Second, "status says the folder is missing", func() bool {
		return strings.Contains(r.w.Status().Err, "does not exist")
	})
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	// Made during the run, so its entries are news.
	writeFile(t, filepath.Join(dir, "2025-11-25.m3u"), "\uFEFF"+vdjEntry(1764103260, "A", "First Ever"))
	r.waitTitles(t, "First Ever")
	if st := r.w.Status(); st.Err != "" || r.w.Name() != "virtualdj" {
		t.Fatalf("status %+v name %q", st, r.w.Name())
	}
}

func TestWatchUnreadablePathKeepsGoing(t *testing.T) {
	dir := t.TempDir()
	hist := filepath.Join(dir, "h.m3u")
	// A symlink loop cannot be stat'ed, even by root.
	if err := os.Symlink(hist, hist); err != nil {
		t.Skip("no symlinks:", err)
	}
	r := start(t, WatchConfig{Path: hist}, &collector{})
	testenv.Eventually(t, 5*time.Second, "an error in Status", func() bool { return r.w.Status().Err != "" })
	if err := os.Remove(hist); err != nil {
		t.Fatal(err)
	}
	writeFile(t, hist, "#EXTINF:1,A - Old\nold.mp3\n")
	r.settle(t, 2)
	appendFile(t, hist, "#EXTINF:1,A - New\nnew.mp3\n")
	r.waitTitles(t, "New")
}

func TestWatchLongLineDoesNotBlock(t *testing.T) {
	dir := t.TempDir()
	hist := filepath.Join(dir, "h.m3u")
	writeFile(t, hist, "")
	r := start(t, WatchConfig{Path: hist, StateFile: filepath.Join(t.TempDir(), "state.json")}, &collector{})
	r.settle(t, 1)
	appendFile(t, hist, strings.Repeat("z", 3*MaxLineBytes)) // garbage still being written
	r.settle(t, 4)
	appendFile(t, hist, "\n#EXTINF:1,A - After Garbage\nok.mp3\n")
	r.waitTitles(t, "After Garbage")
}

func TestWatcherName(t *testing.T) {
	plain := t.TempDir()
	writeFile(t, filepath.Join(plain, "set.m3u"), "#EXTINF:1,A - B\nb.mp3\n")
	vdjHome := filepath.Join(t.TempDir(), "DJ Stuff")
	if err := os.MkdirAll(filepath.Join(vdjHome, "History"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(vdjHome, "database.xml"), "<VirtualDJ_Database/>")
	vdjFile := filepath.Join(t.TempDir(), "exported.m3u")
	writeFile(t, vdjFile, vdjEntry(1, "A", "B"))
	for path, want := range map[string]string{
		plain:                               "m3u",
		filepath.Join(plain, "set.m3u"):     "m3u",
		filepath.Join(vdjHome, "History"):   "virtualdj",
		vdjFile:                             "virtualdj",
		filepath.Join(plain, "missing.m3u"): "m3u",
	} {
		w, err := NewWatcher(WatchConfig{Path: path})
		if err != nil {
			t.Fatal(err)
		}
		if got := w.Name(); got != want {
			t.Errorf("Name() for %s = %q, want %q", path, got, want)
		}
	}
	if _, err := NewWatcher(WatchConfig{}); err == nil {
		t.Error("an empty path was accepted")
	}
}

func TestRunLeavesNoGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	dir := t.TempDir()
	r := start(t, WatchConfig{Path: dir}, &collector{})
	r.settle(t, 2)
	r.stop()
	testenv.Eventually(t, 5*time.Second, "goroutines gone", func() bool { return runtime.NumGoroutine() <= before })
}

func TestVirtualDJHistoryDirs(t *testing.T) {
	env := map[string]string{`USERPROFILE`: `C:\Users\dj`, `LOCALAPPDATA`: `C:\Users\dj\AppData\Local`, `OneDrive`: `C:\Users\dj\OneDrive`}
	getenv := func(k string) string { return env[k] }
	for goos, want := range map[string][]string{
		"windows": {`C:\Users\dj\Documents\VirtualDJ\History`, `C:\Users\dj\AppData\Local\VirtualDJ\History`, `C:\Users\dj\OneDrive\Documents\VirtualDJ\History`},
		"darwin":  {"/Users/dj/Library/Application Support/VirtualDJ/History", "/Users/dj/Documents/VirtualDJ/History"},
		"linux":   {"/Users/dj/Documents/VirtualDJ/History"},
	} {
		if got := VirtualDJHistoryDirs("/Users/dj", getenv, goos); !slices.Equal(got, want) {
			t.Errorf("%s: %q, want %q", goos, got, want)
		}
	}
	if got := VirtualDJHistoryDirs("", func(string) string { return "" }, "linux"); len(got) != 0 {
		t.Errorf("no home: %q", got)
	}

	home := t.TempDir()
	none := func(string) string { return "" }
	if dir, why := FindVirtualDJ(home, none, "darwin"); dir != "" || !strings.Contains(why, "looked in") {
		t.Errorf("nothing installed: %q %q", dir, why)
	}
	if err := os.MkdirAll(filepath.Join(home, "Documents", "VirtualDJ"), 0o755); err != nil {
		t.Fatal(err)
	}
	if dir, why := FindVirtualDJ(home, none, "darwin"); dir != "" || !strings.Contains(why, "writeHistory") {
		t.Errorf("installed without history: %q %q", dir, why)
	}
	want := filepath.Join(home, "Documents", "VirtualDJ", "History")
	if err := os.MkdirAll(want, 0o755); err != nil {
		t.Fatal(err)
	}
	if dir, why := FindVirtualDJ(home, none, "darwin"); dir != want || !strings.Contains(why, want) {
		t.Errorf("found: %q %q", dir, why)
	}
}

func TestWatchFirstSightingMidLine(t *testing.T) {
	dir := t.TempDir()
	bomOnly, midLine := filepath.Join(dir, "a.m3u"), filepath.Join(dir, "b.m3u")
	writeFile(t, bomOnly, "\uFEFF")
	writeFile(t, midLine, "#EXTINF:1,X - Old\nD:\\old_path_ha")
	r := start(t, WatchConfig{Path: dir}, &collector{})
	r.settle(t, 3)
	// The rest of the half-written line is not an entry of its own…
	appendFile(t, midLine, "lf.mp3\n#EXTINF:1,Y - New\nnew.mp3\n")
	r.waitTitles(t, "New")
	// …but a bare path after a lone BOM is.
	appendFile(t, bomOnly, "D:\\Artist - Bare.mp3\r\n")
	r.waitTitles(t, "New", "Bare")
}

func TestWatchHalfWrittenPathLine(t *testing.T) {
	dir := t.TempDir()
	hist := filepath.Join(dir, "h.m3u")
	writeFile(t, hist, "")
	// A slower poll, so the rest surely lands before the file has stood
	// still for two polls.
	r := start(t, WatchConfig{Path: hist, Poll: 100 * time.Millisecond}, &collector{})
	r.settle(t, 1)
	appendFile(t, hist, "#EXTVDJ:<lastplaytime>1764103260</lastplaytime><artist>A</artist>\r\nD:\\Music\\A - Wh")
	r.settle(t, 1)
	appendFile(t, hist, "ole Path.mp3\r\n")
	r.waitTitles(t, "Whole Path")
	if e := r.c.entries()[0]; e.Path != `D:\Music\A - Whole Path.mp3` {
		t.Fatalf("path %q", e.Path)
	}
}

// TestWatchPrimeFixesFirstSighting: what is in the file when Prime returns
// is old; what is appended after it is a play, even if Run starts later.
func TestWatchPrimeFixesFirstSighting(t *testing.T) {
	dir := t.TempDir()
	hist := filepath.Join(dir, "2025-11-25.m3u")
	state := filepath.Join(t.TempDir(), "state.json")
	writeFile(t, hist, "\uFEFF"+vdjEntry(1764103260, "Old", "One"))
	w, err := NewWatcher(WatchConfig{Path: dir, StateFile: state})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Prime(); err != nil {
		t.Fatal(err)
	}
	appendFile(t, hist, vdjEntry(1764103500, "New", "Two"))
	r := start(t, WatchConfig{Path: dir, StateFile: state}, &collector{})
	r.waitTitles(t, "Two")
}

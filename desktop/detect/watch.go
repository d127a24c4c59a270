package detect

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/pika-dj/pika/bus"
)

// Source is something that reports plays: this package's history-file
// watcher now, Serato, Traktor and others later.
type Source interface {
	Name() string
	// Run reports each play to emit, in order, until ctx ends. When emit
	// fails, the same play is offered again later.
	Run(ctx context.Context, emit func(context.Context, Entry) error) error
	Status() Status
}

// Status is what a source is doing, for the DJ's screen.
type Status struct {
	Source     string    // Name()
	Path       string    // what it watches
	File       string    // the file it reads now (the newest history file)
	LastEntry  *Entry    // the last entry handed over, nil before the first
	LastReadAt time.Time // the last poll that read without error
	Err        string    // why it is not working, "" when it is
}

// Copy is s with its own copy of LastEntry, so a caller holding it shares
// nothing with the source that keeps updating it.
func (s Status) Copy() Status {
	if s.LastEntry != nil {
		e := *s.LastEntry
		s.LastEntry = &e
	}
	return s
}

// WatchConfig configures a Watcher.
type WatchConfig struct {
	Path      string           // a history file or a folder of them
	StateFile string           // JSON file in the data folder remembering how far each file was read; "" keeps it in memory only
	Import    bool             // first time a file is seen, bring its existing entries in as plays
	Poll      time.Duration    // default 1s (the truth); fsnotify events only make it poll sooner
	Logger    *slog.Logger     // nil = discard
	Now       func() time.Time // nil = time.Now
}

// DefaultPoll is how often a watcher looks at its files when nothing tells it
// to look sooner.
const DefaultPoll = time.Second

// stablePolls is how many regular polls a file must stay the same size
// before its unterminated last path line counts as complete.
const stablePolls = 2

// readChunk bounds how much of one file a poll reads, so importing a big file
// does not load it whole; the rest comes on the next poll.
const readChunk = 1 << 20

// tailLen is how many bytes before the read offset are remembered, to notice
// a file rewritten with different content that did not shrink.
const tailLen = 32

// Watcher follows a history file, or the newest file in a folder of them.
// It implements Source.
type Watcher struct {
	cfg  WatchConfig
	path string // cfg.Path made absolute: the key in the state file
	log  *slog.Logger
	now  func() time.Time

	running sync.Mutex // held by Run: one Run at a time

	mu     sync.Mutex // guards name and status
	name   string
	status Status

	// Only Run's goroutine touches what follows.
	state     stateFile
	startedAt time.Time // file-system clock when Run started
	missing   bool      // the path was missing at some poll of this Run
	named     bool      // the name was looked at since the path exists
	saveErr   error     // the last state save's failure, nil after a success
	stable    map[string]int
	lastSize  map[string]int64
}

// stateFile is the JSON kept in WatchConfig.StateFile.
type stateFile struct {
	Version int                      `json:"version"`
	Watched map[string]*watchedState `json:"watched"`
	Files   map[string]*fileState    `json:"files"`
}

// watchedState marks a watched path as seen: files of it not in Files are
// new, and are read from their start.
type watchedState struct {
	FirstSeen time.Time `json:"firstSeen"`
}

// fileState is how far one history file was read.
type fileState struct {
	Offset  int64     `json:"offset"`
	Size    int64     `json:"size"`
	ModTime time.Time `json:"modTime"`
	Skip    bool      `json:"skip,omitempty"` // Offset is inside an overlong line
	Cont    bool      `json:"cont,omitempty"` // Offset is just after a line counted without its newline
	Tail    []byte    `json:"tail,omitempty"` // the bytes just before Offset
}

const stateVersion = 1

// NewWatcher checks cfg and returns a watcher; nothing is read until Run.
func NewWatcher(cfg WatchConfig) (*Watcher, error) {
	if strings.TrimSpace(cfg.Path) == "" {
		return nil, errors.New("detect: no history path to watch")
	}
	if cfg.Poll < 0 {
		return nil, fmt.Errorf("detect: poll interval %s is negative", cfg.Poll)
	}
	if cfg.Poll == 0 {
		cfg.Poll = DefaultPoll
	}
	abs, err := filepath.Abs(cfg.Path)
	if err != nil {
		return nil, fmt.Errorf("detect: resolve history path %q: %w", cfg.Path, err)
	}
	w := &Watcher{cfg: cfg, path: abs, log: cfg.Logger, now: cfg.Now, name: SourceM3U}
	if w.log == nil {
		w.log = slog.New(slog.DiscardHandler)
	}
	if w.now == nil {
		w.now = time.Now
	}
	if looksVirtualDJ(abs) {
		w.name = SourceVirtualDJ
	}
	w.status = Status{Source: w.name, Path: abs}
	return w, nil
}

// Name is "virtualdj" when the path looks like VirtualDJ's (a History folder
// of a VirtualDJ home, or a file with #EXTVDJ lines), else "m3u".
func (w *Watcher) Name() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.name
}

// Status reports what the watcher is doing.
func (w *Watcher) Status() Status {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.status.Copy()
}

func (w *Watcher) setStatus(f func(*Status)) {
	w.mu.Lock()
	defer w.mu.Unlock()
	f(&w.status)
	w.status.Source = w.name
}

// looksVirtualDJ reports whether p is, or is inside, the History folder of a
// VirtualDJ home, or is a file with #EXTVDJ lines.
func looksVirtualDJ(p string) bool {
	info, err := os.Stat(p)
	if err != nil {
		return false
	}
	dir := p
	if !info.IsDir() {
		dir = filepath.Dir(p)
		if fileHasVDJ(p) {
			return true
		}
	}
	if !strings.EqualFold(filepath.Base(dir), "History") {
		return false
	}
	home := filepath.Dir(dir)
	if strings.EqualFold(filepath.Base(home), "VirtualDJ") {
		return true
	}
	for _, marker := range []string{"database.xml", "settings.xml"} {
		if _, err := os.Stat(filepath.Join(home, marker)); err == nil {
			return true
		}
	}
	return false
}

func fileHasVDJ(p string) bool {
	f, err := os.Open(p)
	if err != nil {
		return false
	}
	defer f.Close()
	head := make([]byte, 64<<10)
	n, _ := io.ReadFull(f, head)
	// UTF-16 files are the rare case; their entries upgrade the name later.
	return bytes.Contains(bytes.ToUpper(head[:n]), []byte("#EXTVDJ:"))
}

// Run watches until ctx ends, handing each new entry to emit, once, in
// order. It returns nil when ctx ends; problems with the files or the state
// file show in Status and the log, and Run keeps trying.
func (w *Watcher) Run(ctx context.Context, emit func(context.Context, Entry) error) error {
	if !w.running.TryLock() {
		return errors.New("detect: watcher is already running")
	}
	defer w.running.Unlock()

	w.startedAt = time.Now() // compared with file mtimes, so the real clock
	w.missing, w.named, w.saveErr = false, false, nil
	w.stable = map[string]int{}
	w.lastSize = map[string]int64{}
	w.loadState()

	// fsnotify only makes the next poll come sooner; when it is unavailable
	// (inotify limits, network drives) polling alone still sees everything.
	var events <-chan fsnotify.Event
	var fserrs <-chan error
	fw, err := fsnotify.NewWatcher()
	if err != nil {
		w.log.Warn("file events unavailable; polling only", "err", err)
	} else {
		defer fw.Close()
		events, fserrs = fw.Events, fw.Errors
	}

	tick := time.NewTicker(w.cfg.Poll)
	defer tick.Stop()
	hint := min(20*time.Millisecond, w.cfg.Poll/2)
	var soon *time.Timer
	var soonC <-chan time.Time
	defer func() {
		if soon != nil {
			soon.Stop()
		}
	}()

	w.poll(ctx, emit, true)
	w.ensureWatch(fw)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
			w.poll(ctx, emit, true)
			w.ensureWatch(fw)
		case <-soonC:
			soonC = nil
			w.poll(ctx, emit, false)
		case ev, ok := <-events:
			if !ok {
				events = nil
				continue
			}
			if w.relevant(ev.Name) && soonC == nil {
				soon = time.NewTimer(hint)
				soonC = soon.C
			}
		case err, ok := <-fserrs:
			if !ok {
				fserrs = nil
				continue
			}
			w.log.Debug("file event error", "err", err)
		}
	}
}

// Prime records the first sighting of the watched path now, if it was
// never seen, instead of at Run's first poll. A caller that primes before
// it tells the DJ it is ready makes "entries already in the file are not
// plays" exact: everything appended after that moment is a play, however
// soon Run gets to it. A missing path is left for Run to report.
func (w *Watcher) Prime() error {
	if !w.running.TryLock() {
		return errors.New("detect: watcher is already running")
	}
	defer w.running.Unlock()
	w.startedAt = time.Now()
	w.missing, w.saveErr = false, nil
	w.loadState()
	if w.state.Watched[w.path] != nil {
		return nil
	}
	files, err := w.list()
	if err != nil {
		return nil
	}
	w.firstSighting(files)
	return nil
}

// ensureWatch (re)adds the folder to fsnotify: it may have appeared after
// the start, or been deleted and re-created, which drops the watch.
func (w *Watcher) ensureWatch(fw *fsnotify.Watcher) {
	if fw == nil {
		return
	}
	dir := w.path
	if info, err := os.Stat(w.path); err != nil {
		return
	} else if !info.IsDir() {
		dir = filepath.Dir(w.path)
	}
	if slices.Contains(fw.WatchList(), dir) {
		return
	}
	if err := fw.Add(dir); err != nil {
		w.log.Debug("cannot watch folder for changes; polling only", "dir", dir, "err", err)
	}
}

func (w *Watcher) relevant(name string) bool {
	if name == w.path {
		return true
	}
	return filepath.Dir(name) == w.path && isHistoryName(name)
}

func isHistoryName(name string) bool {
	ext := strings.ToLower(filepath.Ext(name))
	return (ext == ".m3u" || ext == ".m3u8") && !strings.HasPrefix(filepath.Base(name), ".")
}

func (w *Watcher) loadState() {
	w.state = stateFile{Version: stateVersion, Watched: map[string]*watchedState{}, Files: map[string]*fileState{}}
	if w.cfg.StateFile == "" {
		return
	}
	b, err := os.ReadFile(w.cfg.StateFile)
	if errors.Is(err, fs.ErrNotExist) {
		return
	}
	if err != nil {
		w.log.Error("cannot read detector state; starting afresh", "file", w.cfg.StateFile, "err", err)
		return
	}
	var st stateFile
	if err := json.Unmarshal(b, &st); err != nil || st.Version != stateVersion {
		// Starting afresh treats files as first seen: old entries are not
		// replayed as plays, which is the lesser harm.
		w.log.Error("detector state is damaged; starting afresh", "file", w.cfg.StateFile, "err", err, "version", st.Version)
		return
	}
	if st.Watched == nil {
		st.Watched = map[string]*watchedState{}
	}
	if st.Files == nil {
		st.Files = map[string]*fileState{}
	}
	for k, v := range st.Files {
		if v == nil {
			delete(st.Files, k)
		}
	}
	w.state = st
}

func (w *Watcher) saveState() error {
	if w.cfg.StateFile == "" {
		return nil
	}
	b, err := json.MarshalIndent(w.state, "", "  ")
	if err != nil {
		return fmt.Errorf("detect: encode state: %w", err)
	}
	w.saveErr = bus.WriteFileAtomic(w.cfg.StateFile, b)
	if w.saveErr != nil {
		w.saveErr = fmt.Errorf("detect: save state to %s: %w", w.cfg.StateFile, w.saveErr)
	}
	return w.saveErr
}

// histFile is one history file found in a poll.
type histFile struct {
	path    string
	size    int64
	modTime time.Time
}

// errStop ends a poll early: emit failed, or ctx ended.
var errStop = errors.New("stop")

// poll looks at the files once and hands over what is new. tick says it is a
// regular poll, the only kind that counts towards a file being stable.
func (w *Watcher) poll(ctx context.Context, emit func(context.Context, Entry) error, tick bool) {
	var problems []string
	files, err := w.list()
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			w.missing = true
		}
		w.log.Debug("history path unavailable", "path", w.path, "err", err)
		w.setStatus(func(s *Status) { s.Err = err.Error() })
		return
	}
	if w.state.Watched[w.path] == nil {
		w.firstSighting(files)
	}
	if !w.named {
		w.named = true
		if looksVirtualDJ(w.path) {
			w.mu.Lock()
			w.name = SourceVirtualDJ
			w.mu.Unlock()
		}
	}
	w.forget(files)
	newest := ""
	if len(files) > 0 {
		newest = files[len(files)-1].path
	}
	w.setStatus(func(s *Status) { s.File = newest })
	for _, f := range files {
		if ctx.Err() != nil {
			return
		}
		if err := w.readFile(ctx, f, emit, tick); err != nil {
			if errors.Is(err, errStop) {
				return // Status already says why
			}
			w.log.Warn("cannot read history file", "file", f.path, "err", err)
			problems = append(problems, err.Error())
		}
	}
	if w.saveErr != nil {
		problems = append(problems, w.saveErr.Error())
	}
	w.setStatus(func(s *Status) {
		s.Err = strings.Join(problems, "; ")
		if len(problems) == 0 {
			s.LastReadAt = w.now()
		}
	})
}

// list returns the history files, oldest first: by modification time, ties
// by name, so the last is the one being written.
func (w *Watcher) list() ([]histFile, error) {
	info, err := os.Stat(w.path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("detect: history path %s does not exist (yet); waiting for it: %w", w.path, err)
		}
		return nil, fmt.Errorf("detect: look at history path: %w", err)
	}
	if !info.IsDir() {
		return []histFile{{path: w.path, size: info.Size(), modTime: info.ModTime()}}, nil
	}
	ents, err := os.ReadDir(w.path)
	if err != nil {
		return nil, fmt.Errorf("detect: list history folder: %w", err)
	}
	var files []histFile
	for _, de := range ents {
		if !de.Type().IsRegular() || !isHistoryName(de.Name()) {
			continue
		}
		fi, err := de.Info()
		if err != nil {
			continue // removed since the listing
		}
		files = append(files, histFile{path: filepath.Join(w.path, de.Name()), size: fi.Size(), modTime: fi.ModTime()})
	}
	slices.SortFunc(files, func(a, b histFile) int {
		if c := a.modTime.Compare(b.modTime); c != 0 {
			return c
		}
		return strings.Compare(a.path, b.path)
	})
	return files, nil
}

// firstSighting records the watched path as seen. What its files hold now
// was played before Pika! watched, so it is skipped unless Import — except
// files changed since Run started, when the path appeared during this run.
func (w *Watcher) firstSighting(files []histFile) {
	w.state.Watched[w.path] = &watchedState{FirstSeen: w.now().UTC()}
	for _, f := range files {
		fst := &fileState{Size: f.size, ModTime: f.modTime}
		// When the path appeared during this run, a file written since the
		// start is news. The slack covers file systems stamping mtimes
		// from a coarser clock than time.Now.
		old := !w.missing || f.modTime.Before(w.startedAt.Add(-2*time.Second))
		if old && !w.cfg.Import {
			fst.Offset, fst.Cont = skipExisting(f.path, f.size)
		}
		w.state.Files[f.path] = fst
	}
	w.log.Info("watching history for the first time", "path", w.path, "files", len(files), "import", w.cfg.Import)
	if err := w.saveState(); err != nil {
		w.log.Warn("cannot save detector state", "err", err)
	}
}

// forget drops state of this path's files that are gone, so a file
// re-created under the same name is read from its start.
func (w *Watcher) forget(files []histFile) {
	changed := false
	for p := range w.state.Files {
		if p != w.path && filepath.Dir(p) != w.path {
			continue // another watched path's
		}
		if !slices.ContainsFunc(files, func(f histFile) bool { return f.path == p }) {
			delete(w.state.Files, p)
			delete(w.stable, p)
			delete(w.lastSize, p)
			changed = true
		}
	}
	if changed {
		if err := w.saveState(); err != nil {
			w.log.Warn("cannot save detector state", "err", err)
		}
	}
}

// skipExisting is where reading starts in a file whose entries are all old:
// its end, and whether that end is inside a line still being written, whose
// rest must not later pass for a whole line.
func skipExisting(p string, size int64) (offset int64, cont bool) {
	if size == 0 {
		return 0, false
	}
	f, err := os.Open(p)
	if err != nil {
		return size, false // the read will report the problem
	}
	defer f.Close()
	head := make([]byte, 3)
	n, _ := f.ReadAt(head, 0)
	enc := detectEncoding(head[:n])
	if enc != encUTF8 && size%2 != 0 {
		size-- // half a UTF-16 code unit; offsets stay aligned
	}
	if bom := bomLen(head[:n]); size <= int64(bom) {
		return size, false // nothing but a BOM: the next byte starts a line
	}
	last := make([]byte, 2)
	if size < 2 {
		last = last[:1]
	}
	if _, err := f.ReadAt(last, size-int64(len(last))); err != nil {
		return size, false
	}
	switch enc {
	case encUTF16LE:
		return size, !bytes.Equal(last, []byte{'\n', 0})
	case encUTF16BE:
		return size, !bytes.Equal(last, []byte{0, '\n'})
	}
	return size, last[len(last)-1] != '\n'
}

func bomLen(head []byte) int {
	switch {
	case bytes.HasPrefix(head, []byte{0xEF, 0xBB, 0xBF}):
		return 3
	case detectEncoding(head) != encUTF8:
		return 2
	}
	return 0
}

func detectEncoding(head []byte) textEncoding {
	switch {
	case bytes.HasPrefix(head, []byte{0xFF, 0xFE}):
		return encUTF16LE
	case bytes.HasPrefix(head, []byte{0xFE, 0xFF}):
		return encUTF16BE
	}
	return encUTF8
}

// readFile hands over the new entries of one file. It returns errStop when
// the poll must end (emit failed, ctx ended), another error when the file
// could not be read.
func (w *Watcher) readFile(ctx context.Context, f histFile, emit func(context.Context, Entry) error, tick bool) error {
	st := w.state.Files[f.path]
	if st == nil {
		// New since the path was first seen (a new dated file, or one made
		// while Pika! was down): every entry in it is a play.
		st = &fileState{}
		w.state.Files[f.path] = st
		w.log.Info("new history file", "file", f.path)
	}
	grew := f.size != w.lastSize[f.path]
	w.lastSize[f.path] = f.size
	switch {
	case grew:
		w.stable[f.path] = 0
	case tick: // polls hinted by file events come at any rate; only ticks measure time
		w.stable[f.path]++
	}
	if f.size < st.Offset {
		w.log.Info("history file shrank; reading it again from the start", "file", f.path, "size", f.size, "offset", st.Offset)
		*st = fileState{}
	}
	if f.size == st.Offset {
		if st.Size != f.size || !st.ModTime.Equal(f.modTime) {
			st.Size, st.ModTime = f.size, f.modTime
		}
		return nil
	}

	for {
		more, err := w.readChunk(ctx, f, st, emit)
		if err != nil || !more {
			return err
		}
	}
}

// readChunk reads up to readChunk bytes of f from st.Offset and hands over
// the entries in them. more says the file has more to read now.
func (w *Watcher) readChunk(ctx context.Context, f histFile, st *fileState, emit func(context.Context, Entry) error) (more bool, err error) {
	file, err := os.Open(f.path)
	if err != nil {
		return false, fmt.Errorf("detect: open history file: %w", err)
	}
	defer file.Close()
	head := make([]byte, 3)
	n, err := file.ReadAt(head, 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return false, fmt.Errorf("detect: read history file %s: %w", f.path, err)
	}
	enc := detectEncoding(head[:n])

	start := st.Offset
	from := max(0, start-tailLen)
	end := min(f.size, start+readChunk)
	buf := make([]byte, end-from)
	n, err = file.ReadAt(buf, from)
	if err != nil && !errors.Is(err, io.EOF) {
		return false, fmt.Errorf("detect: read history file %s: %w", f.path, err)
	}
	buf = buf[:n]
	pre := int(start - from)
	if len(buf) < pre || (len(st.Tail) == pre && pre > 0 && !bytes.Equal(buf[:pre], st.Tail)) {
		// Different bytes where we stopped: the file was rewritten. Read it
		// again; entries with lastplaytime keep their IDs, so downstream
		// drops the repeats.
		w.log.Info("history file was rewritten; reading it again from the start", "file", f.path)
		*st = fileState{}
		return true, nil
	}
	data := buf[pre:]

	p := resumeParser(f.path, start, enc, st.Skip, st.Cont)
	p.warn = func(msg string, args ...any) { w.log.Warn(msg, args...) }
	items := p.feed(data)
	atEOF := from+int64(len(buf)) >= f.size
	if atEOF && w.stable[f.path] >= stablePolls {
		items = append(items, p.flush()...)
	}
	// buf holds the file from `from`, so the tail before any offset in it is
	// at hand.
	tailAt := func(off int64) []byte {
		i := int(off - from)
		return bytes.Clone(buf[max(0, i-tailLen):i])
	}
	for _, it := range items {
		if ctx.Err() != nil {
			return false, errStop
		}
		if err := emit(ctx, it.Entry); err != nil {
			w.log.Warn("could not hand over a play; will retry", "file", f.path, "title", it.Title, "err", err)
			w.setStatus(func(s *Status) { s.Err = fmt.Sprintf("detect: hand over %q: %v", it.Title, err) })
			return false, errStop
		}
		*st = fileState{Offset: it.end, Size: f.size, ModTime: f.modTime, Cont: it.cont, Tail: tailAt(it.end)}
		e := it.Entry
		w.mu.Lock()
		if e.Source == SourceVirtualDJ {
			w.name = SourceVirtualDJ
		}
		w.status.LastEntry = &e
		w.mu.Unlock()
		if err := w.saveState(); err != nil {
			w.log.Warn("cannot save detector state; a restart may hand this play over again", "err", err)
		}
	}
	off, skip, cont := p.state()
	if off != st.Offset || skip != st.Skip || cont != st.Cont {
		*st = fileState{Offset: off, Size: f.size, ModTime: f.modTime, Skip: skip, Cont: cont, Tail: tailAt(off)}
		if err := w.saveState(); err != nil {
			w.log.Warn("cannot save detector state", "err", err)
		}
	}
	// Progress is certain within a chunk (a pending entry spans well under
	// readChunk), so stopping when there is none only guards a shrinking file.
	return !atEOF && st.Offset > start, nil
}

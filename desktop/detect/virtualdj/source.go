package virtualdj

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/pika-dj/pika/bus"
	"github.com/pika-dj/pika/desktop/detect"
)

// Source follows VirtualDJ two ways at once and announces each play once.
//
// The Network Control plugin says which deck is audible within a second,
// so while it answers, its plays are the ones announced and the history
// file's are left out. When it stops answering (not installed, VirtualDJ
// closed, a password mismatch), the history file VirtualDJ appends to once
// it counts a track played takes over, later but sure. Across a switch a
// play is never announced twice: a history entry is dropped when the
// plugin announced the same file (or, without paths, the same artist and
// title) within Config.SameWithin of it, and a plugin play is dropped when
// the history file announced it so. Plays the plugin announced are
// remembered in the data folder, so a restart of Pika! mid-track does not
// announce the track again either.
type Source struct {
	cfg     Config
	log     *slog.Logger
	home    string
	histDir string
	reader  *deckReader
	plugin  *detect.Polled
	history *detect.Watcher
	db      *database

	running sync.Mutex
	emitMu  sync.Mutex // one hand-over at a time, so the two sides see each other's plays

	mu     sync.Mutex // guards what follows
	lastOK time.Time  // the plugin's last good answer
	up     bool       // the plugin counted as followed at its last read
	recent []announcement
	last   *detect.Entry
}

// announcement is a play handed over, and which side found it.
type announcement struct {
	e   detect.Entry
	at  time.Time
	via string // "plugin" or "history"
}

// New makes the source for the VirtualDJ home (or History folder, or
// history file) at path; "" finds it on this computer.
func New(cfg Config, path string, opt detect.Options) (*Source, error) {
	cfg = cfg.withDefaults()
	log := opt.Log().With("source", ID)
	if path == "" {
		home, _ := os.UserHomeDir()
		found := Locate(detect.Env{Home: home, Getenv: os.Getenv, GOOS: runtime.GOOS})
		if len(found) == 0 {
			return nil, errors.New("VirtualDJ's home folder was not found on this computer; say where it is with --watch")
		}
		path = found[0].Path
	}
	home, histDir := layout(path)
	s := &Source{cfg: cfg, log: log, home: home, histDir: histDir, db: &database{path: filepath.Join(home, "database.xml"), log: log}}

	var stateAt, watchState string
	if opt.DataDir != "" {
		sum := sha256.Sum256([]byte(histDir))
		stateAt = filepath.Join(opt.DataDir, "virtualdj-plugin.json")
		watchState = filepath.Join(opt.DataDir, "virtualdj-history-"+hex.EncodeToString(sum[:6])+".json")
	}
	c := newClient(cfg.Addr, cfg.Token, cfg.Timeout)
	s.reader = newDeckReader(c, cfg.Decks, cfg.Now, log.With("part", "plugin"), stateAt)
	s.reader.answered = s.answered
	var err error
	s.plugin, err = detect.NewPolled(detect.PolledConfig{
		Name:      ID,
		Path:      "VirtualDJ's Network Control plugin at " + cfg.Addr,
		Read:      s.reader.read,
		Policy:    opt.Policy,
		ReadEvery: cfg.ReadEvery,
		Logger:    log.With("part", "plugin"),
		Now:       cfg.Now,
	})
	if err != nil {
		return nil, err
	}
	s.history, err = detect.NewWatcher(detect.WatchConfig{
		Path:      histDir,
		StateFile: watchState,
		Import:    opt.Import,
		Poll:      cfg.HistoryPoll,
		Logger:    log.With("part", "history"),
		Now:       cfg.Now,
	})
	if err != nil {
		return nil, fmt.Errorf("follow VirtualDJ's history in %s: %w", histDir, err)
	}
	// What the history holds now was played before Pika! started.
	if err := s.history.Prime(); err != nil {
		return nil, fmt.Errorf("follow VirtualDJ's history in %s: %w", histDir, err)
	}
	return s, nil
}

// layout tells the home and the history path apart in what the DJ named:
// the home, its History folder, or one history file.
func layout(p string) (home, history string) {
	p = filepath.Clean(p)
	if info, err := os.Stat(p); err == nil && !info.IsDir() {
		dir := filepath.Dir(p)
		if strings.EqualFold(filepath.Base(dir), "History") {
			return filepath.Dir(dir), p
		}
		return dir, p
	}
	if strings.EqualFold(filepath.Base(p), "History") {
		return filepath.Dir(p), p
	}
	return p, filepath.Join(p, "History")
}

// Name is "virtualdj".
func (s *Source) Name() string { return ID }

// Status says which way VirtualDJ is followed, and why not the plugin.
func (s *Source) Status() detect.Status {
	s.mu.Lock()
	up := s.pluginUpLocked(s.cfg.Now())
	var last *detect.Entry
	if s.last != nil {
		e := *s.last
		last = &e
	}
	s.mu.Unlock()

	var st detect.Status
	if up {
		st = s.plugin.Status()
		st.Path = fmt.Sprintf("VirtualDJ's Network Control plugin at %s (which deck is audible)", s.cfg.Addr)
	} else {
		st = s.history.Status()
		why := s.plugin.Status().Err
		if why == "" {
			why = "it has not answered yet"
		}
		st.Path = fmt.Sprintf("VirtualDJ's history in %s; plays show once VirtualDJ counts them played, because %s", s.histDir, why)
	}
	st.Source = ID
	st.LastEntry = last
	return st
}

// Run follows the plugin and the history file until ctx ends.
func (s *Source) Run(ctx context.Context, emit func(context.Context, detect.Entry) error) error {
	if !s.running.TryLock() {
		return errors.New("VirtualDJ is already being followed")
	}
	defer s.running.Unlock()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer s.reader.c.http.CloseIdleConnections()
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := s.plugin.Run(ctx, s.fromPlugin(emit)); err != nil {
			s.log.Error("stopped asking VirtualDJ's plugin", "err", err)
		}
	})
	wg.Go(func() {
		if err := s.history.Run(ctx, s.fromHistory(emit)); err != nil {
			s.log.Error("stopped reading VirtualDJ's history", "err", err)
		}
	})
	wg.Wait()
	return nil
}

// answered records whether the plugin answered a whole read, and says so
// when that changes which way VirtualDJ is followed.
func (s *Source) answered(ok bool, at time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ok {
		s.lastOK = at
	}
	up := s.pluginUpLocked(at)
	if up != s.up {
		if up {
			s.log.Info("following VirtualDJ through its Network Control plugin", "addr", s.cfg.Addr)
		} else {
			s.log.Warn("VirtualDJ's Network Control plugin stopped answering; following the history file", "addr", s.cfg.Addr, "history", s.histDir)
		}
		s.up = up
	}
}

func (s *Source) pluginUpLocked(now time.Time) bool {
	return !s.lastOK.IsZero() && now.Sub(s.lastOK) <= s.cfg.Grace
}

// fromPlugin hands over the plugin's plays, less those the history file
// (or a previous run) already announced.
func (s *Source) fromPlugin(emit func(context.Context, detect.Entry) error) func(context.Context, detect.Entry) error {
	return func(ctx context.Context, e detect.Entry) error {
		s.emitMu.Lock()
		defer s.emitMu.Unlock()
		if s.reader.announced(e.ID) {
			return nil
		}
		if s.seen(e, "history") {
			s.log.Info("already announced from the history file", "title", e.Title, "deck", e.Deck)
			s.reader.markAnnounced(e.ID)
			return nil
		}
		e = s.enrich(e)
		if err := emit(ctx, e); err != nil {
			return err
		}
		s.reader.markAnnounced(e.ID)
		s.remember(e, "plugin")
		return nil
	}
}

// fromHistory hands over the history file's plays while the plugin is not
// answering, less those the plugin announced.
func (s *Source) fromHistory(emit func(context.Context, detect.Entry) error) func(context.Context, detect.Entry) error {
	return func(ctx context.Context, e detect.Entry) error {
		s.emitMu.Lock()
		defer s.emitMu.Unlock()
		e.Source = ID
		s.mu.Lock()
		up := s.pluginUpLocked(s.cfg.Now())
		s.mu.Unlock()
		if up {
			s.log.Debug("history entry left to the plugin", "title", e.Title)
			return nil
		}
		if s.seen(e, "plugin") {
			s.log.Info("already announced from the plugin", "title", e.Title)
			return nil
		}
		e = s.enrich(e)
		if err := emit(ctx, e); err != nil {
			return err
		}
		s.remember(e, "history")
		return nil
	}
}

// when is the moment a play is compared by: its own time, else now.
func (s *Source) when(e detect.Entry) time.Time {
	if !e.PlayedAt.IsZero() {
		return e.PlayedAt
	}
	return s.cfg.Now()
}

// seen reports whether the other side (via) announced e's track within
// SameWithin of it.
func (s *Source) seen(e detect.Entry, via string) bool {
	at := s.when(e)
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, a := range s.recent {
		d := at.Sub(a.at)
		if a.via == via && d <= s.cfg.SameWithin && d >= -s.cfg.SameWithin && sameTrack(e, a.e) {
			return true
		}
	}
	return false
}

func (s *Source) remember(e detect.Entry, via string) {
	at := s.when(e)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.last = &e
	keep := s.recent[:0]
	for _, a := range s.recent {
		if at.Sub(a.at) <= 2*s.cfg.SameWithin {
			keep = append(keep, a)
		}
	}
	s.recent = append(keep, announcement{e: e, at: at, via: via})
	if len(s.recent) > 64 {
		s.recent = s.recent[len(s.recent)-64:]
	}
}

// sameTrack: the same file, or without paths on both sides the same
// artist and title (one title may carry the remix the other lacks).
func sameTrack(a, b detect.Entry) bool {
	if a.Path != "" && b.Path != "" {
		return pathKey(a.Path) == pathKey(b.Path)
	}
	if bus.Normalize(a.Artist) != bus.Normalize(b.Artist) {
		return false
	}
	ta, tb := bus.Normalize(a.Title), bus.Normalize(b.Title)
	return ta != "" && tb != "" && (strings.HasPrefix(ta, tb) || strings.HasPrefix(tb, ta))
}

// enrich fills BPM and key from database.xml when the play lacks them.
func (s *Source) enrich(e detect.Entry) detect.Entry {
	if (e.BPM > 0 && e.Key != "") || e.Path == "" {
		return e
	}
	song, ok := s.db.lookup(e.Path)
	if !ok {
		return e
	}
	if e.BPM <= 0 {
		e.BPM = song.BPM
	}
	if e.Key == "" {
		e.Key = song.Key
	}
	return e
}

// database is database.xml, read again only when it changed.
type database struct {
	path string
	log  *slog.Logger

	mu    sync.Mutex
	mod   time.Time
	size  int64
	songs map[string]songInfo
}

func (d *database) lookup(path string) (songInfo, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	info, err := os.Stat(d.path)
	if err != nil {
		return songInfo{}, false
	}
	if !info.ModTime().Equal(d.mod) || info.Size() != d.size {
		d.mod, d.size = info.ModTime(), info.Size()
		d.songs = d.read()
	}
	s, ok := d.songs[pathKey(path)]
	return s, ok
}

func (d *database) read() map[string]songInfo {
	f, err := os.Open(d.path)
	if err != nil {
		d.log.Warn("cannot read VirtualDJ's database.xml; BPM and key only from the plays", "err", err)
		return nil
	}
	defer f.Close()
	songs, err := parseDatabase(io.LimitReader(f, maxDatabase))
	if err != nil {
		d.log.Warn("VirtualDJ's database.xml is damaged; using the songs before the damage", "err", err, "songs", len(songs))
	}
	return songs
}

// Package mixxx owns following Mixxx: finding its library database
// (mixxxdb.sqlite) on a machine and turning each row Mixxx appends to its
// History playlist into one play.
//
// Mixxx appends a track to the current history playlist (Playlists.hidden
// = 2) when it becomes the loudest audible deck, so every new history row is
// already a decision "this went out to the room": the source reports it as
// played at once, with no deck and no level.
package mixxx

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/pika-dj/pika/desktop/detect"
)

// ID is the product id, Entry.Source of every play.
const ID = "mixxx"

// dbName is Mixxx's library database in its settings folder.
const dbName = "mixxxdb.sqlite"

// Product is Mixxx.
func Product() detect.Product {
	return detect.Product{ID: ID, Name: "Mixxx", Locate: Locate, Open: Open}
}

// settingsDirs lists where Mixxx keeps its settings folder on env, most
// likely first.
func settingsDirs(env detect.Env) []string {
	var dirs []string
	add := func(base string, parts ...string) {
		if base != "" {
			dirs = append(dirs, env.Join(append([]string{base}, parts...)...))
		}
	}
	switch env.GOOS {
	case "windows":
		local := env.Get("LOCALAPPDATA")
		if local == "" && env.Home != "" {
			local = env.Join(env.Home, "AppData", "Local")
		}
		add(local, "Mixxx")
	case "darwin":
		// The sandboxed app (2.3 and later, as shipped) keeps it in its container.
		add(env.Home, "Library", "Containers", "org.mixxx.mixxx", "Data", "Library", "Application Support", "Mixxx")
		// Unsandboxed builds (self-built, some older releases); unverified.
		add(env.Home, "Library", "Application Support", "Mixxx")
	default:
		add(env.Home, ".mixxx")
		// The Flathub package keeps its home under ~/.var/app; unverified.
		add(env.Home, ".var", "app", "org.mixxx.Mixxx", ".mixxx")
	}
	return dirs
}

// Locate looks for Mixxx's settings folder and library database. It only
// looks at files; it never opens the database.
func Locate(env detect.Env) []detect.Found {
	var found []detect.Found
	for _, dir := range settingsDirs(env) {
		info, err := os.Stat(dir)
		if err != nil || !info.IsDir() {
			continue
		}
		db := env.Join(dir, dbName)
		changed := newest(db, db+"-wal", db+"-journal")
		if changed.IsZero() {
			found = append(found, detect.Found{
				Product: ID, Path: dir, Ready: false,
				Why: "Mixxx's settings folder is there but has no library yet: start Mixxx once, then Pika! can follow it.",
			})
			continue
		}
		found = append(found, detect.Found{
			Product: ID, Path: db, Changed: changed, Ready: true,
			Why: "Mixxx's library " + dbName + ", whose History playlist lists each track that went out",
		})
	}
	return found
}

// newest is the latest modification time among paths that exist.
func newest(paths ...string) time.Time {
	var t time.Time
	for _, p := range paths {
		if info, err := os.Stat(p); err == nil && !info.IsDir() && info.ModTime().After(t) {
			t = info.ModTime()
		}
	}
	return t
}

// Open follows the Mixxx database at f.Path (the database file, or the
// settings folder holding it).
func Open(f detect.Found, opt detect.Options) (detect.Source, error) {
	return open(f.Path, opt, nil)
}

// open is Open with a clock, for tests.
func open(path string, opt detect.Options, now func() time.Time) (*detect.Polled, error) {
	if path == "" {
		return nil, errors.New("no Mixxx database given: name mixxxdb.sqlite or Mixxx's settings folder")
	}
	if info, err := os.Stat(path); err == nil && info.IsDir() {
		path = filepath.Join(path, dbName)
	}
	if now == nil {
		now = time.Now
	}
	log := opt.Log().With("source", ID)
	r := &reader{path: path, now: now, log: log}
	p, err := detect.NewPolled(detect.PolledConfig{
		Name: ID,
		Path: path,
		// Mixxx commits to the database file and its -journal or -wal
		// beside it: watch the folder.
		Hints:  []string{filepath.Dir(path)},
		Read:   r.read,
		Policy: opt.Policy,
		Logger: log,
		Now:    now,
	})
	if err != nil {
		return nil, fmt.Errorf("follow Mixxx at %s: %w", path, err)
	}
	return p, nil
}

// Package rekordbox owns following rekordbox 6 and 7 on the DJ's laptop:
// finding its library database (master.db), decrypting it in pure Go with
// the key the DJ provides (SQLCipher 4, pages and -wal frames), and turning
// each new row of its play history (djmdSongHistory) into a play.
//
// rekordbox logs a track only after it has played for a while (about a
// minute, set in its preferences), so that row is its own "played, not
// cued" verdict and the source reports no deck and no level. CDJ/XDJ
// hardware (Pro DJ Link) is not covered here.
package rekordbox

import (
	"context"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/pika-dj/pika/desktop/detect"
)

// ID is the product's --source value and every Entry's Source.
const ID = program

// KeyEnv and KeyFile are where the DJ puts rekordbox's database key: the
// environment variable, or a file of that name in Pika!'s data folder.
const (
	KeyEnv  = "PIKA_REKORDBOX_KEY"
	KeyFile = "rekordbox.key"
)

// Product is rekordbox 6/7 read from its library database.
func Product() detect.Product {
	return detect.Product{ID: ID, Name: "rekordbox", Locate: Locate, Open: Open}
}

// paths are where rekordbox's files are on env: its agent's options.json
// (which names the real master.db) and the default master.db. ok is false on
// systems rekordbox does not run on.
func paths(env detect.Env) (options, master string, ok bool) {
	switch env.GOOS {
	case "darwin":
		if env.Home == "" {
			return "", "", false
		}
		return env.Join(env.Home, "Library", "Application Support", "Pioneer", "rekordboxAgent", "storage", "options.json"),
			env.Join(env.Home, "Library", "Pioneer", "rekordbox", "master.db"), true
	case "windows":
		appdata := env.Get("APPDATA")
		if appdata == "" {
			if env.Home == "" {
				return "", "", false
			}
			appdata = env.Join(env.Home, "AppData", "Roaming")
		}
		return env.Join(appdata, "Pioneer", "rekordboxAgent", "storage", "options.json"),
			env.Join(appdata, "Pioneer", "rekordbox", "master.db"), true
	}
	return "", "", false
}

// Locate finds rekordbox's master.db on env: the one its options.json names,
// else the default place. It is Ready only when the key is provided.
func Locate(env detect.Env) []detect.Found {
	options, master, ok := paths(env)
	if !ok {
		return nil
	}
	var candidates []string
	if b, err := os.ReadFile(local(env, options)); err == nil {
		if p := dbPath(b); p != "" {
			candidates = append(candidates, p)
		}
	}
	if len(candidates) == 0 || candidates[0] != master {
		candidates = append(candidates, master)
	}
	_, keyWhy := keyFor(env)
	for _, p := range candidates {
		changed, ok := newest(local(env, p), local(env, p)+"-wal")
		if !ok {
			continue
		}
		f := detect.Found{Product: ID, Path: p, Changed: changed, Ready: keyWhy == ""}
		f.Why = fmt.Sprintf("rekordbox's library master.db, changed %s.", detect.Ago(time.Now(), changed))
		if keyWhy != "" {
			f.Why = "rekordbox's library master.db is there, but " + keyWhy + "."
		}
		return []detect.Found{f}
	}
	if _, err := os.Stat(local(env, options)); err == nil {
		return []detect.Found{{Product: ID, Path: master,
			Why: "rekordbox is installed but its library (master.db) was not found; start rekordbox 6 or 7 once so it makes one."}}
	}
	return nil
}

// local turns a path spelled for env.GOOS into one this machine can open:
// a Windows layout is checked on another system (the tests) with slashes.
func local(env detect.Env, p string) string {
	if env.GOOS == "windows" && runtime.GOOS != "windows" {
		return strings.ReplaceAll(p, `\`, "/")
	}
	return p
}

// newest is the latest modification time of the files that exist; ok is
// false when the first (the database itself) does not.
func newest(paths ...string) (t time.Time, ok bool) {
	for i, p := range paths {
		info, err := os.Stat(p)
		if err != nil || info.IsDir() {
			if i == 0 {
				return time.Time{}, false
			}
			continue
		}
		if info.ModTime().After(t) {
			t = info.ModTime()
		}
	}
	return t, true
}

// dbPath reads the db-path option from the contents of rekordbox's agent
// options.json: {"options": [["db-path", "…/master.db"], ["app_ver", …], …]}.
// It is "" when there is none or the file is not as expected.
func dbPath(b []byte) string {
	var o struct {
		Options [][]any `json:"options"`
	}
	if json.Unmarshal(b, &o) != nil {
		return ""
	}
	for _, pair := range o.Options {
		if len(pair) != 2 {
			continue
		}
		name, _ := pair[0].(string)
		value, _ := pair[1].(string)
		if name == "db-path" && strings.TrimSpace(value) != "" {
			return strings.TrimSpace(value)
		}
	}
	return ""
}

// howToKey tells the DJ how to provide the key.
const howToKey = "Pika! needs rekordbox's database key to read it: set " + KeyEnv +
	" to the 64-character key, or put it in a file named " + KeyFile + " in Pika!'s data folder (see the rekordbox page of Pika!'s docs)"

// loadKey reads the passphrase from getenv(KeyEnv), else from KeyFile in
// dataDir, and checks its form. It never logs or shows the key.
func loadKey(getenv func(string) string, dataDir string) (string, error) {
	k := ""
	if getenv != nil {
		k = getenv(KeyEnv)
	}
	from := KeyEnv
	if strings.TrimSpace(k) == "" && dataDir != "" {
		b, err := os.ReadFile(filepath.Join(dataDir, KeyFile))
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return "", fmt.Errorf("read rekordbox's key from %s: %w", KeyFile, err)
		}
		k, from = string(b), KeyFile
	}
	k = strings.Trim(strings.TrimSpace(k), `"'`)
	if k == "" {
		return "", errors.New("rekordbox's database key is missing: " + howToKey)
	}
	if _, err := hex.DecodeString(k); err != nil || len(k) != 64 {
		return "", fmt.Errorf("the rekordbox key in %s is not 64 hexadecimal characters (it has %d characters)", from, len(k))
	}
	return k, nil
}

// keyFor says whether the key is provided on env, looking where Open will:
// the environment, then Pika!'s data folder. why is "" when it is.
func keyFor(env detect.Env) (key, why string) {
	key, err := loadKey(env.Get, local(env, env.DataDir))
	if err != nil {
		return "", lowerFirst(err.Error())
	}
	return key, ""
}

func lowerFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToLower(s[:1]) + s[1:]
}

// Open follows the master.db at f.Path with the key from the environment
// or opt.DataDir.
func Open(f detect.Found, opt detect.Options) (detect.Source, error) {
	return open(f, opt, os.Getenv)
}

func open(f detect.Found, opt detect.Options, getenv func(string) string) (*Source, error) {
	if f.Path == "" {
		return nil, errors.New("no rekordbox master.db given")
	}
	key, err := loadKey(getenv, opt.DataDir)
	if err != nil {
		return nil, err
	}
	return newSource(f.Path, newCipherDB(f.Path, key), opt, detect.PolledConfig{})
}

// Source follows rekordbox's play history. It is a detect.Polled source
// that also removes its decrypted copy of the library when Run returns.
type Source struct {
	*detect.Polled
	db      database
	running sync.Mutex // so a second Run cannot close the first one's image
}

// newSource reads db (the master.db at path). cfg's Read, Name, Path and
// Hints are set here; its clock and interval are the caller's.
func newSource(path string, db database, opt detect.Options, cfg detect.PolledConfig) (*Source, error) {
	var f follower
	var last []detect.Deck
	cfg.Name, cfg.Path = ID, path
	cfg.Hints = []string{filepath.Dir(path)}
	cfg.Policy = opt.Policy
	cfg.Logger = opt.Log().With("source", ID)
	cfg.Read = func(ctx context.Context) ([]detect.Deck, error) {
		err := db.Read(ctx, func(ctx context.Context, sdb *sql.DB) error {
			rows, err := queryHistory(ctx, sdb, recent)
			if err != nil {
				return err
			}
			last = f.decks(rows)
			return nil
		})
		switch {
		case detect.IsBusy(err):
			return nil, fmt.Errorf("rekordbox's database is locked by rekordbox: %w", err)
		case err != nil && !errors.Is(err, errUnchanged):
			return nil, err
		}
		return last, nil
	}
	p, err := detect.NewPolled(cfg)
	if err != nil {
		return nil, err
	}
	return &Source{Polled: p, db: db}, nil
}

// Run follows rekordbox until ctx ends.
func (s *Source) Run(ctx context.Context, emit func(context.Context, detect.Entry) error) error {
	if !s.running.TryLock() {
		return fmt.Errorf("detect: %s is already running", ID)
	}
	defer s.running.Unlock()
	defer s.db.Close()
	return s.Polled.Run(ctx, emit)
}

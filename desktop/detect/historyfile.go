package detect

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"path/filepath"
)

// HistoryFileProduct is a plain M3U/M3U8 history file, or a folder of
// dated ones, that some program appends each play to. It is never found
// on its own: the DJ names it with --watch.
func HistoryFileProduct() Product {
	return Product{
		ID:   SourceM3U,
		Name: "History file (M3U/M3U8)",
		Open: func(f Found, opt Options) (Source, error) { return OpenHistory(f.Path, opt) },
	}
}

// OpenHistory makes a Watcher for the history file or folder at path, its
// reading positions kept in opt.DataDir, primed so that what is already
// in the files is not taken for new plays (unless opt.Import).
func OpenHistory(path string, opt Options) (*Watcher, error) {
	if path == "" {
		return nil, errors.New("no history file or folder given (--watch)")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("watch %s: %w", path, err)
	}
	state := ""
	if opt.DataDir != "" {
		sum := sha256.Sum256([]byte(abs))
		state = filepath.Join(opt.DataDir, "watch-"+hex.EncodeToString(sum[:6])+".json")
	}
	w, err := NewWatcher(WatchConfig{Path: abs, StateFile: state, Import: opt.Import, Logger: opt.Log().With("part", "watch")})
	if err != nil {
		return nil, fmt.Errorf("watch %s: %w", abs, err)
	}
	if err := w.Prime(); err != nil {
		return nil, fmt.Errorf("watch %s: %w", abs, err)
	}
	return w, nil
}

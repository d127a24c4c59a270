// Package traktor owns following Traktor Pro: Pika! is the Icecast server
// Traktor's Broadcasting sends its mix to, and each track Traktor announces
// in that Ogg Vorbis stream is a play. The broadcast names only artist and
// title; BPM, key, length and the file come from Traktor's collection.nml,
// found (with the product) in Traktor's Documents folder.
//
// Traktor writes nothing usable during a set (its history file is written
// afterwards), so the broadcast is the only live channel.
package traktor

import (
	"cmp"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/pika-dj/pika/desktop/detect"
)

// ProductID is Traktor's --source value and Entry.Source.
const ProductID = "traktor"

// Product is Traktor Pro.
func Product() detect.Product {
	return detect.Product{ID: ProductID, Name: "Traktor Pro", Locate: Locate, Open: Open}
}

// Open makes the broadcast listener. f.Path is Traktor's collection.nml
// (or the folder holding it), read for BPM and key; it may be empty.
func Open(f detect.Found, opt detect.Options) (detect.Source, error) {
	coll := f.Path
	if info, err := os.Stat(coll); err == nil && info.IsDir() {
		coll = filepath.Join(coll, "collection.nml")
	}
	if opt.Listen != "" {
		if _, _, err := net.SplitHostPort(opt.Listen); err != nil {
			return nil, fmt.Errorf("the address for Traktor's broadcast %q is not host:port (for example 127.0.0.1:8000): %w", opt.Listen, err)
		}
	}
	return New(Config{Listen: opt.Listen, Collection: coll, Policy: opt.Policy, Logger: opt.Log()}), nil
}

// niFolders are the folders that hold Traktor's "Traktor <version>"
// folders on env: Documents\Native Instruments on both systems, and on
// Windows also %LOCALAPPDATA%\Native Instruments and a Documents folder
// moved into OneDrive.
//
// The paths are this machine's (filepath.Join), not env.Join: Locate stats
// them, and a Windows layout tested on another system lives on that
// system's disk.
func niFolders(env detect.Env) []string {
	var roots []string
	add := func(base string, parts ...string) {
		if base != "" {
			roots = append(roots, filepath.Join(append([]string{base}, parts...)...))
		}
	}
	switch env.GOOS {
	case "darwin":
		add(env.Home, "Documents", "Native Instruments")
	case "windows":
		add(cmp.Or(env.Get("USERPROFILE"), env.Home), "Documents", "Native Instruments")
		add(env.Get("OneDrive"), "Documents", "Native Instruments")
		add(env.Get("LOCALAPPDATA"), "Native Instruments")
	}
	return slices.Compact(roots)
}

// Locate finds Traktor's collection.nml in each "Traktor <version>" folder,
// newest first (the version the DJ uses now). Traktor runs on macOS and
// Windows only.
func Locate(env detect.Env) []detect.Found {
	type found struct {
		path, version string
		mod, changed  time.Time
	}
	var all []found
	for _, root := range niFolders(env) {
		dirs, err := os.ReadDir(root)
		if err != nil {
			continue
		}
		for _, d := range dirs {
			if !d.IsDir() || !strings.HasPrefix(strings.ToLower(d.Name()), "traktor") {
				continue
			}
			p := filepath.Join(root, d.Name(), "collection.nml")
			info, err := os.Stat(p)
			if err != nil || !info.Mode().IsRegular() {
				continue
			}
			f := found{path: p, version: d.Name(), mod: info.ModTime(), changed: info.ModTime()}
			// Traktor also writes its history files as a set goes.
			if hist, err := os.ReadDir(filepath.Join(root, d.Name(), "History")); err == nil {
				for _, h := range hist {
					if hi, err := h.Info(); err == nil && hi.ModTime().After(f.changed) {
						f.changed = hi.ModTime()
					}
				}
			}
			all = append(all, f)
		}
	}
	slices.SortStableFunc(all, func(a, b found) int { return b.mod.Compare(a.mod) })
	now := time.Now()
	var out []detect.Found
	for _, f := range all {
		out = append(out, detect.Found{
			Product: ProductID,
			Path:    f.path,
			Changed: f.changed,
			Ready:   true,
			Why: fmt.Sprintf("%s's collection, changed %s. Pika! follows Traktor through its broadcast: in Traktor, Preferences → Broadcasting, set address 127.0.0.1, port 8000, format Ogg Vorbis, then switch broadcasting on.",
				f.version, detect.Ago(now, f.changed)),
		})
	}
	return out
}

// Package engine owns following Engine DJ hardware (Denon DJ Prime and SC
// players, Numark and Rane units running Engine OS) over StagelinQ, the
// units' network protocol: it finds units by their UDP announcements,
// subscribes to each one's StateMap (deck transport, track, faders,
// crossfader), turns that into decks, and lets the shared detect.Decider
// decide what the room hears.
package engine

import (
	"fmt"
	"os"
	"time"

	"github.com/pika-dj/pika/desktop/detect"
)

// ProductID is Entry.Source and the --source value.
const ProductID = "engine"

// Product is Engine DJ hardware as Pika! offers it to the DJ.
func Product() detect.Product {
	return detect.Product{
		ID:     ProductID,
		Name:   "Engine DJ (Denon, Numark, Rane players)",
		Locate: Locate,
		Open: func(_ detect.Found, opt detect.Options) (detect.Source, error) {
			return New(Config{Listen: opt.Listen, Policy: opt.Policy, Logger: opt.Log()})
		},
	}
}

// Locate looks for Engine DJ desktop's library: players themselves are only
// found on the network, which Locate never touches. The library is under
// the user's Music folder on macOS and Windows (unverified default; Engine
// DJ desktop does not run on Linux).
func Locate(env detect.Env) []detect.Found {
	if env.Home == "" || (env.GOOS != "darwin" && env.GOOS != "windows") {
		return nil
	}
	lib := env.Join(env.Home, "Music", "Engine Library")
	if info, err := os.Stat(lib); err != nil || !info.IsDir() {
		return nil
	}
	var changed time.Time
	for _, name := range []string{"m.db", "m.db-wal", "hm.db", "hm.db-wal"} {
		if info, err := os.Stat(env.Join(lib, "Database2", name)); err == nil && info.ModTime().After(changed) {
			changed = info.ModTime()
		}
	}
	why := "Engine DJ players are found on the network when they are linked; Engine DJ desktop's library is here"
	if !changed.IsZero() {
		why += fmt.Sprintf(", changed %s", detect.Ago(time.Now(), changed))
	}
	return []detect.Found{{
		Product: ProductID,
		Path:    lib,
		Changed: changed,
		Why:     why + ".",
		Ready:   true,
	}}
}

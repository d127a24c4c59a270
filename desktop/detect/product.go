package detect

import (
	"log/slog"
	"strconv"
	"time"
)

// Env is the machine a product is looked for on: a home folder, the
// environment and an OS name. They are parameters, never read from the
// process directly, so every OS's layout can be tested on any machine
// against a fake home folder.
type Env struct {
	Home   string              // the user's home folder
	Getenv func(string) string // nil = empty environment
	GOOS   string              // "darwin", "windows", "linux"
	// DataDir is Pika!'s own data folder (where a DJ may leave a key file a
	// program needs); "" when unknown.
	DataDir string
}

// Get reads the environment variable k.
func (e Env) Get(k string) string {
	if e.Getenv == nil {
		return ""
	}
	return e.Getenv(k)
}

// Join joins path parts with e.GOOS's separator, so a Windows layout can be
// built and checked on Linux.
func (e Env) Join(parts ...string) string { return joinFor(e.GOOS, parts...) }

// Product is one DJ program (or other source of plays) Pika! can follow,
// named as a DJ knows it.
type Product struct {
	ID   string // the --source value: "serato", "mixxx", "traktor", …
	Name string // as the DJ knows it: "Serato DJ 4", "Traktor Pro"
	// Locate looks for the program's files on env and returns what it
	// found, most likely first; nil when the program is not there. It only
	// looks (stat, read a small settings file); it never opens a database
	// for writing or starts a listener.
	Locate func(env Env) []Found
	// Open makes the source that follows what Locate found (or what the DJ
	// named with --watch).
	Open func(f Found, opt Options) (Source, error)
}

// Found is one place a product was found.
type Found struct {
	Product string    // Product.ID
	Path    string    // the file or folder read
	Changed time.Time // when the program last wrote there; zero if unknown
	// Why says in a sentence what was found: "master.sqlite, changed 2 min
	// ago", or what the DJ must still switch on: "history is off in
	// VirtualDJ's settings".
	Why string
	// Ready is false when the program is there but cannot be followed as it
	// is set up; Why then says what to change.
	Ready bool
}

// Options are what every source may need from the app.
type Options struct {
	DataDir string       // Pika!'s data folder, for a source's own state
	Import  bool         // bring plays already recorded in as plays (history files)
	Listen  string       // where a listening source (Traktor's broadcast) listens; "" = its default
	Policy  Policy       // the audible-not-cued policy
	Logger  *slog.Logger // nil = discard
}

// Log is opt.Logger or a logger that discards.
func (o Options) Log() *slog.Logger {
	if o.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return o.Logger
}

// Ago says how long before now t was, in a DJ's words.
func Ago(now, t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	d := now.Sub(t)
	switch {
	case d < 0:
		return "just now"
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return plural(int(d/time.Minute), "minute") + " ago"
	case d < 48*time.Hour:
		return plural(int(d/time.Hour), "hour") + " ago"
	default:
		return plural(int(d/(24*time.Hour)), "day") + " ago"
	}
}

func plural(n int, unit string) string {
	s := strconv.Itoa(n) + " " + unit
	if n != 1 {
		s += "s"
	}
	return s
}

// Package detecttest owns the test helpers the detector packages share, so
// each exists once: a clock a test sets by hand, fake home folders and
// environments, a DJ program's SQLite writer connection, and a source run
// in the background with what it hands over collected.
package detecttest

import (
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/pika-dj/pika/desktop/detect"
)

// Clock is a clock a test sets or moves by hand. It is locked because the
// source under test reads it from its own goroutines.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a clock stopped at t.
func NewClock(t time.Time) *Clock { return &Clock{t: t} }

// Now is the clock's time; pass it as a source's Now.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Set moves the clock to t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// Advance moves the clock on by d and returns the new time, in one step, so
// a Now that ticks on each call never hands two callers the same time.
func (c *Clock) Advance(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
	return c.t
}

// MkFile writes content to path, making its folder first, and dates it
// mod unless mod is zero. On this machine a Windows path such as
// `…\AppData\Roaming\Serato` is one oddly named entry, which is all the
// locators need to find it.
func MkFile(tb testing.TB, path, content string, mod time.Time) {
	tb.Helper()
	MkDir(tb, filepath.Dir(path))
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		tb.Fatal(err)
	}
	if !mod.IsZero() {
		if err := os.Chtimes(path, mod, mod); err != nil {
			tb.Fatal(err)
		}
	}
}

// MkDir makes the folder path and its parents.
func MkDir(tb testing.TB, path string) {
	tb.Helper()
	if err := os.MkdirAll(path, 0o755); err != nil {
		tb.Fatal(err)
	}
}

// Getenv is an environment holding only vars (nil: none). The map is read
// at each call, so a test may change it afterwards.
func Getenv(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

// Env is a fake machine for a locator: a home folder, an OS, and an
// environment holding only vars.
func Env(home, goos string, vars map[string]string) detect.Env {
	return detect.Env{Home: home, GOOS: goos, Getenv: Getenv(vars)}
}

// DeckTitles is "deck:title" for each of decks, for failure messages.
func DeckTitles(decks []detect.Deck) []string {
	var out []string
	for _, d := range decks {
		out = append(out, d.Deck+":"+d.Entry.Title)
	}
	return out
}

// Package virtualdj owns following VirtualDJ: finding its home folder,
// reading its settings (is history writing on?) and its database.xml (BPM
// and key by file path), asking its Network Control plugin which deck is
// audible, and falling back to the history file the core's Watcher reads
// when the plugin does not answer.
package virtualdj

import (
	"cmp"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/pika-dj/pika/desktop/detect"
)

// ID is the product's --source value and every Entry's Source.
const ID = detect.SourceVirtualDJ

// DefaultAddr is where the Network Control plugin listens unless it was set
// up otherwise.
const DefaultAddr = "127.0.0.1:8080"

// Environment variables that set Config for Product.
const (
	EnvAddr  = "PIKA_VIRTUALDJ_ADDR"  // host:port of the Network Control plugin
	EnvToken = "PIKA_VIRTUALDJ_TOKEN" // its password (bearer token), when one is set
)

// Config is how Pika! reaches VirtualDJ. Zero fields take their defaults.
type Config struct {
	// Addr is the Network Control plugin's host:port; default DefaultAddr.
	Addr string
	// Token is the plugin's password, sent as a bearer token; "" = none.
	Token string
	// Decks are the decks asked about; default 1–4.
	Decks []int
	// ReadEvery is how often the plugin is asked; default
	// detect.DefaultReadEvery.
	ReadEvery time.Duration
	// Timeout bounds one question to the plugin; default 2 s. A plugin
	// slower than that is taken as not answering.
	Timeout time.Duration
	// Grace is how long after its last answer the plugin still counts as
	// followed; default 3 s. Past it, the history file takes over.
	Grace time.Duration
	// SameWithin is how far apart a plugin play and a history play of one
	// track may be and still be one play; default 15 minutes.
	SameWithin time.Duration
	// HistoryPoll is how often the history folder is read; default
	// detect.DefaultPoll.
	HistoryPoll time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time
}

func (c Config) withDefaults() Config {
	c.Addr = cmp.Or(strings.TrimSpace(c.Addr), DefaultAddr)
	if len(c.Decks) == 0 {
		c.Decks = []int{1, 2, 3, 4}
	}
	c.ReadEvery = cmp.Or(c.ReadEvery, detect.DefaultReadEvery)
	c.Timeout = cmp.Or(c.Timeout, 2*time.Second)
	c.Grace = cmp.Or(c.Grace, 3*time.Second)
	c.SameWithin = cmp.Or(c.SameWithin, 15*time.Minute)
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// ConfigFromEnv reads EnvAddr and EnvToken.
func ConfigFromEnv(getenv func(string) string) Config {
	if getenv == nil {
		return Config{}
	}
	return Config{Addr: getenv(EnvAddr), Token: getenv(EnvToken)}
}

// Product is VirtualDJ with the plugin address and password from the
// process's environment (EnvAddr, EnvToken).
func Product() detect.Product { return ProductWith(ConfigFromEnv(os.Getenv)) }

// ProductWith is VirtualDJ reached as cfg says.
func ProductWith(cfg Config) detect.Product {
	return detect.Product{
		ID:     ID,
		Name:   "VirtualDJ",
		Locate: Locate,
		Open: func(f detect.Found, opt detect.Options) (detect.Source, error) {
			return New(cfg, f.Path, opt)
		},
	}
}

// Homes lists where VirtualDJ's home folder may be on env, most likely
// first: the History folders the core knows, less "History".
func Homes(env detect.Env) []string {
	var homes []string
	for _, d := range detect.VirtualDJHistoryDirs(env.Home, env.Getenv, env.GOOS) {
		homes = append(homes, strings.TrimRight(strings.TrimSuffix(d, "History"), `\/`))
	}
	return homes
}

// Locate finds VirtualDJ homes on env: a folder with database.xml or
// settings.xml. A home whose settings turn history writing off is found but
// not ready, and says which setting to switch on.
func Locate(env detect.Env) []detect.Found {
	var found []detect.Found
	for _, home := range Homes(env) {
		if !exists(env.Join(home, "database.xml")) && !exists(env.Join(home, "settings.xml")) {
			continue
		}
		f := detect.Found{Product: ID, Path: home, Ready: true}
		newest, n := newestHistory(env.Join(home, "History"))
		f.Changed = newest
		switch on, err := readWriteHistory(env.Join(home, "settings.xml")); {
		case err == nil && !on:
			f.Ready = false
			f.Why = "VirtualDJ does not write its history: in VirtualDJ's Settings, Options tab, switch writeHistory to yes (or enable the Network Control plugin)."
		case n == 0:
			f.Why = "VirtualDJ's home folder, no history file yet."
		default:
			f.Why = fmt.Sprintf("VirtualDJ's history, %d dated file(s), the newest changed %s.", n, newest.Local().Format("2 Jan 15:04"))
		}
		found = append(found, f)
	}
	return found
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// newestHistory is the newest mtime of the .m3u files in dir, and how many
// there are.
func newestHistory(dir string) (time.Time, int) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return time.Time{}, 0
	}
	var newest time.Time
	n := 0
	for _, de := range ents {
		name := strings.ToLower(de.Name())
		if !strings.HasSuffix(name, ".m3u") && !strings.HasSuffix(name, ".m3u8") {
			continue
		}
		info, err := de.Info()
		if err != nil || !info.Mode().IsRegular() {
			continue
		}
		n++
		if info.ModTime().After(newest) {
			newest = info.ModTime()
		}
	}
	return newest, n
}

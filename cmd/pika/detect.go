package main

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"time"

	"github.com/pika-dj/pika/desktop/detect"
	"github.com/pika-dj/pika/desktop/detect/auto"
)

// detectSettings is the table for `pika detect`.
func detectSettings() []setting {
	return []setting{
		{flag: "json", env: "PIKA_DETECT_JSON", isBool: true, def: "false", usage: "print the findings as JSON"},
	}
}

// detectReport is `pika detect --json`'s output.
type detectReport struct {
	Chosen string          `json:"chosen,omitempty"` // product id
	Why    string          `json:"why"`
	Found  []detectedEntry `json:"found"`
}

type detectedEntry struct {
	Product string    `json:"product"`
	Name    string    `json:"name"`
	Path    string    `json:"path"`
	Ready   bool      `json:"ready"`
	Why     string    `json:"why"`
	Changed time.Time `json:"changed,omitzero"`
}

// detect reports which DJ programs are on this computer and which `pika
// lan` would follow, without following any.
func (a *app) detect(_ context.Context, args []string) error {
	v, err := parseSettings("detect", detectSettings(), args, a.getenv, a.stdout)
	if err == errHelp {
		return nil
	}
	if err != nil {
		return err
	}
	now := time.Now()
	r := auto.Detect(a.env(), auto.All(), now)
	if v["json"] == "true" {
		out := detectReport{Why: r.Why, Found: []detectedEntry{}}
		if r.Chosen != nil {
			out.Chosen = r.Chosen.Product.ID
		}
		for _, s := range r.Found {
			out.Found = append(out.Found, detectedEntry{Product: s.Product.ID, Name: s.Product.Name, Path: s.Found.Path,
				Ready: s.Found.Ready, Why: s.Found.Why, Changed: s.Found.Changed})
		}
		enc := json.NewEncoder(a.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	if len(r.Found) > 0 {
		fmt.Fprintln(a.stdout, "Found:")
		for _, s := range r.Found {
			state := "ready"
			if !s.Found.Ready {
				state = "not set up"
			}
			fmt.Fprintf(a.stdout, "  %-28s %-10s %s\n", s.Product.Name, state, s.Found.Path)
			fmt.Fprintf(a.stdout, "  %-28s %-10s %s (last written %s)\n", "", "", s.Found.Why, detect.Ago(now, s.Found.Changed))
		}
		fmt.Fprintln(a.stdout)
	}
	fmt.Fprintln(a.stdout, r.Why)
	return nil
}

// env is this computer as the detectors look at it. The home folder comes
// only from the environment a.getenv reads (as os.UserHomeDir would read
// it), so a test's fake environment never lets them search the real home.
func (a *app) env() detect.Env {
	home := a.getenv("HOME")
	if runtime.GOOS == "windows" {
		home = a.getenv("USERPROFILE")
	}
	data := a.getenv("PIKA_DATA")
	if data == "" {
		data = defaultDataDir()
	}
	return detect.Env{Home: home, Getenv: a.getenv, GOOS: runtime.GOOS, DataDir: data}
}

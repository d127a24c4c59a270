package detect

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// VirtualDJHistoryDirs lists where VirtualDJ keeps its History folder on goos,
// most likely first. home is the user's home folder and getenv reads the
// environment; both are parameters so every OS's answer can be tested on any
// machine. Paths use goos's separator.
func VirtualDJHistoryDirs(home string, getenv func(string) string, goos string) []string {
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	var dirs []string
	add := func(base string, parts ...string) {
		if strings.TrimSpace(base) == "" {
			return
		}
		d := joinFor(goos, append([]string{base}, parts...)...)
		if !slices.Contains(dirs, d) {
			dirs = append(dirs, d)
		}
	}
	switch goos {
	case "windows":
		profile := getenv("USERPROFILE")
		if profile == "" {
			profile = home
		}
		add(profile, "Documents", "VirtualDJ", "History")
		add(getenv("LOCALAPPDATA"), "VirtualDJ", "History")
		// OneDrive often takes over Documents ("known folder move").
		add(getenv("OneDrive"), "Documents", "VirtualDJ", "History")
	case "darwin":
		add(home, "Library", "Application Support", "VirtualDJ", "History") // VirtualDJ 8+
		add(home, "Documents", "VirtualDJ", "History")                      // VirtualDJ 7
	default:
		add(home, "Documents", "VirtualDJ", "History")
	}
	return dirs
}

// joinFor joins path parts with goos's separator, whatever OS runs this.
func joinFor(goos string, parts ...string) string {
	if goos != "windows" {
		return filepath.ToSlash(filepath.Join(parts...))
	}
	out := strings.TrimRight(parts[0], `\/`)
	for _, p := range parts[1:] {
		out += `\` + strings.Trim(p, `\/`)
	}
	return out
}

// FindVirtualDJ returns the first of VirtualDJHistoryDirs that exists, and a
// sentence saying what was looked at, for the DJ's setup screen.
func FindVirtualDJ(home string, getenv func(string) string, goos string) (dir string, explanation string) {
	dirs := VirtualDJHistoryDirs(home, getenv, goos)
	if len(dirs) == 0 {
		return "", "VirtualDJ's History folder was not looked for: the home folder is unknown."
	}
	for _, d := range dirs {
		if info, err := os.Stat(d); err == nil && info.IsDir() {
			return d, fmt.Sprintf("Found VirtualDJ's History folder at %s.", d)
		}
	}
	// A VirtualDJ home without History means the program is installed but
	// does not write its history: say which switch to turn on.
	for _, d := range dirs {
		home := strings.TrimSuffix(strings.TrimSuffix(d, "History"), `\`)
		home = strings.TrimSuffix(home, "/")
		if info, err := os.Stat(home); err == nil && info.IsDir() {
			return "", fmt.Sprintf("VirtualDJ is installed at %s but has no History folder yet: play a track with the history option (writeHistory) on in VirtualDJ's settings. Looked in %s.", home, listing(dirs))
		}
	}
	return "", fmt.Sprintf("No VirtualDJ History folder found; looked in %s.", listing(dirs))
}

// listing joins items as "a", "a and b", "a, b and c".
func listing(items []string) string {
	switch len(items) {
	case 0:
		return "nothing"
	case 1:
		return items[0]
	}
	return strings.Join(items[:len(items)-1], ", ") + " and " + items[len(items)-1]
}

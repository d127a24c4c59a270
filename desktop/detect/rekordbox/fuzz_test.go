package rekordbox

import (
	"strings"
	"testing"
)

// FuzzDBPath reads rekordbox's agent options.json.
func FuzzDBPath(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		if p := dbPath(b); p != strings.TrimSpace(p) {
			t.Fatalf("untrimmed %q", p)
		}
	})
}

package engine

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/pika-dj/pika/desktop/detect"
)

func TestLocate(t *testing.T) {
	for _, goos := range []string{"darwin", "windows", "linux"} {
		t.Run(goos, func(t *testing.T) {
			home := t.TempDir()
			env := detect.Env{Home: home, GOOS: goos, Getenv: func(string) string { return "" }}
			if got := Locate(env); got != nil {
				t.Fatalf("empty home: %+v", got)
			}
			// env.Join: on Linux a Windows layout is made of names with
			// backslashes in them, which is what Locate looks for.
			lib := env.Join(home, "Music", "Engine Library")
			db := env.Join(lib, "Database2")
			for _, dir := range []string{lib, db} {
				if err := os.MkdirAll(dir, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			old := time.Date(2026, 8, 1, 20, 0, 0, 0, time.UTC)
			newer := old.Add(3 * time.Hour)
			for name, at := range map[string]time.Time{"m.db": old, "hm.db": old, "hm.db-wal": newer} {
				p := env.Join(db, name)
				if err := os.WriteFile(p, []byte("SQLite format 3\x00"), 0o644); err != nil {
					t.Fatal(err)
				}
				if err := os.Chtimes(p, at, at); err != nil {
					t.Fatal(err)
				}
			}
			got := Locate(env)
			if goos == "linux" { // Engine DJ desktop does not run on Linux
				if got != nil {
					t.Fatalf("linux: %+v", got)
				}
				return
			}
			if len(got) != 1 {
				t.Fatalf("found %+v", got)
			}
			f := got[0]
			if f.Product != "engine" || !f.Ready || !f.Changed.Equal(newer) || f.Path != env.Join(home, "Music", "Engine Library") ||
				!strings.HasPrefix(f.Why, "Engine DJ players are found on the network when they are linked;") {
				t.Errorf("found %+v", f)
			}
		})
	}
}

func TestProduct(t *testing.T) {
	p := Product()
	if p.ID != "engine" || p.Name != "Engine DJ (Denon, Numark, Rane players)" || p.Locate == nil {
		t.Fatalf("product = %+v", p)
	}
	src, err := p.Open(detect.Found{Product: "engine"}, detect.Options{Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	st := src.Status()
	if src.Name() != "engine" || st.Source != "engine" || !strings.Contains(st.File, "no Engine DJ player") {
		t.Errorf("source %q status %+v", src.Name(), st)
	}
}

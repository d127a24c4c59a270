package serato

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pika-dj/pika/desktop/detect"
)

// The fake homes below are laid out with each OS's separator: on this
// machine a Windows path such as `…\AppData\Roaming\Serato\Library` is one
// oddly named folder, which is all Locate needs to find it.

// mkfile creates path (and its folder) with the given modification time.
func mkfile(t *testing.T, path string, mod time.Time) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(path, mod, mod); err != nil {
		t.Fatal(err)
	}
}

func mkdir(t *testing.T, path string) {
	t.Helper()
	if err := os.MkdirAll(path, 0o755); err != nil {
		t.Fatal(err)
	}
}

func envOf(home, goos string, vars map[string]string) detect.Env {
	return detect.Env{Home: home, GOOS: goos, Getenv: func(k string) string { return vars[k] }}
}

func TestLocateSerato4(t *testing.T) {
	older, newer := time.Now().Add(-2*time.Hour), time.Now().Add(-time.Minute)

	t.Run("darwin", func(t *testing.T) {
		home := filepath.Join(t.TempDir(), "dj")
		env := envOf(home, "darwin", nil)
		if got := Product().Locate(env); len(got) != 0 {
			t.Fatalf("nothing installed: %+v", got)
		}
		lib := filepath.Join(home, "Library", "Application Support", "Serato", "Library")
		mkdir(t, lib)
		got := Product().Locate(env)
		if len(got) != 1 || got[0].Ready || !strings.Contains(got[0].Why, "open Serato DJ 4") {
			t.Fatalf("Serato folder without master.sqlite: %+v", got)
		}
		db := filepath.Join(lib, "master.sqlite")
		mkfile(t, db, older)
		mkfile(t, db+"-wal", newer) // Serato's newest writes are in the WAL
		got = Product().Locate(env)
		if len(got) != 1 || !got[0].Ready || got[0].Path != db || got[0].Product != "serato" ||
			got[0].Changed.Sub(newer).Abs() > time.Second || !strings.Contains(got[0].Why, "minute ago") {
			t.Fatalf("found %+v (want changed %v)", got, newer)
		}
	})

	t.Run("windows APPDATA and LOCALAPPDATA", func(t *testing.T) {
		home := filepath.Join(t.TempDir(), "dj")
		mkdir(t, home)
		vars := map[string]string{"APPDATA": home + `\AppData\Roaming`, "LOCALAPPDATA": home + `\AppData\Local`}
		env := envOf(home, "windows", vars)
		local := home + `\AppData\Local\Serato\Library\master.sqlite`
		mkfile(t, local, older)
		got := Product().Locate(env)
		if len(got) != 1 || got[0].Path != local || !got[0].Ready {
			t.Fatalf("LOCALAPPDATA: %+v", got)
		}
		roaming := home + `\AppData\Roaming\Serato\Library\master.sqlite`
		mkfile(t, roaming, newer)
		got = Product().Locate(env)
		if len(got) != 2 || got[0].Path != roaming || got[1].Path != local {
			t.Fatalf("APPDATA first: %+v", got)
		}
		// No APPDATA in the environment: the profile's usual place.
		got = Product().Locate(envOf(home, "windows", nil))
		if len(got) != 2 || got[0].Path != roaming {
			t.Fatalf("without the environment: %+v", got)
		}
	})

	t.Run("linux", func(t *testing.T) {
		home := t.TempDir()
		mkfile(t, filepath.Join(home, "Library", "Application Support", "Serato", "Library", "master.sqlite"), older)
		if got := Product().Locate(envOf(home, "linux", nil)); len(got) != 0 {
			t.Fatalf("Serato has no Linux build: %+v", got)
		}
	})
}

func TestLocateSerato3(t *testing.T) {
	older, newer := time.Now().Add(-48*time.Hour), time.Now().Add(-3*time.Hour)

	t.Run("darwin", func(t *testing.T) {
		home := t.TempDir()
		env := envOf(home, "darwin", nil)
		if got := Session3Product().Locate(env); len(got) != 0 {
			t.Fatalf("nothing installed: %+v", got)
		}
		base := filepath.Join(home, "Music", "_Serato_")
		mkdir(t, filepath.Join(base, "Subcrates"))
		got := Session3Product().Locate(env)
		if len(got) != 1 || got[0].Ready || !strings.Contains(got[0].Why, "Serato DJ 4") {
			t.Fatalf("_Serato_ without History: %+v", got)
		}
		sessions := filepath.Join(base, "History", "Sessions")
		mkdir(t, sessions)
		if got := Session3Product().Locate(env); len(got) != 1 || !got[0].Ready || !strings.Contains(got[0].Why, "no session yet") {
			t.Fatalf("empty Sessions: %+v", got)
		}
		mkfile(t, filepath.Join(base, "History", "history.database"), newer)
		mkfile(t, filepath.Join(sessions, "9.session"), newer) // touched late (whatsnowplaying#10)
		mkfile(t, filepath.Join(sessions, "10.session"), older)
		mkfile(t, filepath.Join(sessions, "notes.txt"), time.Now())
		got = Session3Product().Locate(env)
		if len(got) != 1 || !got[0].Ready || got[0].Path != sessions || got[0].Product != "serato3" ||
			!strings.Contains(got[0].Why, "session 10") || got[0].Changed.Sub(newer).Abs() > time.Second {
			t.Fatalf("found %+v", got)
		}
	})

	t.Run("windows", func(t *testing.T) {
		home := filepath.Join(t.TempDir(), "dj")
		mkdir(t, home)
		sessions := home + `\Music\_Serato_\History\Sessions`
		mkfile(t, filepath.Join(sessions, "3.session"), newer)
		got := Session3Product().Locate(envOf(t.TempDir(), "windows", map[string]string{"USERPROFILE": home}))
		if len(got) != 1 || !got[0].Ready || got[0].Path != sessions || !strings.Contains(got[0].Why, "session 3") {
			t.Fatalf("found %+v", got)
		}
	})

	t.Run("linux", func(t *testing.T) {
		home := t.TempDir()
		mkfile(t, filepath.Join(home, "Music", "_Serato_", "History", "Sessions", "1.session"), newer)
		if got := Session3Product().Locate(envOf(home, "linux", nil)); len(got) != 0 {
			t.Fatalf("Serato has no Linux build: %+v", got)
		}
	})
}

func TestProducts(t *testing.T) {
	for _, p := range []detect.Product{Product(), Session3Product()} {
		if p.ID == "" || p.Name == "" || p.Locate == nil || p.Open == nil {
			t.Errorf("incomplete product %+v", p)
		}
	}
	if Product().ID != "serato" || Product().Name != "Serato DJ 4" || Session3Product().ID != "serato3" {
		t.Fatal("product ids changed: they are the DJ's --source values")
	}
}

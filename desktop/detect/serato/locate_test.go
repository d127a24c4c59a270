package serato

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pika-dj/pika/desktop/detect"
	"github.com/pika-dj/pika/desktop/detect/detecttest"
)

// The fake homes below are laid out with each OS's separator: on this
// machine a Windows path such as `…\AppData\Roaming\Serato\Library` is one
// oddly named folder, which is all Locate needs to find it.

func TestLocateSerato4(t *testing.T) {
	older, newer := time.Now().Add(-2*time.Hour), time.Now().Add(-time.Minute)

	t.Run("darwin", func(t *testing.T) {
		home := filepath.Join(t.TempDir(), "dj")
		env := detecttest.Env(home, "darwin", nil)
		if got := Product().Locate(env); len(got) != 0 {
			t.Fatalf("nothing installed: %+v", got)
		}
		lib := filepath.Join(home, "Library", "Application Support", "Serato", "Library")
		detecttest.MkDir(t, lib)
		got := Product().Locate(env)
		if len(got) != 1 || got[0].Ready || !strings.Contains(got[0].Why, "open Serato DJ 4") {
			t.Fatalf("Serato folder without master.sqlite: %+v", got)
		}
		db := filepath.Join(lib, "master.sqlite")
		detecttest.MkFile(t, db, "x", older)
		detecttest.MkFile(t, db+"-wal", "x", newer) // Serato's newest writes are in the WAL
		got = Product().Locate(env)
		if len(got) != 1 || !got[0].Ready || got[0].Path != db || got[0].Product != "serato" ||
			got[0].Changed.Sub(newer).Abs() > time.Second || !strings.Contains(got[0].Why, "minute ago") {
			t.Fatalf("found %+v (want changed %v)", got, newer)
		}
	})

	t.Run("windows APPDATA and LOCALAPPDATA", func(t *testing.T) {
		home := filepath.Join(t.TempDir(), "dj")
		detecttest.MkDir(t, home)
		vars := map[string]string{"APPDATA": home + `\AppData\Roaming`, "LOCALAPPDATA": home + `\AppData\Local`}
		env := detecttest.Env(home, "windows", vars)
		local := home + `\AppData\Local\Serato\Library\master.sqlite`
		detecttest.MkFile(t, local, "x", older)
		got := Product().Locate(env)
		if len(got) != 1 || got[0].Path != local || !got[0].Ready {
			t.Fatalf("LOCALAPPDATA: %+v", got)
		}
		roaming := home + `\AppData\Roaming\Serato\Library\master.sqlite`
		detecttest.MkFile(t, roaming, "x", newer)
		got = Product().Locate(env)
		if len(got) != 2 || got[0].Path != roaming || got[1].Path != local {
			t.Fatalf("APPDATA first: %+v", got)
		}
		// No APPDATA in the environment: the profile's usual place.
		got = Product().Locate(detecttest.Env(home, "windows", nil))
		if len(got) != 2 || got[0].Path != roaming {
			t.Fatalf("without the environment: %+v", got)
		}
	})

	t.Run("linux", func(t *testing.T) {
		home := t.TempDir()
		detecttest.MkFile(t, filepath.Join(home, "Library", "Application Support", "Serato", "Library", "master.sqlite"), "x", older)
		if got := Product().Locate(detecttest.Env(home, "linux", nil)); len(got) != 0 {
			t.Fatalf("Serato has no Linux build: %+v", got)
		}
	})
}

func TestLocateSerato3(t *testing.T) {
	older, newer := time.Now().Add(-48*time.Hour), time.Now().Add(-3*time.Hour)

	t.Run("darwin", func(t *testing.T) {
		home := t.TempDir()
		env := detecttest.Env(home, "darwin", nil)
		if got := Session3Product().Locate(env); len(got) != 0 {
			t.Fatalf("nothing installed: %+v", got)
		}
		base := filepath.Join(home, "Music", "_Serato_")
		detecttest.MkDir(t, filepath.Join(base, "Subcrates"))
		got := Session3Product().Locate(env)
		if len(got) != 1 || got[0].Ready || !strings.Contains(got[0].Why, "Serato DJ 4") {
			t.Fatalf("_Serato_ without History: %+v", got)
		}
		sessions := filepath.Join(base, "History", "Sessions")
		detecttest.MkDir(t, sessions)
		if got := Session3Product().Locate(env); len(got) != 1 || !got[0].Ready || !strings.Contains(got[0].Why, "no session yet") {
			t.Fatalf("empty Sessions: %+v", got)
		}
		detecttest.MkFile(t, filepath.Join(base, "History", "history.database"), "x", newer)
		detecttest.MkFile(t, filepath.Join(sessions, "9.session"), "x", newer) // touched late (whatsnowplaying#10)
		detecttest.MkFile(t, filepath.Join(sessions, "10.session"), "x", older)
		detecttest.MkFile(t, filepath.Join(sessions, "notes.txt"), "x", time.Now())
		got = Session3Product().Locate(env)
		if len(got) != 1 || !got[0].Ready || got[0].Path != sessions || got[0].Product != "serato3" ||
			!strings.Contains(got[0].Why, "session 10") || got[0].Changed.Sub(newer).Abs() > time.Second {
			t.Fatalf("found %+v", got)
		}
	})

	t.Run("windows", func(t *testing.T) {
		home := filepath.Join(t.TempDir(), "dj")
		detecttest.MkDir(t, home)
		sessions := home + `\Music\_Serato_\History\Sessions`
		detecttest.MkFile(t, filepath.Join(sessions, "3.session"), "x", newer)
		got := Session3Product().Locate(detecttest.Env(t.TempDir(), "windows", map[string]string{"USERPROFILE": home}))
		if len(got) != 1 || !got[0].Ready || got[0].Path != sessions || !strings.Contains(got[0].Why, "session 3") {
			t.Fatalf("found %+v", got)
		}
	})

	t.Run("linux", func(t *testing.T) {
		home := t.TempDir()
		detecttest.MkFile(t, filepath.Join(home, "Music", "_Serato_", "History", "Sessions", "1.session"), "x", newer)
		if got := Session3Product().Locate(detecttest.Env(home, "linux", nil)); len(got) != 0 {
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

package auto

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pika-dj/pika/desktop/detect"
	"github.com/pika-dj/pika/desktop/detect/detecttest"
)

// TestDetectPicksTheProgramUsedLast lays out fake home folders as each OS
// has them, with several DJ programs installed, and checks the choice: the
// ready one written most recently, and the explanation names the others.
func TestDetectPicksTheProgramUsedLast(t *testing.T) {
	now := time.Now()
	hoursAgo := func(h float64) time.Time { return now.Add(-time.Duration(h * float64(time.Hour))) }

	t.Run("macOS: Serato used an hour ago, Mixxx two days ago", func(t *testing.T) {
		home := t.TempDir()
		detecttest.MkFile(t, filepath.Join(home, "Library", "Application Support", "Serato", "Library", "master.sqlite"), "x", hoursAgo(1))
		detecttest.MkFile(t, filepath.Join(home, "Library", "Containers", "org.mixxx.mixxx", "Data", "Library", "Application Support", "Mixxx", "mixxxdb.sqlite"), "x", hoursAgo(48))
		r := Detect(detect.Env{Home: home, GOOS: "darwin"}, All(), now)
		if r.Chosen == nil || r.Chosen.Product.ID != "serato" {
			t.Fatalf("chose %+v; report %s", r.Chosen, r.Why)
		}
		for _, want := range []string{"Following Serato DJ 4", "1 hour ago", "Also found: Mixxx (last written 2 days ago)", "--source"} {
			if !strings.Contains(r.Why, want) {
				t.Errorf("why %q lacks %q", r.Why, want)
			}
		}
	})

	t.Run("Windows: Mixxx newer than Serato", func(t *testing.T) {
		home := t.TempDir() + `\Users\dj`
		vars := map[string]string{"APPDATA": home + `\AppData\Roaming`, "LOCALAPPDATA": home + `\AppData\Local`, "USERPROFILE": home}
		env := detecttest.Env(home, "windows", vars)
		detecttest.MkFile(t, home+`\AppData\Roaming\Serato\Library\master.sqlite`, "x", hoursAgo(30))
		// On this machine a Windows path is one oddly named entry: Mixxx
		// checks its folder exists, then the database "in" it.
		detecttest.MkDir(t, home+`\AppData\Local\Mixxx`)
		detecttest.MkFile(t, home+`\AppData\Local\Mixxx\mixxxdb.sqlite`, "x", hoursAgo(0.1))
		r := Detect(env, All(), now)
		if r.Chosen == nil || r.Chosen.Product.ID != "mixxx" {
			t.Fatalf("chose %+v; report %s", r.Chosen, r.Why)
		}
		if len(r.Found) != 2 || r.Found[1].Product.ID != "serato" {
			t.Fatalf("found %+v", r.Found)
		}
	})

	t.Run("a program that is there but not set up is not chosen over one that is", func(t *testing.T) {
		home := t.TempDir()
		// VirtualDJ with its history switched off, used just now; Mixxx on
		// Linux used yesterday.
		vdj := filepath.Join(home, "Documents", "VirtualDJ")
		detecttest.MkFile(t, filepath.Join(vdj, "settings.xml"), `<?xml version="1.0" encoding="UTF-8"?><settings><writeHistory>no</writeHistory></settings>`, now)
		detecttest.MkFile(t, filepath.Join(vdj, "database.xml"), `<?xml version="1.0"?><VirtualDJ_Database Version="2024"></VirtualDJ_Database>`, now)
		detecttest.MkFile(t, filepath.Join(home, ".mixxx", "mixxxdb.sqlite"), "x", hoursAgo(24))
		r := Detect(detect.Env{Home: home, GOOS: "linux"}, All(), now)
		if r.Chosen == nil || r.Chosen.Product.ID != "mixxx" {
			t.Fatalf("chose %+v; report %s", r.Chosen, r.Why)
		}
		if !strings.Contains(r.Why, "VirtualDJ (not set up") {
			t.Errorf("why %q should say VirtualDJ is not set up", r.Why)
		}
	})

	t.Run("only a program that is not set up: say what to switch on", func(t *testing.T) {
		home := t.TempDir()
		detecttest.MkFile(t, filepath.Join(home, "Documents", "DJUCED", "DJUCED.db"), "x", now)
		r := Detect(detect.Env{Home: home, GOOS: "darwin"}, All(), now)
		if r.Chosen != nil || !strings.Contains(r.Why, "DJUCED was found but cannot be followed yet") {
			t.Fatalf("chose %+v; why %q", r.Chosen, r.Why)
		}
	})

	t.Run("nothing installed", func(t *testing.T) {
		r := Detect(detect.Env{Home: t.TempDir(), GOOS: "darwin"}, All(), now)
		if r.Chosen != nil || len(r.Found) != 0 || !strings.Contains(r.Why, "No DJ program was found") || !strings.Contains(r.Why, "Serato DJ 4") {
			t.Fatalf("report %+v", r)
		}
	})
}

func TestFindAndIDs(t *testing.T) {
	all := All()
	seen := map[string]bool{}
	for _, p := range all {
		if p.ID == "" || p.Name == "" || p.Open == nil || seen[p.ID] {
			t.Errorf("product %+v: needs a unique id, a name and Open", p.ID)
		}
		seen[p.ID] = true
	}
	if p, ok := Find(all, " Serato "); !ok || p.ID != "serato" {
		t.Errorf("Find(serato) = %v %v", p.ID, ok)
	}
	if _, ok := Find(all, "winamp"); ok {
		t.Error("found winamp")
	}
	if ids := IDs(all); !strings.Contains(ids, "traktor") || !strings.Contains(ids, "m3u") {
		t.Errorf("IDs = %s", ids)
	}
}

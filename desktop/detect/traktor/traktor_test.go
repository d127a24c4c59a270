package traktor

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pika-dj/pika/desktop/detect"
	"github.com/pika-dj/pika/desktop/detect/detecttest"
)

func TestLocateMacOS(t *testing.T) {
	home := t.TempDir()
	env := detect.Env{Home: home, GOOS: "darwin"}
	if got := Locate(env); len(got) != 0 {
		t.Fatalf("nothing installed: %+v", got)
	}
	ni := filepath.Join(home, "Documents", "Native Instruments")
	now := time.Now()
	old := filepath.Join(ni, "Traktor 3.11.1", "collection.nml")
	cur := filepath.Join(ni, "Traktor 4.0.2", "collection.nml")
	detecttest.MkFile(t, old, testCollection, now.Add(-90*24*time.Hour))
	detecttest.MkFile(t, cur, testCollection, now.Add(-2*time.Hour))
	// Traktor 4 wrote a history file during tonight's set.
	hist := now.Add(-10 * time.Minute).Truncate(time.Second)
	detecttest.MkFile(t, filepath.Join(ni, "Traktor 4.0.2", "History", "history_2026y11m27d_21h00m00s.nml"), "<NML/>", hist)
	// A folder without a collection, and a file named like a version.
	detecttest.MkDir(t, filepath.Join(ni, "Traktor Kontrol S4 MK3"))
	detecttest.MkFile(t, filepath.Join(ni, "Traktor 2"), "not a folder", now)

	got := Locate(env)
	if len(got) != 2 || got[0].Path != cur || got[1].Path != old {
		t.Fatalf("found %+v", got)
	}
	f := got[0]
	if f.Product != "traktor" || !f.Ready || !f.Changed.Equal(hist) ||
		!strings.Contains(f.Why, "Traktor 4.0.2") || !strings.Contains(f.Why, "127.0.0.1") || !strings.Contains(f.Why, "Ogg Vorbis") {
		t.Fatalf("found %+v", f)
	}
	src, err := Product().Open(f, detect.Options{Listen: "127.0.0.1:8123"})
	if err != nil {
		t.Fatal(err)
	}
	if st := src.Status(); src.Name() != "traktor" || st.Path != "127.0.0.1:8123" || st.File != cur || !strings.Contains(st.Err, "port 8123") {
		t.Fatalf("opened: %s %+v", src.Name(), st)
	}
}

func TestLocateWindows(t *testing.T) {
	root := t.TempDir()
	profile := filepath.Join(root, "Users", "dj")
	local := filepath.Join(profile, "AppData", "Local")
	env := detecttest.Env(profile, "windows", map[string]string{"USERPROFILE": profile, "LOCALAPPDATA": local})
	if got := Locate(env); len(got) != 0 {
		t.Fatalf("nothing installed: %+v", got)
	}
	now := time.Now()
	docs := filepath.Join(profile, "Documents", "Native Instruments", "Traktor 3.11.1", "collection.nml")
	appdata := filepath.Join(local, "Native Instruments", "Traktor 4.1.0", "collection.nml")
	detecttest.MkFile(t, docs, testCollection, now.Add(-24*time.Hour))
	detecttest.MkFile(t, appdata, testCollection, now.Add(-time.Minute))
	got := Locate(env)
	if len(got) != 2 || got[0].Path != appdata || got[1].Path != docs || !got[0].Ready {
		t.Fatalf("found %+v", got)
	}
	// Open with a folder (the DJ named Traktor's folder) finds the collection in it.
	src, err := Open(detect.Found{Path: filepath.Dir(docs)}, detect.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if st := src.Status(); st.File != docs || st.Path != DefaultListen {
		t.Fatalf("status %+v", st)
	}
}

func TestLocateLinuxAndNoHome(t *testing.T) {
	home := t.TempDir()
	detecttest.MkFile(t, filepath.Join(home, "Documents", "Native Instruments", "Traktor 3.11.1", "collection.nml"), testCollection, time.Now())
	if got := Locate(detect.Env{Home: home, GOOS: "linux"}); len(got) != 0 {
		t.Fatalf("Traktor does not run on Linux: %+v", got)
	}
	if got := Locate(detect.Env{GOOS: "darwin"}); len(got) != 0 {
		t.Fatalf("no home: %+v", got)
	}
}

func TestOpenBadAddress(t *testing.T) {
	if _, err := Open(detect.Found{}, detect.Options{Listen: "8000"}); err == nil || !strings.Contains(err.Error(), "host:port") {
		t.Fatalf("err %v", err)
	}
	p := Product()
	if p.ID != "traktor" || p.Name != "Traktor Pro" || p.Locate == nil || p.Open == nil {
		t.Fatalf("product %+v", p)
	}
}

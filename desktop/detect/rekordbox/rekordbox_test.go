package rekordbox

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pika-dj/pika/desktop/detect"
	"github.com/pika-dj/pika/desktop/detect/detecttest"
)

func optionsJSON(t *testing.T, dbPath string) []byte {
	t.Helper()
	b, err := json.Marshal(map[string]any{"options": [][]any{
		{"db-path", dbPath}, {"app_ver", "7.1.4"}, {"show-tooltips", true}, {"broken"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestProduct(t *testing.T) {
	t.Parallel()
	p := Product()
	if p.ID != "rekordbox" || p.Name != "rekordbox" || p.Locate == nil || p.Open == nil {
		t.Fatalf("%+v", p)
	}
}

func TestLocateOnMacOSFollowsOptionsJSONAndWantsTheKey(t *testing.T) {
	t.Parallel()
	home := t.TempDir()
	t0 := time.Date(2026, 8, 15, 21, 0, 0, 0, time.UTC)
	env := detecttest.Env(home, "darwin", nil)
	if got := Locate(env); got != nil {
		t.Fatalf("nothing installed: %+v", got)
	}

	// The default place, no key yet: found, not ready, and says how.
	def := filepath.Join(home, "Library", "Pioneer", "rekordbox", "master.db")
	detecttest.MkFile(t, def, "x", t0)
	detecttest.MkFile(t, def+"-wal", "x", t0.Add(time.Minute))
	got := Locate(env)
	if len(got) != 1 || got[0].Path != def || got[0].Ready || got[0].Product != "rekordbox" ||
		!got[0].Changed.Equal(t0.Add(time.Minute)) || !strings.Contains(got[0].Why, KeyEnv) || !strings.Contains(got[0].Why, KeyFile) {
		t.Fatalf("default place without a key: %+v", got)
	}

	// options.json names a library moved elsewhere; the key is in the
	// environment.
	moved := filepath.Join(home, "Music", "rekordbox library", "master.db")
	detecttest.MkFile(t, moved, "x", t0.Add(2*time.Minute))
	detecttest.MkFile(t, filepath.Join(home, "Library", "Application Support", "Pioneer", "rekordboxAgent", "storage", "options.json"), string(optionsJSON(t, moved)), time.Time{})
	env.Getenv = detecttest.Getenv(map[string]string{KeyEnv: testPassphrase})
	got = Locate(env)
	if len(got) != 1 || got[0].Path != moved || !got[0].Ready || !got[0].Changed.Equal(t0.Add(2*time.Minute)) || !strings.Contains(got[0].Why, "master.db") {
		t.Fatalf("moved library with a key: %+v", got)
	}

	// The key in Pika!'s data folder is found too.
	data := filepath.Join(home, "pika-data")
	detecttest.MkFile(t, filepath.Join(data, KeyFile), testPassphrase+"\n", time.Time{})
	env.Getenv, env.DataDir = detecttest.Getenv(nil), data
	if got := Locate(env); len(got) != 1 || !got[0].Ready {
		t.Fatalf("key file: %+v", got)
	}
}

func TestLocateOnWindows(t *testing.T) {
	t.Parallel()
	home := t.TempDir()
	// Paths as rekordbox spells them on Windows, under a fake home.
	appdata := home + `\AppData\Roaming`
	env := detecttest.Env(home, "windows", map[string]string{"APPDATA": appdata, KeyEnv: testPassphrase})
	master := appdata + `\Pioneer\rekordbox\master.db`
	detecttest.MkFile(t, local(env, master), "x", time.Time{})
	got := Locate(env)
	if len(got) != 1 || got[0].Path != master || !got[0].Ready {
		t.Fatalf("default place: %+v", got)
	}

	// Installed (the agent's settings are there) but no library yet.
	home2 := t.TempDir()
	env2 := detecttest.Env(home2, "windows", nil) // no APPDATA: from the home folder
	detecttest.MkFile(t, local(env2, home2+`\AppData\Roaming\Pioneer\rekordboxAgent\storage\options.json`), `{"options":[]}`, time.Time{})
	got = Locate(env2)
	if len(got) != 1 || got[0].Ready || !strings.Contains(got[0].Why, "start rekordbox") {
		t.Fatalf("installed without a library: %+v", got)
	}
}

func TestLocateElsewhereFindsNothing(t *testing.T) {
	t.Parallel()
	home := t.TempDir()
	detecttest.MkFile(t, filepath.Join(home, "Library", "Pioneer", "rekordbox", "master.db"), "x", time.Time{})
	if got := Locate(detect.Env{Home: home, GOOS: "linux"}); got != nil {
		t.Fatalf("rekordbox does not run on Linux: %+v", got)
	}
	if got := Locate(detect.Env{GOOS: "darwin"}); got != nil {
		t.Fatalf("no home: %+v", got)
	}
}

func TestDBPathFromOptionsJSON(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		`{"options":[["db-path","C:\\Users\\dj\\AppData\\Roaming\\Pioneer\\rekordbox\\master.db"],["app_ver","7.0.3"]]}`: `C:\Users\dj\AppData\Roaming\Pioneer\rekordbox\master.db`,
		`{"options":[["app_ver","6.8.5"],["db-path"," /Volumes/DJ/rekordbox/master.db "]]}`:                              "/Volumes/DJ/rekordbox/master.db",
		`{"options":[["db-path",42]]}`: "",
		`{"options":{}}`:               "",
		`{"options":[["db-path`:        "",
		``:                             "",
	} {
		if got := dbPath([]byte(in)); got != want {
			t.Errorf("dbPath(%s) = %q, want %q", in, got, want)
		}
	}
}

func TestLoadKey(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if k, err := loadKey(detecttest.Getenv(map[string]string{KeyEnv: " " + testPassphrase + "\n"}), dir); err != nil || k != testPassphrase {
		t.Fatalf("from the environment: %q %v", k, err)
	}
	if _, err := loadKey(detecttest.Getenv(nil), dir); err == nil || !strings.Contains(err.Error(), "key is missing") || !strings.Contains(err.Error(), KeyEnv) {
		t.Fatalf("missing: %v", err)
	}
	detecttest.MkFile(t, filepath.Join(dir, KeyFile), `"`+strings.ToUpper(testPassphrase)+`"`, time.Time{})
	if k, err := loadKey(detecttest.Getenv(nil), dir); err != nil || k != strings.ToUpper(testPassphrase) {
		t.Fatalf("from the file: %q %v", k, err)
	}
	detecttest.MkFile(t, filepath.Join(dir, KeyFile), "not-a-key", time.Time{})
	_, err := loadKey(detecttest.Getenv(nil), dir)
	if err == nil || !strings.Contains(err.Error(), "64 hexadecimal") || strings.Contains(err.Error(), "not-a-key") {
		t.Fatalf("a malformed key: %v (and it must not be echoed)", err)
	}
	if _, err := Open(detect.Found{Path: filepath.Join(dir, "master.db")}, detect.Options{DataDir: dir}); err == nil {
		t.Fatal("Open with a malformed key should fail")
	}
}

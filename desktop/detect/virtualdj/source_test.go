package virtualdj

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pika-dj/pika/desktop/detect"
	"github.com/pika-dj/pika/desktop/detect/detecttest"
	"github.com/pika-dj/pika/internal/testenv"
)

// databaseXML is a database.xml as VirtualDJ 8 lays it out (invented songs):
// Scan Bpm in seconds per beat, one song with only a tagged BPM.
const databaseXML = `<?xml version="1.0" encoding="UTF-8"?>
<VirtualDJ_Database Version="8.5">
 <Song FilePath="/Music/B - Second.mp3" FileSize="7340032">
  <Tags Author="B" Title="Second" Genre="West Coast Swing" Album="" Year="2024" Key="" Flag="1" />
  <Infos SongLength="212.4" FirstSeen="1764000000" LastPlay="1764103260" PlayCount="3" Bitrate="320" />
  <Scan Version="801" Bpm="0.468750" AltBpm="0.937500" Volume="1.02" Key="F#m" Flag="32768" />
  <Poi Pos="0.512" Type="beatgrid" />
 </Song>
 <Song FilePath="D:\Music\Tagged Only.flac" FileSize="31457280">
  <Tags Author="T" Title="Tagged Only" Bpm="96" Key="8A" />
 </Song>
 <Song FilePath="netsearch://dz123456789">
  <Tags Author="S" Title="Streamed" />
 </Song>
</VirtualDJ_Database>
`

func TestParseDatabase(t *testing.T) {
	songs, err := parseDatabase(strings.NewReader(databaseXML))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]songInfo{
		pathKey("/Music/B - Second.mp3"):     {BPM: 128, Key: "F#m"},
		pathKey(`d:/music/tagged only.FLAC`): {BPM: 96, Key: "8A"},
	}
	if len(songs) != len(want) {
		t.Fatalf("songs %+v", songs)
	}
	for k, v := range want {
		if songs[k] != v {
			t.Errorf("%s: %+v, want %+v", k, songs[k], v)
		}
	}
	// Cut off mid-song: the songs before the damage, and an error.
	songs, err = parseDatabase(strings.NewReader(databaseXML[:strings.Index(databaseXML, `<Song FilePath="netsearch`)+20]))
	if len(songs) != 2 {
		t.Errorf("truncated: %d songs, %v", len(songs), err)
	}
}

func TestParseWriteHistory(t *testing.T) {
	for in, want := range map[string]bool{
		`<settings><writeHistory>yes</writeHistory></settings>`:                                             true,
		`<settings><writeHistory>no</writeHistory></settings>`:                                              false,
		`<settings><WriteHistory> 0 </WriteHistory></settings>`:                                             false,
		`<settings><setting writeHistory="off"/></settings>`:                                                false,
		`<?xml version="1.0" encoding="windows-1252"?><settings><writeHistory>on</writeHistory></settings>`: true,
	} {
		got, err := parseWriteHistory(strings.NewReader(in))
		if err != nil || got != want {
			t.Errorf("%s: %v, %v", in, got, err)
		}
	}
	if _, err := parseWriteHistory(strings.NewReader(`<settings><autoBpm>yes</autoBpm></settings>`)); err == nil {
		t.Error("no writeHistory: no error")
	}
}

// Locate against fake homes laid out as on Windows (Documents, Local
// AppData, OneDrive) and macOS (Application Support, Documents).
func TestLocate(t *testing.T) {
	older := time.Date(2026, 11, 24, 23, 0, 0, 0, time.UTC)
	newer := time.Date(2026, 11, 25, 21, 41, 0, 0, time.UTC)
	settingsOn := `<?xml version="1.0" encoding="UTF-8"?><settings><writeHistory>yes</writeHistory></settings>`
	settingsOff := `<?xml version="1.0" encoding="UTF-8"?><settings><writeHistory>no</writeHistory></settings>`

	for _, tc := range []struct {
		name  string
		goos  string
		env   func(home string) map[string]string
		where func(env detect.Env) string
	}{
		{"windows documents", "windows", nil, func(env detect.Env) string { return env.Join(env.Home, "Documents", "VirtualDJ") }},
		{"windows local appdata", "windows", func(h string) map[string]string { return map[string]string{"LOCALAPPDATA": h + `\AppData\Local`} },
			func(env detect.Env) string { return env.Join(env.Get("LOCALAPPDATA"), "VirtualDJ") }},
		{"windows onedrive", "windows", func(h string) map[string]string { return map[string]string{"OneDrive": h + `\OneDrive`} },
			func(env detect.Env) string { return env.Join(env.Get("OneDrive"), "Documents", "VirtualDJ") }},
		{"darwin application support", "darwin", nil, func(env detect.Env) string {
			return env.Join(env.Home, "Library", "Application Support", "VirtualDJ")
		}},
		{"darwin documents (VirtualDJ 7)", "darwin", nil, func(env detect.Env) string { return env.Join(env.Home, "Documents", "VirtualDJ") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			home := t.TempDir()
			vars := map[string]string{}
			if tc.env != nil {
				vars = tc.env(home)
			}
			env := detecttest.Env(home, tc.goos, vars)
			if got := Locate(env); len(got) != 0 {
				t.Fatalf("empty home: found %+v", got)
			}
			vdj := tc.where(env)
			detecttest.MkFile(t, env.Join(vdj, "settings.xml"), settingsOn, time.Time{})
			detecttest.MkFile(t, env.Join(vdj, "database.xml"), databaseXML, time.Time{})
			// The files go into the History folder by this OS's separator:
			// on Linux a Windows layout's folder is one name with
			// backslashes in it, and its files must still be inside it.
			hist := env.Join(vdj, "History")
			detecttest.MkFile(t, filepath.Join(hist, "2026-11-24.m3u"), "#EXTVDJ:<title>x</title>\r\nx.mp3\r\n", older)
			detecttest.MkFile(t, filepath.Join(hist, "2026-11-25.m3u"), "#EXTVDJ:<title>y</title>\r\ny.mp3\r\n", newer)
			detecttest.MkFile(t, filepath.Join(hist, "notes.txt"), "not history", newer.Add(time.Hour))
			got := Locate(env)
			if len(got) != 1 {
				t.Fatalf("found %+v", got)
			}
			f := got[0]
			if f.Product != "virtualdj" || f.Path != vdj || !f.Ready || !f.Changed.Equal(newer) || f.Why == "" {
				t.Errorf("found %+v", f)
			}

			detecttest.MkFile(t, env.Join(vdj, "settings.xml"), settingsOff, time.Time{})
			f = Locate(env)[0]
			if f.Ready || !strings.Contains(f.Why, "writeHistory") {
				t.Errorf("history off: %+v", f)
			}
		})
	}

	t.Run("linux", func(t *testing.T) {
		env := detect.Env{Home: t.TempDir(), GOOS: "linux"}
		if got := Locate(env); len(got) != 0 {
			t.Errorf("found %+v", got)
		}
		// A home with only its History folder, no database or settings, is
		// not VirtualDJ's.
		detecttest.MkFile(t, env.Join(env.Home, "Documents", "VirtualDJ", "History", "a.m3u"), "", time.Time{})
		if got := Locate(env); len(got) != 0 {
			t.Errorf("found %+v", got)
		}
	})
}

func historyLine(artist, title, path string, at time.Time) string {
	return fmt.Sprintf("#EXTVDJ:<time>%s</time><lastplaytime>%d</lastplaytime><artist>%s</artist><title>%s</title>\r\n%s\r\n",
		at.Format("15:04"), at.Unix(), artist, title, path)
}

func appendFile(t testing.TB, p, s string) {
	t.Helper()
	f, err := os.OpenFile(p, os.O_APPEND|os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
}

// The plugin is followed while it answers; when it stops, the history
// file takes over, and back again; no play is announced twice across the
// switches, and database.xml fills the BPM and key the history lacks.
func TestSwitchPluginAndHistory(t *testing.T) {
	f := newFakeVDJ(t)
	clk := newClock()
	home := filepath.Join(t.TempDir(), "VirtualDJ")
	hist := filepath.Join(home, "History", "2026-11-25.m3u")
	detecttest.MkFile(t, filepath.Join(home, "database.xml"), databaseXML, time.Time{})
	detecttest.MkFile(t, hist, "\uFEFF"+historyLine("Old", "Before Pika", "/Music/Old - Before Pika.mp3", clk.Now().Add(-time.Hour)), time.Time{})
	f.set(func(f *fakeVDJ) {
		f.decks["1"] = &fakeDeck{audible: true, title: "First", artist: "A", path: "/Music/A - First.mp3", bpm: "100"}
	})
	s := testSourceAt(t, f, clk, t.TempDir(), home)
	out := detecttest.RunSource(t, s)

	// 1. The plugin announces A.
	waitReads(t, f, "deck 1 is_audible", 2)
	clk.Advance(6 * time.Second)
	testenv.Eventually(t, 10*time.Second, "A from the plugin", func() bool { return len(out.Entries()) == 1 })

	// 2. The plugin goes away; once its grace has passed the history file
	// is followed, and says why.
	f.set(func(f *fakeVDJ) { f.down = true })
	testenv.Eventually(t, 10*time.Second, "the plugin's failure", func() bool { return s.plugin.Status().Err != "" })
	clk.Advance(10 * time.Second)
	testenv.Eventually(t, 10*time.Second, "history mode", func() bool { return strings.Contains(s.Status().Path, "history") })
	if st := s.Status(); !strings.Contains(st.Path, "not answering") && !strings.Contains(st.Path, "HTTP 503") {
		t.Errorf("status %+v", st)
	}

	// 3. VirtualDJ writes A to its history late: the plugin had it already.
	appendFile(t, hist, historyLine("A", "First", "/Music/A - First.mp3", clk.Now().Add(-15*time.Second)))
	// 4. B, played while the plugin is away, comes from the history, with
	// BPM and key from database.xml.
	appendFile(t, hist, historyLine("B", "Second", "/Music/B - Second.mp3", clk.Now()))
	testenv.Eventually(t, 10*time.Second, "B from the history", func() bool { return len(out.Entries()) == 2 })
	b := out.Entries()[1]
	if b.Title != "Second" || b.Source != "virtualdj" || b.BPM != 128 || b.Key != "F#m" || b.PlayedAt.Unix() != clk.Now().Unix() {
		t.Errorf("B = %+v", b)
	}

	// 5. The plugin is back, B still audible on deck 2: not announced
	// again. C on deck 1 is.
	clk.Advance(30 * time.Second)
	f.set(func(f *fakeVDJ) {
		f.down = false
		f.decks["1"] = &fakeDeck{audible: false, title: "Third", artist: "C", path: "/Music/C - Third.mp3"}
		f.decks["2"] = &fakeDeck{audible: true, title: "Second", artist: "B", path: "/Music/B - Second.mp3"}
	})
	waitReads(t, f, "deck 2 is_audible", 2)
	clk.Advance(6 * time.Second)
	waitReads(t, f, "deck 2 is_audible", 2)
	f.set(func(f *fakeVDJ) { f.decks["1"].audible = true; f.decks["2"].audible = false })
	waitReads(t, f, "deck 1 is_audible", 2)
	clk.Advance(6 * time.Second)
	testenv.Eventually(t, 10*time.Second, "C from the plugin", func() bool { return len(out.Entries()) == 3 })
	if !strings.Contains(s.Status().Path, "Network Control") {
		t.Errorf("status %+v", s.Status())
	}

	// 6. History lines while the plugin answers are left to it.
	appendFile(t, hist, historyLine("C", "Third", "/Music/C - Third.mp3", clk.Now()))
	testenv.Eventually(t, 10*time.Second, "the history's C read", func() bool {
		le := s.history.Status().LastEntry
		return le != nil && le.Title == "Third"
	})
	if got := out.Titles(); !slices.Equal(got, []string{"First", "Second", "Third"}) {
		t.Errorf("announced %q, want each play once", got)
	}
}

// A restart of Pika! mid-track keeps the track's identity and does not
// announce it again.
func TestRestartDoesNotAnnounceAgain(t *testing.T) {
	f := newFakeVDJ(t)
	clk := newClock()
	data := t.TempDir()
	f.set(func(f *fakeVDJ) {
		f.decks["1"] = &fakeDeck{audible: true, title: "Long One", artist: "A", path: "/Music/A - Long One.mp3"}
	})
	s1, home := testSource(t, f, clk, data)
	out1 := detecttest.RunSource(t, s1)
	waitReads(t, f, "deck 1 is_audible", 2)
	clk.Advance(6 * time.Second)
	testenv.Eventually(t, 10*time.Second, "first announcement", func() bool { return len(out1.Entries()) == 1 })
	out1.Stop()

	clk.Advance(20 * time.Second)
	f.set(func(f *fakeVDJ) {
		f.decks["2"] = &fakeDeck{audible: true, title: "Next One", artist: "B", path: "/Music/B - Next One.mp3"}
	})
	s2 := testSourceAt(t, f, clk, data, home)
	out2 := detecttest.RunSource(t, s2)
	waitReads(t, f, "deck 2 is_audible", 2)
	clk.Advance(6 * time.Second)
	// Both decks qualify at the same read; deck 1 would come first.
	testenv.Eventually(t, 10*time.Second, "the next track", func() bool { return len(out2.Entries()) >= 1 })
	if got := out2.Titles(); !slices.Equal(got, []string{"Next One"}) {
		t.Errorf("after restart announced %q", got)
	}
}

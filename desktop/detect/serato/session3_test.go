package serato

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pika-dj/pika/desktop/detect"
	"github.com/pika-dj/pika/desktop/detect/detecttest"
	"github.com/pika-dj/pika/internal/testenv"
)

// sessionFile is a session file Serato appends to.
type sessionFile struct{ path string }

func newSessionFile(t testing.TB, dir string, n int) *sessionFile {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	f := &sessionFile{path: filepath.Join(dir, strconv.Itoa(n)+".session")}
	f.append(t, vrsn("1.0/Serato Scratch LIVE Review"))
	return f
}

func (f *sessionFile) append(t testing.TB, b []byte) {
	t.Helper()
	w, err := os.OpenFile(f.path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

// writeAt writes b at off, as Serato fills its preallocated space.
func (f *sessionFile) writeAt(t testing.TB, off int64, b []byte) {
	t.Helper()
	w, err := os.OpenFile(f.path, os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

// bump moves the file's mtime so a rewrite of the same size is seen as a
// change even on a file system with coarse times.
func bump(t testing.TB, path string, d time.Duration) {
	t.Helper()
	if err := os.Chtimes(path, time.Now().Add(d), time.Now().Add(d)); err != nil {
		t.Fatal(err)
	}
}

// newStepper3 steps through Serato DJ 3's session files in dir.
func newStepper3(dir string) *stepper {
	r := &sessions3{dir: dir, now: time.Now, log: slog.New(slog.DiscardHandler)}
	return &stepper{read: r.read, dec: detect.NewDecider(detect.Policy{}), now: t0}
}

func TestSession3Script(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "_Serato_", "History", "Sessions")
	s := newStepper3(dir)
	if _, err := s.read(context.Background()); err == nil || !strings.Contains(err.Error(), "no Serato session folder") {
		t.Fatalf("missing folder: %v", err)
	}
	old := newSessionFile(t, dir, 9)
	old.append(t, track{row: 1, deck: 1, artist: "Last Week", title: "Old Song", start: t0.Add(-7 * 24 * time.Hour), played: true}.oent())
	f := newSessionFile(t, dir, 10) // numbered higher: the current session
	s.step(t)

	a := track{row: 1, deck: 1, artist: "Invented Band", title: "Slow Burn", start: t0}
	f.append(t, a.oent()) // loaded on deck 1
	s.step(t)
	// Deck 2 is loaded; Serato rewrites deck 1's row as played.
	b := track{row: 2, deck: 2, artist: "Other Band", title: "Push Break", start: t0.Add(3 * time.Minute)}
	a.played = true
	f.append(t, join(b.oent(), a.oent()))
	got := s.step(t, "Slow Burn")
	e := got[0]
	if e.Artist != "Invented Band" || e.Album != "Invented Album" || e.BPM != 97 || e.Key != "Am" || e.Duration != 215.4 ||
		e.Path != a.path() || e.Deck != "1" || e.Source != "serato3" || !e.PlayedAt.Equal(t0) ||
		!strings.HasPrefix(e.ID, "serato3:") || len(e.ID) != len("serato3:")+20 {
		t.Fatalf("entry %+v", e)
	}

	// Deck 2's update is half written: nothing yet, and no harm.
	b.played = true
	whole := b.oent()
	f.append(t, whole[:len(whole)/2])
	bump(t, f.path, time.Second)
	s.step(t)
	s.step(t)
	f.append(t, whole[len(whole)/2:])
	bump(t, f.path, 2*time.Second)
	s.step(t, "Push Break")

	// Deck 1 finishes (play time set) and is ejected: no repeat.
	a.playTime, a.end = 215, t0.Add(4*time.Minute)
	f.append(t, a.oent())
	s.step(t)

	// A track loaded by mistake and removed: never announced.
	m := track{row: 3, deck: 1, artist: "Wrong", title: "Mistake", start: t0.Add(5 * time.Minute)}
	f.append(t, join(m.oent(), oren(3)))
	s.step(t)

	// Serato preallocates blank space, then fills it.
	info, _ := os.Stat(f.path)
	f.append(t, make([]byte, 8192))
	s.step(t)
	c := track{row: 4, deck: 1, artist: "Invented Band", title: "Anchor Step", start: t0.Add(6 * time.Minute), played: true}
	f.writeAt(t, info.Size(), c.oent())
	bump(t, f.path, 3*time.Second)
	s.step(t, "Anchor Step")

	// Serato touches the older session after the current one: ignored.
	old.append(t, track{row: 2, deck: 2, artist: "Last Week", title: "Older Song", start: t0, played: true}.oent())
	bump(t, old.path, 10*time.Second)
	s.step(t)

	// A restart reads the same plays with the same ids and times.
	again := newStepper3(dir).step(t, "Push Break", "Anchor Step")
	if again[1].ID == e.ID || !again[1].PlayedAt.Equal(t0.Add(6*time.Minute)) {
		t.Fatalf("after a restart: %+v", again)
	}
}

func TestSession3StaleSessionIsAPastSet(t *testing.T) {
	dir := t.TempDir()
	f := newSessionFile(t, dir, 3)
	f.append(t, track{row: 1, deck: 1, artist: "Last Gig", title: "Closer", start: t0, played: true}.oent())
	bump(t, f.path, -time.Hour)
	s := newStepper3(dir)
	s.step(t) // Pika! starts between gigs: last night's last track is not news
	f.append(t, track{row: 2, deck: 2, artist: "Tonight", title: "Opener", start: t0.Add(time.Hour), played: true}.oent())
	bump(t, f.path, 0)
	s.step(t, "Closer", "Opener") // Serato writes again: the session is live
}

func TestSession3Source(t *testing.T) {
	home := t.TempDir()
	env := detect.Env{Home: home, GOOS: "darwin"}
	sessions := filepath.Join(home, "Music", "_Serato_", "History", "Sessions")
	f := newSessionFile(t, sessions, 1)
	found := Session3Product().Locate(env)
	if len(found) != 1 || !found[0].Ready || found[0].Path != sessions {
		t.Fatalf("found %+v", found)
	}
	src, err := Session3Product().Open(found[0], detect.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if src.Name() != "serato3" {
		t.Fatalf("name %q", src.Name())
	}
	r := detecttest.RunSource(t, src)
	r.Reads(t, 2)
	a := track{row: 1, deck: 1, artist: "A", title: "Live Session Song", start: time.Now()}
	f.append(t, a.oent())
	r.Reads(t, 2)
	if got := r.Titles(); len(got) != 0 {
		t.Fatalf("a loaded track was announced: %q", got)
	}
	a.played = true
	whole := a.oent()
	f.append(t, whole[:25]) // mid-write
	r.Reads(t, 2)
	f.append(t, whole[25:])
	testenv.Eventually(t, 10*time.Second, "the played row announced", func() bool {
		return slices.Equal(r.Titles(), []string{"Live Session Song"})
	})
	r.Reads(t, 2)
	if got := r.Titles(); len(got) != 1 || src.Status().Err != "" {
		t.Fatalf("announced %q, status %+v", got, src.Status())
	}

	// Naming the _Serato_ folder or one session file works too.
	for _, p := range []string{filepath.Join(home, "Music", "_Serato_"), f.path} {
		src, err := Session3Product().Open(detect.Found{Product: ID3, Path: p}, detect.Options{})
		if err != nil {
			t.Fatal(err)
		}
		r := detecttest.RunSource(t, src)
		testenv.Eventually(t, 10*time.Second, "read through "+p, func() bool { return len(r.Titles()) == 1 })
	}
}

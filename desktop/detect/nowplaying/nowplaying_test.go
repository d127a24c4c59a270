package nowplaying

import (
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pika-dj/pika/desktop/detect"
	"github.com/pika-dj/pika/desktop/detect/detecttest"
	"github.com/pika-dj/pika/internal/testenv"
)

var evening = time.Date(2026, 11, 25, 21, 0, 0, 0, time.UTC)

// stepper drives a reader and a Decider as the Polled source does, at
// chosen moments.
type stepper struct {
	t   *testing.T
	clk *detecttest.Clock
	r   *reader
	d   *detect.Decider
}

func newStepper(t *testing.T, path string, importCurrent bool) *stepper {
	clk := detecttest.NewClock(evening)
	return &stepper{
		t: t, clk: clk,
		r: &reader{path: path, now: clk.Now, log: slog.New(slog.DiscardHandler), importCurrent: importCurrent},
		d: detect.NewDecider(detect.Policy{MinAudible: DefaultStableFor, MinLevel: 1}),
	}
}

// at reads at evening+offset and returns what is announced.
func (s *stepper) at(offset time.Duration) []detect.Entry {
	s.t.Helper()
	now := evening.Add(offset)
	s.clk.Set(now)
	decks, err := s.r.read(context.Background())
	if err != nil {
		s.t.Fatalf("read at +%v: %v", offset, err)
	}
	return s.d.Observe(now, decks)
}

func (s *stepper) none(offset time.Duration) {
	s.t.Helper()
	if got := s.at(offset); len(got) != 0 {
		s.t.Fatalf("+%v: announced %+v, want nothing", offset, got)
	}
}

func (s *stepper) one(offset time.Duration, title string) detect.Entry {
	s.t.Helper()
	got := s.at(offset)
	if len(got) != 1 || got[0].Title != title {
		s.t.Fatalf("+%v: announced %+v, want %q", offset, got, title)
	}
	return got[0]
}

func TestStabilityWindow(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "NowPlaying.txt")
	ms := time.Millisecond
	detecttest.MkFile(t, path, "", evening.Add(-time.Hour))
	s := newStepper(t, path, false)
	s.none(0) // an empty file: nothing playing

	detecttest.MkFile(t, path, "Example Band - Slow Dance\n", evening.Add(100*ms))
	s.none(100 * ms)
	s.none(600 * ms)
	// Replaced before it was there a second (a wrong load, or a half
	// write): never a play. Then the file is caught half-written.
	detecttest.MkFile(t, path, "The Inventions – Smoo", evening.Add(900*ms))
	s.none(900 * ms)
	detecttest.MkFile(t, path, "The Inventions – Smooth Sailing\n", evening.Add(1500*ms))
	s.none(1500 * ms)
	s.none(2000 * ms)
	s.none(2499 * ms)
	e := s.one(2500*ms, "Smooth Sailing")
	want := detect.Entry{Artist: "The Inventions", Title: "Smooth Sailing", Source: "nowplaying", PlayedAt: evening.Add(1500 * ms), ID: e.ID}
	if e != want || !strings.HasPrefix(e.ID, "nowplaying-") || len(e.ID) != len("nowplaying-")+20 {
		t.Fatalf("play\n got %+v\nwant %+v", e, want)
	}

	// The program rewrites the same track, or clears the file on pause and
	// writes it again: not a new play.
	detecttest.MkFile(t, path, "The Inventions – Smooth Sailing\n", evening.Add(3*time.Second))
	s.none(3 * time.Second)
	detecttest.MkFile(t, path, "", evening.Add(10*time.Second))
	s.none(10 * time.Second)
	detecttest.MkFile(t, path, "The Inventions – Smooth Sailing\n", evening.Add(12*time.Second))
	s.none(12 * time.Second)
	s.none(20 * time.Second)

	// The next track.
	detecttest.MkFile(t, path, "Title: Pocket Funk\nArtist: Lila Moreau\nBPM: 104\nKey: F#m\n", evening.Add(3*time.Minute))
	s.none(3 * time.Minute)
	e = s.one(3*time.Minute+time.Second, "Pocket Funk")
	if e.BPM != 104 || e.Key != "F#m" || !e.PlayedAt.Equal(evening.Add(3*time.Minute)) {
		t.Errorf("got %+v", e)
	}
}

func TestFileLeftFromAnEarlierSet(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "nowplaying.txt")
	detecttest.MkFile(t, path, "Example Band - Slow Dance\n", evening.Add(-2*time.Hour))
	s := newStepper(t, path, false)
	s.none(0)
	s.none(5 * time.Second)
	detecttest.MkFile(t, path, "Lila Moreau - Pocket Funk\n", evening.Add(10*time.Second))
	s.none(10 * time.Second)
	s.one(11*time.Second, "Pocket Funk")
	// The old track played again later is a play.
	detecttest.MkFile(t, path, "Example Band - Slow Dance\n", evening.Add(5*time.Minute))
	s.none(5 * time.Minute)
	s.one(5*time.Minute+time.Second, "Slow Dance")

	// With --import the track in the file at start is a play, however old.
	detecttest.MkFile(t, path, "Example Band - Slow Dance\n", evening.Add(-2*time.Hour))
	s = newStepper(t, path, true)
	s.none(0)
	s.one(time.Second, "Slow Dance")

	// A recent file at start is the track playing now; a restart of Pika!
	// gives it the same ID and time.
	detecttest.MkFile(t, path, "Lila Moreau - Pocket Funk\n", evening.Add(-3*time.Minute))
	first := newStepper(t, path, false)
	first.none(0)
	a := first.one(time.Second, "Pocket Funk")
	again := newStepper(t, path, false)
	again.none(0)
	if b := again.one(time.Second, "Pocket Funk"); b != a {
		t.Errorf("after a restart %+v, before %+v", b, a)
	}
}

func TestUnreadableFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	tests := []struct {
		name, path, want string
		setup            func(path string)
	}{
		{"missing", filepath.Join(dir, "gone.txt"), "is not there: switch on your DJ program's now-playing text file", func(string) {}},
		{"a folder", dir, "is a folder, not a now-playing file", func(string) {}},
		{"too big", filepath.Join(dir, "big.txt"), "too big to be a now-playing file", func(p string) {
			detecttest.MkFile(t, p, strings.Repeat("Example Band - Slow Dance\n", 5000), time.Time{})
		}},
	}
	for _, tt := range tests {
		tt.setup(tt.path)
		s := newStepper(t, tt.path, false)
		_, err := s.r.read(context.Background())
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: got %v, want it to say %q", tt.name, err, tt.want)
		}
	}
}

// run opens the source at path with the clock now (nil: the real one) and
// runs it in the background until the test ends.
func run(tb testing.TB, path string, stableFor time.Duration, now func() time.Time) (*detect.Polled, *detecttest.Emitted) {
	tb.Helper()
	src, err := open(path, detect.Options{}, stableFor, now)
	if err != nil {
		tb.Fatal(err)
	}
	return src, detecttest.RunSource(tb, src)
}

// readAt moves the clock to t and waits until src has read there.
func readAt(tb testing.TB, src *detect.Polled, clk *detecttest.Clock, t time.Time) {
	tb.Helper()
	clk.Set(t)
	testenv.Eventually(tb, 10*time.Second, "a read at "+t.Format("15:04:05.000"), func() bool { return src.Status().LastReadAt.Equal(t) })
}

func TestSourceAnnouncesAfterTheWindow(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "NowPlaying.txt")
	clk := detecttest.NewClock(evening)
	src, r := run(t, path, DefaultStableFor, clk.Now)
	testenv.Eventually(t, 10*time.Second, "the missing file on the status line", func() bool { return strings.Contains(src.Status().Err, "is not there") })

	detecttest.MkFile(t, path, "Title: Slow Dance\nArtist: Example Band\nAlbum: N/A\nTime: 03:51\n", evening)
	readAt(t, src, clk, evening.Add(500*time.Millisecond))
	// One more read, so whatever the read at +500 ms announced has been
	// handed over: nothing, the track has not been there a second.
	readAt(t, src, clk, evening.Add(600*time.Millisecond))
	r.Quiet(t) // inside the stability window
	clk.Set(evening.Add(1600 * time.Millisecond))
	e := r.Next(t)
	if e.Title != "Slow Dance" || e.Artist != "Example Band" || e.Duration != 231 || e.Album != "" || !e.PlayedAt.Equal(evening) {
		t.Fatalf("got %+v", e)
	}
	testenv.Eventually(t, 10*time.Second, "the play on the status line", func() bool {
		st := src.Status()
		return st.Err == "" && st.LastEntry != nil && st.LastEntry.ID == e.ID && st.Path == path
	})

	detecttest.MkFile(t, path, "Lila Moreau – Pocket Funk", evening.Add(time.Minute))
	readAt(t, src, clk, evening.Add(time.Minute))
	clk.Set(evening.Add(time.Minute + time.Second))
	if e := r.Next(t); e.Title != "Pocket Funk" {
		t.Fatalf("got %+v", e)
	}
}

func TestLocate(t *testing.T) {
	t.Parallel()
	home := t.TempDir()
	file := filepath.Join(home, "Music", "djay", "NowPlaying.txt")
	for _, goos := range []string{"darwin", "windows", "linux"} {
		t.Run(goos, func(t *testing.T) {
			vars := map[string]string{}
			env := detecttest.Env(home, goos, vars)
			if got := Locate(env); got != nil {
				t.Fatalf("without %s: %+v", EnvFile, got)
			}
			vars[EnvFile] = filepath.Join(home, "nowhere", "np.txt")
			if got := Locate(env); len(got) != 1 || got[0].Ready || !strings.Contains(got[0].Why, "switch on the now-playing text file") {
				t.Fatalf("missing file: %+v", got)
			}
			vars[EnvFile] = home
			if got := Locate(env); len(got) != 1 || got[0].Ready || !strings.Contains(got[0].Why, "folder") {
				t.Fatalf("a folder: %+v", got)
			}
		})
	}
	detecttest.MkFile(t, file, "Example Band - Slow Dance\n", evening)
	env := detecttest.Env(home, "darwin", map[string]string{EnvFile: file})
	got := Locate(env)
	if len(got) != 1 || !got[0].Ready || got[0].Path != file || got[0].Product != "nowplaying" || !got[0].Changed.Equal(evening) || got[0].Why == "" {
		t.Fatalf("found: %+v", got)
	}
	p := Product()
	if p.ID != "nowplaying" || p.Name != "Now-playing text file" {
		t.Errorf("product %+v", p)
	}
	src, err := p.Open(got[0], detect.Options{})
	if err != nil || src.Name() != "nowplaying" || src.Status().Path != file {
		t.Fatalf("open: %v", err)
	}
	if _, err := p.Open(detect.Found{}, detect.Options{}); err == nil || !strings.Contains(err.Error(), EnvFile) {
		t.Errorf("opening nothing: %v", err)
	}
}

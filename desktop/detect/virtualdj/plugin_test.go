package virtualdj

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
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

func TestParseReply(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		vdjErr   bool
	}{
		{"yes", "yes", false},
		{"  no\r\n", "no", false},
		{`"Slow Dance"`, "Slow Dance", false},
		{`'Example Band'`, "Example Band", false},
		{`"it's"`, "it's", false},
		{`"unbalanced`, `"unbalanced`, false},
		{"\uFEFF128.00", "128.00", false},
		{"error:-2147467259", "", true},
		{"ERROR:-1", "", true},
		{"error: the verb", "error: the verb", false},
		{"Tab\there", "Tab here", false},
		{"", "", false},
	} {
		got, err := parseReply([]byte(tc.in))
		var ve *vdjError
		if errors.As(err, &ve) != tc.vdjErr || got != tc.want {
			t.Errorf("parseReply(%q) = %q, %v", tc.in, got, err)
		}
	}
	for in, want := range map[string]float64{"243.5": 243.5, "4:03": 243, "1:04:03": 3843, "243500": 243.5, "": 0, "-1": 0, "x:y": 0, "4:99:99": 0} {
		if got := parseDuration(in); got != want {
			t.Errorf("parseDuration(%q) = %v, want %v", in, got, want)
		}
	}
}

// testSource is a Source on a fake plugin and a temp VirtualDJ home, fast
// reads, a hand-moved clock.
func testSource(t testing.TB, f *fakeVDJ, clk *detecttest.Clock, dataDir string) (*Source, string) {
	t.Helper()
	home := filepath.Join(t.TempDir(), "VirtualDJ")
	if err := os.MkdirAll(filepath.Join(home, "History"), 0o755); err != nil {
		t.Fatal(err)
	}
	return testSourceAt(t, f, clk, dataDir, home), home
}

func testSourceAt(t testing.TB, f *fakeVDJ, clk *detecttest.Clock, dataDir, home string) *Source {
	t.Helper()
	s, err := New(Config{
		Addr:        f.addr(),
		ReadEvery:   10 * time.Millisecond,
		HistoryPoll: 20 * time.Millisecond,
		Timeout:     time.Second,
		Now:         clk.Now,
	}, home, detect.Options{DataDir: dataDir})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// A deck is announced once it has been audible for the policy's time; a
// deck cued in the headphones (not audible) never is.
func TestPluginAnnouncesAudibleDeck(t *testing.T) {
	f := newFakeVDJ(t)
	clk := newClock()
	f.set(func(f *fakeVDJ) {
		f.decks["1"] = &fakeDeck{audible: true, title: "Slow Dance", artist: "Example Band", album: "Night Moves", key: "Am", remix: "Club Edit", bpm: "102.00", total: "243.5", path: `D:\Music\Example Band - Slow Dance.mp3`}
		f.decks["2"] = &fakeDeck{title: "Cued Next", artist: "Someone", path: `D:\Music\Someone - Cued Next.mp3`}
	})
	s, _ := testSource(t, f, clk, "")
	out := detecttest.RunSource(t, s)

	waitReads(t, f, "deck 1 is_audible", 2)
	clk.Advance(6 * time.Second)
	testenv.Eventually(t, 10*time.Second, "deck 1 announced", func() bool { return len(out.Entries()) == 1 })

	e := out.Entries()[0]
	want := detect.Entry{Artist: "Example Band", Title: "Slow Dance (Club Edit)", Album: "Night Moves", Key: "Am", BPM: 102, Duration: 243.5,
		Path: `D:\Music\Example Band - Slow Dance.mp3`, Source: "virtualdj", Deck: "1", PlayedAt: newClock().Now()}
	id := e.ID
	e.ID = ""
	if e != want {
		t.Fatalf("announced\n%+v\nwant\n%+v", e, want)
	}
	if !strings.HasPrefix(id, "virtualdj-") || len(id) != len("virtualdj-")+20 {
		t.Errorf("ID %q", id)
	}
	if st := s.Status(); !strings.Contains(st.Path, "Network Control") || st.Err != "" || st.LastEntry == nil {
		t.Errorf("status %+v", st)
	}

	// Deck 2 is now audible: a new play. Deck 1 stays announced once.
	f.set(func(f *fakeVDJ) { f.decks["2"].audible = true })
	waitReads(t, f, "deck 2 is_audible", 2)
	clk.Advance(6 * time.Second)
	testenv.Eventually(t, 10*time.Second, "deck 2 announced", func() bool { return len(out.Entries()) == 2 })
	if got := out.Titles(); !slices.Equal(got, []string{"Slow Dance (Club Edit)", "Cued Next"}) {
		t.Errorf("titles %q", got)
	}
}

// In Sandbox the rehearsal deck answers is_audible yes; it must not be
// announced, and the decks are held as they were.
func TestSandboxHoldsDecks(t *testing.T) {
	f := newFakeVDJ(t)
	clk := newClock()
	f.set(func(f *fakeVDJ) {
		f.decks["1"] = &fakeDeck{audible: true, title: "On Air", artist: "A", path: "/Music/A - On Air.mp3"}
	})
	s, _ := testSource(t, f, clk, "")
	out := detecttest.RunSource(t, s)
	waitReads(t, f, "deck 1 is_audible", 2)
	clk.Advance(6 * time.Second)
	testenv.Eventually(t, 10*time.Second, "on-air track", func() bool { return len(out.Entries()) == 1 })

	f.set(func(f *fakeVDJ) {
		f.sandbox = "yes"
		f.decks["2"] = &fakeDeck{audible: true, title: "Rehearsed", artist: "B", path: "/Music/B - Rehearsed.mp3"}
	})
	waitReads(t, f, "sandbox", 3)
	clk.Advance(6 * time.Second)
	waitReads(t, f, "sandbox", 3)
	if n := f.count("deck 2 is_audible"); n > 1 {
		t.Errorf("decks asked %d times during Sandbox", n)
	}

	f.set(func(f *fakeVDJ) {
		f.sandbox = "no"
		f.decks["2"].audible = false
		f.decks["3"] = &fakeDeck{audible: true, title: "After", artist: "C", path: "/Music/C - After.mp3"}
	})
	waitReads(t, f, "deck 3 is_audible", 2)
	clk.Advance(6 * time.Second)
	testenv.Eventually(t, 10*time.Second, "the track after Sandbox", func() bool { return len(out.Entries()) == 2 })
	if got := out.Titles(); !slices.Equal(got, []string{"On Air", "After"}) {
		t.Errorf("titles %q; the rehearsed track must not be announced", got)
	}
}

// A VirtualDJ without the sandbox verb is asked once, then never again.
func TestNoSandboxVerb(t *testing.T) {
	f := newFakeVDJ(t)
	f.set(func(f *fakeVDJ) { f.sandbox = "" })
	clk := newClock()
	r := newDeckReader(newClient(f.addr(), "", time.Second), []int{1}, clk.Now, testLog(), "")
	for range 3 {
		if _, err := r.read(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if n := f.count("sandbox"); n != 1 {
		t.Errorf("sandbox asked %d times, want 1", n)
	}
}

// The errors the DJ sees say what is wrong in their words.
func TestPluginErrors(t *testing.T) {
	ctx := context.Background()
	clk := newClock()

	f := newFakeVDJ(t)
	f.set(func(f *fakeVDJ) { f.token = "s3cret" })
	r := newDeckReader(newClient(f.addr(), "wrong", time.Second), []int{1}, clk.Now, testLog(), "")
	if _, err := r.read(ctx); err == nil || !strings.Contains(err.Error(), "password") {
		t.Errorf("wrong password: %v", err)
	}
	r = newDeckReader(newClient(f.addr(), "s3cret", time.Second), []int{1}, clk.Now, testLog(), "")
	if _, err := r.read(ctx); err != nil {
		t.Errorf("right password: %v", err)
	}

	slow := newFakeVDJ(t)
	slow.set(func(f *fakeVDJ) { f.delay = 5 * time.Second })
	r = newDeckReader(newClient(slow.addr(), "", 50*time.Millisecond), []int{1}, clk.Now, testLog(), "")
	if _, err := r.read(ctx); err == nil || !strings.Contains(err.Error(), "too slow") {
		t.Errorf("slow plugin: %v", err)
	}

	// A port nobody listens on.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().String()
	l.Close()
	r = newDeckReader(newClient(closed, "", time.Second), []int{1}, clk.Now, testLog(), "")
	if _, err := r.read(ctx); err == nil || !strings.Contains(err.Error(), "not answering at "+closed) {
		t.Errorf("no plugin: %v", err)
	}

	// Another web server on the port is not taken for VirtualDJ.
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprint(w, "<html>It works!</html>")
	}))
	defer other.Close()
	r = newDeckReader(newClient(other.URL, "", time.Second), []int{1}, clk.Now, testLog(), "")
	if _, err := r.read(ctx); err == nil {
		t.Error("a web page passed for VirtualDJ's plugin")
	}
}

func testLog() *slog.Logger { return slog.New(slog.DiscardHandler) }

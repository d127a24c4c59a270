package virtualdj

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pika-dj/pika/desktop/detect/detecttest"
	"github.com/pika-dj/pika/internal/testenv"
)

// fakeVDJ is a Network Control plugin on a real loopback HTTP server,
// answering the VDJScript verbs Pika! asks the way VirtualDJ does: plain
// yes/no, some values quoted, unknown verbs as error:-2147467259.
type fakeVDJ struct {
	srv *httptest.Server

	mu      sync.Mutex
	decks   map[string]*fakeDeck
	sandbox string // "yes", "no", or "" for a VirtualDJ without the verb
	token   string
	down    bool          // answer 503, as a plugin that is not there
	delay   time.Duration // answer this late (a hung VirtualDJ)
	asked   map[string]int
}

type fakeDeck struct {
	audible                                bool
	title, artist, album, key, remix, path string
	bpm, total                             string
}

func newFakeVDJ(t testing.TB) *fakeVDJ {
	f := &fakeVDJ{decks: map[string]*fakeDeck{}, sandbox: "no", asked: map[string]int{}}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeVDJ) addr() string { return strings.TrimPrefix(f.srv.URL, "http://") }

func (f *fakeVDJ) set(fn func(f *fakeVDJ)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

// count is how many times script was asked.
func (f *fakeVDJ) count(script string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.asked[script]
}

func (f *fakeVDJ) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	delay, down, token := f.delay, f.down, f.token
	f.mu.Unlock()
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
			return
		}
	}
	if down {
		http.Error(w, "unavailable", http.StatusServiceUnavailable)
		return
	}
	if token != "" && r.Header.Get("Authorization") != "Bearer "+token {
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	script := r.URL.Query().Get("script")
	f.mu.Lock()
	f.asked[script]++
	reply := f.answer(script)
	f.mu.Unlock()
	fmt.Fprint(w, reply)
}

const eFail = "error:-2147467259"

func (f *fakeVDJ) answer(script string) string {
	switch script {
	case "get_clock":
		return "21:41"
	case "sandbox":
		if f.sandbox == "" {
			return eFail
		}
		return f.sandbox
	}
	rest, ok := strings.CutPrefix(script, "deck ")
	if !ok {
		return eFail
	}
	n, verb, _ := strings.Cut(rest, " ")
	d := f.decks[n]
	if verb == "loaded" {
		if d == nil {
			return "no"
		}
		return "yes"
	}
	if d == nil {
		return eFail
	}
	orErr := func(s string) string {
		if s == "" {
			return eFail
		}
		return s
	}
	switch verb {
	case "is_audible":
		if d.audible {
			return "yes"
		}
		return "no"
	case "get_loaded_song 'title'":
		return `"` + d.title + `"` // quoted, as some versions answer
	case "get_loaded_song 'artist'":
		return "'" + d.artist + "'"
	case "get_loaded_song 'album'":
		return orErr(d.album)
	case "get_loaded_song 'key'":
		return orErr(d.key)
	case "get_loaded_song 'remix'":
		return orErr(d.remix)
	case "get_bpm absolute":
		return orErr(d.bpm)
	case "get_time total":
		return orErr(d.total)
	case "get_filepath":
		return d.path
	}
	return eFail
}

// newClock is the test's clock, moved by hand, stopped at 21:40 on the
// evening of the invented set.
func newClock() *detecttest.Clock {
	return detecttest.NewClock(time.Date(2026, 11, 25, 21, 40, 0, 0, time.UTC))
}

// waitReads waits until the plugin was asked about deck n's audibility k
// more times, so the source has seen the current state.
func waitReads(t testing.TB, f *fakeVDJ, script string, k int) {
	t.Helper()
	start := f.count(script)
	testenv.Eventually(t, 10*time.Second, fmt.Sprintf("%d more %q", k, script), func() bool { return f.count(script) >= start+k })
}

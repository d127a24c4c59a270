package traktor

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pika-dj/pika/desktop/detect"
	"github.com/pika-dj/pika/desktop/detect/detecttest"
	"github.com/pika-dj/pika/desktop/detect/traktor/traktortest"
	"github.com/pika-dj/pika/internal/testenv"
)

var setStart = time.Date(2026, 11, 27, 21, 0, 0, 0, time.UTC)

func waitTitles(t *testing.T, r *running, want ...string) {
	t.Helper()
	testenv.Eventually(t, 10*time.Second, "titles "+strings.Join(want, ", "), func() bool {
		return len(r.out.Titles()) >= len(want)
	})
	if got := r.out.Titles(); !slices.Equal(got, want) {
		t.Fatalf("titles %q, want %q", got, want)
	}
}

func TestBroadcastTracks(t *testing.T) {
	// The injected clock moves a second each time it is read.
	clk := detecttest.NewClock(setStart)
	r := start(t, Config{Now: func() time.Time { return clk.Advance(time.Second) }}, nil)
	if st := r.s.Status(); !strings.Contains(st.Err, "Preferences → Broadcasting") || st.Source != "traktor" {
		t.Fatalf("status before Traktor connects: %+v", st)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	tc := traktortest.Connect(t, r.s.Addr(), 3)
	testenv.Eventually(t, 10*time.Second, "status connected", func() bool { return r.s.Status().Err == "" })

	one := traktortest.TrackStream(rng, 0x1001, "ARTIST=Ella Mai", "TITLE=Boo'd Up", "album=Ready")
	// The second track's comment header is long (a big vendor-style field)
	// and laid out over several small pages, so it continues across pages.
	w := traktortest.NewWriter(0x2002)
	w.PerPage = 2
	two := w.Pages(traktortest.VorbisIdent())
	two = append(two, w.Pages(traktortest.VorbisComment(traktortest.Vendor, "Title=Leave The Door Open", "artist=Silk Sonic", "COMMENT="+strings.Repeat("x", 900)))...)
	w.PerPage = 255
	two = append(two, w.Pages(traktortest.Audio(rng, 600), traktortest.Audio(rng, 600))...)
	tc.Send(append(one, two...))
	waitTitles(t, r, "Boo'd Up", "Leave The Door Open")

	got := r.out.Entries()
	if got[0].Artist != "Ella Mai" || got[0].Album != "Ready" || got[1].Artist != "Silk Sonic" {
		t.Fatalf("entries %+v", got)
	}
	for _, e := range got {
		if e.Source != "traktor" || !strings.HasPrefix(e.ID, "traktor-") || len(e.ID) != len("traktor-")+20 || e.Deck != "" {
			t.Errorf("entry %+v", e)
		}
		if !e.PlayedAt.After(setStart) || e.PlayedAt.After(setStart.Add(time.Hour)) {
			t.Errorf("PlayedAt %v is not the injected clock's", e.PlayedAt)
		}
	}
	if got[0].ID == got[1].ID || !got[1].PlayedAt.After(got[0].PlayedAt) {
		t.Fatalf("ids %s %s, times %v %v", got[0].ID, got[1].ID, got[0].PlayedAt, got[1].PlayedAt)
	}
	if st := r.s.Status(); st.LastEntry == nil || st.LastEntry.Title != "Leave The Door Open" || st.Err != "" {
		t.Fatalf("status %+v", st)
	}
}

func TestBroadcastSplitsArtistFromTitle(t *testing.T) {
	r := start(t, Config{}, nil)
	tc := traktortest.Connect(t, r.s.Addr(), 1)
	tc.Send(traktortest.TrackStream(rand.New(rand.NewPCG(1, 1)), 77, "TITLE=Jessie Ware - Free Yourself"))
	waitTitles(t, r, "Free Yourself")
	if e := r.out.Entries()[0]; e.Artist != "Jessie Ware" {
		t.Fatalf("artist %q", e.Artist)
	}
}

func TestBroadcastCorruptedPages(t *testing.T) {
	r := start(t, Config{}, nil)
	tc := traktortest.Connect(t, r.s.Addr(), 9)
	rng := rand.New(rand.NewPCG(4, 4))

	one := traktortest.TrackStream(rng, 1, "ARTIST=A", "TITLE=Before The Damage")
	// A damaged audio page in the middle of the first track…
	one[len(one)-300] ^= 0x55
	// …a track whose comment page is damaged (it is lost, nothing else)…
	w := traktortest.NewWriter(2)
	lost := w.Pages(traktortest.VorbisIdent())
	commentPage := w.Pages(traktortest.VorbisComment(traktortest.Vendor, "ARTIST=B", "TITLE=Damaged"))
	commentPage[len(commentPage)-5] ^= 0xff
	lost = append(lost, commentPage...)
	lost = append(lost, w.Pages(traktortest.Audio(rng, 500))...)
	// …bytes that are no page at all, including a false "OggS"…
	junk := []byte("garbageOggS\x00\x02garbage")
	// …and a good track after.
	three := traktortest.TrackStream(rng, 3, "ARTIST=C", "TITLE=After The Damage")

	tc.Send(slices.Concat(one, lost, junk, three))
	waitTitles(t, r, "Before The Damage", "After The Damage")
}

func TestBroadcastReconnectResendsCurrentTrack(t *testing.T) {
	r := start(t, Config{}, nil)
	rng := rand.New(rand.NewPCG(5, 5))

	tc := traktortest.Connect(t, r.s.Addr(), 1)
	// Pika! started mid-set: the track playing when Traktor connects is news.
	tc.Send(traktortest.TrackStream(rng, 10, "ARTIST=A", "TITLE=Playing At Connect"))
	tc.Send(traktortest.TrackStream(rng, 11, "ARTIST=B", "TITLE=Second"))
	waitTitles(t, r, "Playing At Connect", "Second")
	tc.Conn.Close()
	testenv.Eventually(t, 10*time.Second, "status says Traktor is gone", func() bool {
		return strings.Contains(r.s.Status().Err, "not broadcasting")
	})

	// Traktor reconnects and re-sends the current track (a new serial):
	// not a new play. The next one is.
	tc = traktortest.Connect(t, r.s.Addr(), 2)
	tc.Send(traktortest.TrackStream(rng, 20, "ARTIST=b", "TITLE=second"))
	tc.Send(traktortest.TrackStream(rng, 21, "ARTIST=C", "TITLE=Third"))
	waitTitles(t, r, "Playing At Connect", "Second", "Third")

	// A third connection whose first track differs from the last one
	// announced (the DJ changed track while disconnected) is a play.
	tc.Conn.Close()
	testenv.Eventually(t, 10*time.Second, "Traktor gone", func() bool { return r.s.Status().Err != "" })
	tc = traktortest.Connect(t, r.s.Addr(), 3)
	tc.Send(traktortest.TrackStream(rng, 30, "ARTIST=D", "TITLE=Fourth"))
	waitTitles(t, r, "Playing At Connect", "Second", "Third", "Fourth")
}

func TestBroadcastSecondSourceRefused(t *testing.T) {
	r := start(t, Config{}, nil)
	tc := traktortest.Connect(t, r.s.Addr(), 1)
	_, status := traktortest.DialStatus(t, r.s.Addr(), traktortest.SourceRequest)
	if status != "HTTP/1.0 403 Forbidden" {
		t.Fatalf("second source: %q", status)
	}
	// The first one still works.
	tc.Send(traktortest.TrackStream(rand.New(rand.NewPCG(1, 1)), 5, "ARTIST=A", "TITLE=Still Here"))
	waitTitles(t, r, "Still Here")
}

func TestBroadcastStrangersAreBounded(t *testing.T) {
	r := start(t, Config{}, nil, func(s *Source) { s.headerTimeout = 300 * time.Millisecond })
	addr := r.s.Addr()

	// Headers that never end.
	silent, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	if _, err := silent.Write([]byte("SOURCE /x HTTP/1.0\r\nice-name: slow")); err != nil {
		t.Fatal(err)
	}
	// Garbage with no line end, longer than any header, still coming: the
	// server stops reading it and closes (its 400 may be lost to a reset).
	flood, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer flood.Close()
	go func() {
		for range 64 {
			if _, err := flood.Write([]byte(strings.Repeat("\x00garbage", 1<<10))); err != nil {
				return
			}
		}
	}()
	traktortest.WaitClosed(t, flood)
	// A browser, not a source.
	_, status := traktortest.DialStatus(t, addr, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	if status != "HTTP/1.0 405 Method Not Allowed" {
		t.Fatalf("GET: %q", status)
	}
	// Traktor is not locked out by them.
	tc := traktortest.Connect(t, addr, 1)
	tc.Send(traktortest.TrackStream(rand.New(rand.NewPCG(1, 1)), 5, "ARTIST=A", "TITLE=Through The Noise"))
	waitTitles(t, r, "Through The Noise")
	traktortest.WaitClosed(t, silent)
}

func TestBroadcastIdleTimeoutAndNotOgg(t *testing.T) {
	r := start(t, Config{}, nil, func(s *Source) { s.idleTimeout = 300 * time.Millisecond })
	tc := traktortest.Connect(t, r.s.Addr(), 1)
	traktortest.WaitClosed(t, tc.Conn) // silent past the idle timeout
	testenv.Eventually(t, 10*time.Second, "status back to waiting", func() bool {
		return strings.Contains(r.s.Status().Err, "not broadcasting")
	})

	// MP3 is refused at the request.
	_, status := traktortest.DialStatus(t, r.s.Addr(), strings.Replace(traktortest.SourceRequest, "application/ogg", "audio/mpeg", 1))
	if status != "HTTP/1.0 415 Unsupported Media Type" || !strings.Contains(r.s.Status().Err, "Ogg Vorbis") {
		t.Fatalf("MP3: %q, status %q", status, r.s.Status().Err)
	}
	// A stream that is not Ogg is dropped once that is clear.
	tc = traktortest.Connect(t, r.s.Addr(), 2)
	go func() {
		noise := bytes.Repeat([]byte{0xff, 0xfb, 0x90, 0x64}, 256<<10)
		_, _ = tc.Conn.Write(noise)
	}()
	traktortest.WaitClosed(t, tc.Conn)
	testenv.Eventually(t, 10*time.Second, "status says not Ogg", func() bool {
		return strings.Contains(r.s.Status().Err, "not Ogg Vorbis")
	})
}

func TestBroadcastEmitRetried(t *testing.T) {
	failures := 2
	var calls atomic.Int32
	refuse := func(detect.Entry) error {
		calls.Add(1)
		if failures > 0 {
			failures--
			return errors.New("bus down")
		}
		return nil
	}
	r := start(t, Config{}, refuse, func(s *Source) { s.retryEmit = 20 * time.Millisecond })
	tc := traktortest.Connect(t, r.s.Addr(), 1)
	rng := rand.New(rand.NewPCG(1, 1))
	tc.Send(traktortest.TrackStream(rng, 1, "ARTIST=A", "TITLE=Flaky"))
	waitTitles(t, r, "Flaky")
	tc.Send(traktortest.TrackStream(rng, 2, "ARTIST=A", "TITLE=After"))
	waitTitles(t, r, "Flaky", "After")
	if n := calls.Load(); n != 4 {
		t.Fatalf("%d emit calls, want 2 failures + 2 successes", n)
	}
	if st := r.s.Status(); st.Err != "" {
		t.Fatalf("error not cleared: %q", st.Err)
	}
}

func TestBroadcastPortInUse(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := busy.Addr().String()
	s := New(Config{Listen: addr})
	s.relisten = 50 * time.Millisecond
	detecttest.RunSource(t, s)
	testenv.Eventually(t, 10*time.Second, "status says the port is taken", func() bool {
		return strings.Contains(s.Status().Err, "cannot listen on "+addr)
	})
	busy.Close()
	testenv.Eventually(t, 10*time.Second, "listening once the port is free", func() bool { return s.Addr() == addr })
}

func TestBroadcastCancelClosesEverything(t *testing.T) {
	before := runtime.NumGoroutine()
	dir := t.TempDir()
	coll := filepath.Join(dir, "collection.nml")
	if err := os.WriteFile(coll, []byte(testCollection), 0o644); err != nil {
		t.Fatal(err)
	}
	r := start(t, Config{Collection: coll}, nil)
	addr := r.s.Addr()
	tc := traktortest.Connect(t, addr, 1)
	idle, err := net.Dial("tcp", addr) // a connection still in its request
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	r.out.Stop()
	traktortest.WaitClosed(t, tc.Conn)
	traktortest.WaitClosed(t, idle)
	if r.s.Addr() != "" {
		t.Error("Addr still set after Run returned")
	}
	if c, err := net.Dial("tcp", addr); err == nil {
		c.Close()
		t.Fatal("still listening after cancel")
	}
	testenv.Eventually(t, 10*time.Second, "goroutines gone", func() bool { return runtime.NumGoroutine() <= before })
	// Run may start again once it has returned; here it ends at once.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := r.s.Run(ctx, func(context.Context, detect.Entry) error { return nil }); err != nil {
		t.Fatalf("Run after Run: %v", err)
	}
}

func TestBroadcastEnrichedFromCollection(t *testing.T) {
	dir := t.TempDir()
	coll := filepath.Join(dir, "collection.nml")
	if err := os.WriteFile(coll, []byte(testCollection), 0o644); err != nil {
		t.Fatal(err)
	}
	r := start(t, Config{Collection: coll}, nil, func(s *Source) { s.collectionEvery = 20 * time.Millisecond })
	if st := r.s.Status(); st.File != coll {
		t.Fatalf("status file %q", st.File)
	}
	tc := traktortest.Connect(t, r.s.Addr(), 1)
	rng := rand.New(rand.NewPCG(1, 1))
	tc.Send(traktortest.TrackStream(rng, 1, "ARTIST=Marvin Gaye & Tammi Terrell", "TITLE=Ain't No Mountain High Enough"))
	waitTitles(t, r, "Ain't No Mountain High Enough")
	e := r.out.Entries()[0]
	if e.BPM != 130.01 || e.Key != "1d" || e.Duration != 151.2 || e.Path != "/Users/dj/Music/Motown/Aint No Mountain.mp3" || e.Album != "United" {
		t.Fatalf("entry %+v", e)
	}

	// Traktor saves its collection with a corrected BPM: the next play has it.
	newer := strings.Replace(testCollection, `BPM="130.010002"`, `BPM="129.5"`, 1)
	if err := os.WriteFile(coll, []byte(newer+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	future := time.Now().Add(time.Minute)
	if err := os.Chtimes(coll, future, future); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 10*time.Second, "the collection read again", func() bool {
		r.s.mu.Lock()
		defer r.s.mu.Unlock()
		ct, _ := r.s.coll.lookup("Marvin Gaye & Tammi Terrell", "Ain't No Mountain High Enough")
		return ct.BPM == 129.5
	})
	tc.Send(traktortest.TrackStream(rng, 2, "ARTIST=Marvin Gaye & Tammi Terrell", "TITLE=Ain't No Mountain High Enough"))
	waitTitles(t, r, "Ain't No Mountain High Enough", "Ain't No Mountain High Enough")
	if e := r.out.Entries()[1]; e.BPM != 129.5 {
		t.Fatalf("after the refresh: %+v", e)
	}
}

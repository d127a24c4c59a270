package main

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pika-dj/pika/bus"
	"github.com/pika-dj/pika/desktop/detect/mixxx/mixxxtest"
	"github.com/pika-dj/pika/desktop/detect/serato/seratotest"
	"github.com/pika-dj/pika/desktop/detect/traktor/traktortest"
	"github.com/pika-dj/pika/internal/testenv"
)

// End to end, for each DJ program: the program's own files or stream
// change as the program changes them, `pika lan` detects the play, and it
// reaches a dancer's phone on a real WebSocket. The first play of a night
// starts the session, so a phone joins after it and the plays after that
// arrive live; the DJ's console is told what is being followed.

// e2eWait bounds every wait here: generous, as CI machines are slow; a
// wait that ends sooner passes at once.
const e2eWait = 20 * time.Second

// joinLive waits for the session the first play started, then joins it
// with a dancer's phone and with the DJ's console (proving the session's
// secret), both on real WebSockets, each past its snapshot.
func joinLive(t *testing.T, base string, r lanReady, firstTitle string) (sid string, phone, console *dancer) {
	t.Helper()
	sid = liveSession(t, base, firstTitle).ID
	phone = dial(t, base)
	phone.subscribe(sid, nil)
	phone.wait(e2eWait, "the phone's snapshot", isType("snapshot"))

	var secret string
	testenv.Eventually(t, e2eWait, "the session's DJ secret", func() bool {
		var ok bool
		secret, ok = r.Owner.Secret(sid)
		return ok
	})
	console = dial(t, base)
	console.Send(map[string]any{"type": "subscribe", "ref": "console", "sessionId": sid, "clientId": "c-e2e-dj-console", "secret": secret})
	console.wait(e2eWait, "the console's snapshot", isType("snapshot"))
	return sid, phone, console
}

// track is the track of a track.played frame.
func track(f map[string]any) map[string]any {
	return f["play"].(map[string]any)["track"].(map[string]any)
}

// playedTitles lists the titles of the track.played frames d has received,
// in order.
func playedTitles(d *dancer) []string {
	var out []string
	for _, f := range d.Frames() {
		if f["type"] == string(bus.TypeTrackPlayed) {
			out = append(out, track(f)["title"].(string))
		}
	}
	return out
}

// followsOnConsole waits until the console is told that the source named
// name is being read without error.
func followsOnConsole(console *dancer, name string) map[string]any {
	console.t.Helper()
	return console.wait(e2eWait, "a source frame: "+name+" reading", func(f map[string]any) bool {
		return f["type"] == bus.SourceStatusType && f["state"] == bus.SourceReading && f["name"] == name
	})
}

// TestLANFollowsMixxxFoundOnItsOwn: with neither --watch nor --demo nor
// --source, `pika lan` finds Mixxx's library in the home folder (the Linux
// layout, ~/.mixxx) and follows it: rows Mixxx appends to its history
// reach a dancer's phone.
func TestLANFollowsMixxxFoundOnItsOwn(t *testing.T) {
	dir := t.TempDir()
	home := filepath.Join(dir, "home")
	settings := filepath.Join(home, ".mixxx")
	if err := os.MkdirAll(settings, 0o755); err != nil {
		t.Fatal(err)
	}
	set := mixxxtest.NewSet(t, settings, time.Now())
	mixxx := set.Lib

	base, r, out := startLANWith(t, map[string]string{"HOME": home}, "--data", filepath.Join(dir, "data"))
	if s := out.String(); !strings.Contains(s, "Following Mixxx") || !strings.Contains(s, filepath.Join(settings, mixxxtest.DBName)) {
		t.Fatalf("pika lan does not say it follows Mixxx's library:\n%s", s)
	}

	// A track goes out: Mixxx appends it to today's history (in the WAL).
	mixxx.AppendNow(set.Today, set.Smooth)
	mixxx.WALOnly()
	sid, phone, console := joinLive(t, base, r, "Smooth Sailing (Club Edit)")

	// The next one arrives live, with what Mixxx knows of it.
	mixxx.AppendNow(set.Today, set.Funk)
	ev := phone.wait(e2eWait, "Pocket Funk on the phone", played("Pocket Funk"))
	if ev["sessionId"] != sid {
		t.Fatalf("event for session %v, want %s", ev["sessionId"], sid)
	}
	if tr := track(ev); tr["artist"] != "Lila Moreau" || tr["bpm"] != 104.02 || tr["key"] != "F#m" {
		t.Fatalf("track %v, want Lila Moreau at 104.02 BPM in F#m", tr)
	}
	st := followsOnConsole(console, "Mixxx")
	if st["source"] != "mixxx" {
		t.Fatalf("source frame %v", st)
	}
	for _, f := range phone.Frames() {
		if f["type"] == bus.SourceStatusType {
			t.Fatalf("a dancer's phone was sent the DJ's source status: %v", f)
		}
	}
}

// TestLANFollowsSerato4: `--source serato --watch master.sqlite`. A track
// loaded on a deck (Serato's played flag still 0, the DJ cueing it in the
// headphones) is not a play; once Serato marks it played it is, and a
// track on another deck is too.
func TestLANFollowsSerato4(t *testing.T) {
	dir := t.TempDir()
	serato := seratotest.New(t, filepath.Join(dir, "Serato"), seratotest.Schema4)
	night := serato.OpenSession(time.Now().Add(-time.Minute), -1)

	base, r, _ := startLANWith(t, fakeHome(t, dir), "--data", filepath.Join(dir, "data"), "--source", "serato", "--watch", serato.Path)

	// The opener goes out on deck 1 and starts the session.
	opener := serato.Load(night, seratotest.Load{Deck: "1", Artist: "Invented Band", Title: "Anchor Step", At: time.Now(), Played: true})
	_, phone, console := joinLive(t, base, r, "Anchor Step")
	followsOnConsole(console, "Serato DJ 4")

	// Deck 2: the next track loaded and cued in the headphones.
	cued := serato.Load(night, seratotest.Load{Deck: "2", Artist: "Other Band", Title: "Slow Burn", At: time.Now()})
	// Meanwhile deck 1 gets a quick track that does go out: once it is on
	// the phone, Pika! has read the database with the cued track in it.
	serato.Eject(opener, time.Now())
	serato.Load(night, seratotest.Load{Deck: "1", Artist: "Invented Band", Title: "Push Break", At: time.Now(), Played: true})
	phone.wait(e2eWait, "Push Break on the phone", played("Push Break"))
	if got := playedTitles(phone); strings.Join(got, "|") != "Push Break" {
		t.Fatalf("plays on the phone %q: a cued track must not be one", got)
	}

	// Serato counts the cued track played: now it is a play.
	serato.SetPlayed(cued)
	ev := phone.wait(e2eWait, "Slow Burn on the phone", played("Slow Burn"))
	if tr := track(ev); tr["artist"] != "Other Band" || tr["bpm"] != 96.5 || tr["key"] != "8A" {
		t.Fatalf("track %v", tr)
	}
	if got := playedTitles(phone); strings.Join(got, "|") != "Push Break|Slow Burn" {
		t.Fatalf("plays on the phone %q", got)
	}
}

// TestLANFollowsTraktor: `--source traktor --source-listen host:port
// --watch collection.nml`. Traktor connects as an Icecast source and
// broadcasts; each track it names in the stream reaches the phone, in
// order, with its BPM and key from Traktor's collection.
//
// --watch names the collection because on Linux (CI) Pika! cannot find
// Traktor's files on its own (Traktor has no Linux build), and `pika lan
// --source traktor` without --watch then refuses to start although the
// broadcast needs no file at all.
func TestLANFollowsTraktor(t *testing.T) {
	dir := t.TempDir()
	coll := filepath.Join(dir, "home", "Documents", "Native Instruments", "Traktor 3.11.1", "collection.nml")
	if err := os.MkdirAll(filepath.Dir(coll), 0o755); err != nil {
		t.Fatal(err)
	}
	traktortest.WriteCollection(t, coll,
		traktortest.Track{Artist: "Ella Mai", Title: "Boo'd Up", Album: "Ella Mai", BPM: 78, Key: "4m", Seconds: 194.5,
			Volume: "Macintosh HD", File: "/Users/dj/Music/WCS/Ella Mai - Boo'd Up.mp3"})
	addr := freeTCPAddr(t)
	base, r, _ := startLANWith(t, fakeHome(t, dir), "--data", filepath.Join(dir, "data"),
		"--source", "traktor", "--source-listen", addr, "--watch", coll)

	traktor := traktortest.Connect(t, addr, 1) // waits for Pika! to listen
	traktor.Play("ARTIST=Invented Band", "TITLE=Opening Number")
	_, phone, console := joinLive(t, base, r, "Opening Number")
	followsOnConsole(console, "Traktor Pro")

	// Two tracks, back to back in the stream.
	traktor.Play("ARTIST=Ella Mai", "TITLE=Boo'd Up")
	traktor.Play("ARTIST=Silk Sonic", "TITLE=Leave The Door Open")
	phone.wait(e2eWait, "the second broadcast track on the phone", played("Leave The Door Open"))
	if got := playedTitles(phone); strings.Join(got, "|") != "Boo'd Up|Leave The Door Open" {
		t.Fatalf("plays on the phone %q, want both in order", got)
	}
	if tr := track(phone.wait(0, "Boo'd Up", played("Boo'd Up"))); tr["artist"] != "Ella Mai" || tr["bpm"] != 78.0 || tr["key"] != "4m" {
		t.Fatalf("track %v, want its BPM and key from the collection", tr)
	}
}

// fakeHome is an environment whose home folder is an empty folder in dir,
// so that nothing of the machine's own home is looked at.
func fakeHome(t *testing.T, dir string) map[string]string {
	t.Helper()
	home := filepath.Join(dir, "home")
	if err := os.MkdirAll(home, 0o755); err != nil {
		t.Fatal(err)
	}
	return map[string]string{"HOME": home}
}

// freeTCPAddr is a loopback address with a port nothing listens on now.
func freeTCPAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

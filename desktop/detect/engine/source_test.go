package engine

import (
	"context"
	"fmt"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/pika-dj/pika/desktop/detect"
	"github.com/pika-dj/pika/internal/testenv"
)

// prime4 is an all-in-one unit with its own mixer: four decks, faders at
// zero, crossfader centred, every channel on THRU.
func prime4(t *testing.T, h *harness) *fakeUnit {
	u := newFakeUnit(t, "prime4", "JP11")
	u.set(pathDeckCount, num(4), pathCrossfader, num(0.5))
	for ch := 1; ch <= 4; ch++ {
		u.set(fmt.Sprintf(pathFaderFmt, ch), num(0), fmt.Sprintf(pathAssignFmt, ch), str("THRU"))
	}
	u.announceTo(h.addr)
	testenv.Eventually(t, 10*time.Second, "connected to the unit", func() bool {
		return strings.Contains(h.src.Status().File, "prime4 at 127.0.0.1 (connected)")
	})
	return u
}

func fader(ch int) string { return fmt.Sprintf(pathFaderFmt, ch) }

func TestHeadphonePreviewIsNotAPlay(t *testing.T) {
	h := start(t, Config{})
	u := prime4(t, h)

	// Deck 1 plays with its fader down: the DJ is listening in headphones.
	u.loadTrack(1, "Example Band", "Slow Dance")
	u.set(dp(1, deckPlay), state(true), dp(1, deckPlayState), state(true))
	h.settle(t, "deck 1 playing, fader down", deckIs("1", "Slow Dance", true, 0))
	h.wait(t, 10*time.Second)
	h.wantTitles(t)

	// Fader up: announced once it has been audible MinAudible.
	u.set(fader(1), num(0.8))
	h.settle(t, "deck 1 fader up", deckIs("1", "Slow Dance", true, 0.8))
	audibleAt := h.clock.Now()
	h.wait(t, testMinAudible/2)
	h.wantTitles(t)
	h.wait(t, testMinAudible)
	h.wantTitles(t, "1: Slow Dance")

	e := h.out.Entries()[0]
	if e.Artist != "Example Band" || e.BPM != 101.5 || e.Key != "G" || e.Duration != 215.3 ||
		e.Source != "engine" || !strings.HasPrefix(e.ID, "engine-") ||
		e.Path != "net://prime4/USB 1 (sda1)/Engine Library/Music/Example Band - Slow Dance.mp3" {
		t.Errorf("entry = %+v", e)
	}
	if !e.PlayedAt.Equal(audibleAt) {
		t.Errorf("PlayedAt = %v, want when the fader came up, %v", e.PlayedAt, audibleAt)
	}

	// A cue tap through an open fader is shorter than MinAudible: no play.
	u.loadTrack(2, "Other Band", "Cue Tap")
	u.set(fader(2), num(1), dp(2, deckPlay), state(true))
	h.settle(t, "deck 2 playing", deckIs("2", "Cue Tap", true, 1))
	h.wait(t, testMinAudible/3)
	u.set(dp(2, deckPlay), state(false))
	h.settle(t, "deck 2 stopped", deckIs("2", "Cue Tap", false, 1))
	h.wait(t, 5*time.Second)
	h.wantTitles(t, "1: Slow Dance")

	if st := h.src.Status(); st.LastEntry == nil || st.LastEntry.Title != "Slow Dance" || st.Err != "" || st.LastReadAt.IsZero() {
		t.Errorf("status = %+v", st)
	}
}

func TestCrossfadeToDeck2(t *testing.T) {
	h := start(t, Config{})
	u := prime4(t, h)
	u.set(fmt.Sprintf(pathAssignFmt, 1), str("A"), fmt.Sprintf(pathAssignFmt, 2), str("B"), pathCrossfader, num(0))

	u.loadTrack(1, "Band A", "Outgoing")
	u.set(fader(1), num(1), dp(1, deckPlay), state(true))
	h.settle(t, "deck 1 audible", deckIs("1", "Outgoing", true, 1))
	h.wait(t, time.Second)
	h.wantTitles(t, "1: Outgoing")

	// Deck 2 plays, fader up, but the crossfader is all the way to A.
	u.loadTrack(2, "Band B", "Incoming")
	u.set(fader(2), num(0.9), dp(2, deckPlay), state(true))
	h.settle(t, "deck 2 cut by the crossfader", deckIs("2", "Incoming", true, 0))
	h.wait(t, 10*time.Second)
	h.wantTitles(t, "1: Outgoing")

	// Crossfader to the centre: both audible; deck 2 is announced once.
	u.set(pathCrossfader, num(0.5))
	h.settle(t, "both audible", func(ds []detect.Deck) bool {
		return deckIs("1", "Outgoing", true, 1)(ds) && deckIs("2", "Incoming", true, 0.9)(ds)
	})
	h.wait(t, testMinAudible)
	h.wantTitles(t, "1: Outgoing", "2: Incoming")

	// Across to B and back: neither load is announced again.
	u.set(pathCrossfader, num(1))
	h.settle(t, "deck 1 cut", deckIs("1", "Outgoing", true, 0))
	h.wait(t, time.Second)
	u.set(pathCrossfader, num(0.5))
	h.settle(t, "deck 1 back", deckIs("1", "Outgoing", true, 1))
	h.wait(t, time.Second)
	h.wantTitles(t, "1: Outgoing", "2: Incoming")

	// The same track loaded again on deck 1 is a new play.
	u.loadTrack(1, "Band A", "Outgoing")
	h.settle(t, "deck 1 reloaded", func(ds []detect.Deck) bool {
		d, ok := deck(ds, "1")
		return ok && d.Entry.ID != h.out.Entries()[0].ID
	})
	h.wait(t, time.Second)
	h.wantTitles(t, "1: Outgoing", "2: Incoming", "1: Outgoing")
}

func TestAnalogMixerEveryPlayingDeckCounts(t *testing.T) {
	h := start(t, Config{})
	// A SC6000 as player 2 of a set, into an analog mixer: no mixer paths.
	u := newFakeUnit(t, "sc6000", "JP13")
	u.set(pathDeckCount, num(2), pathPlayer, num(2))
	u.loadTrack(1, "Band A", "Layer A")
	u.loadTrack(2, "Band B", "Layer B")
	u.announceTo(h.addr)
	h.settle(t, "both layers loaded, stopped", func(ds []detect.Deck) bool {
		return deckIs("P2-A", "Layer A", false, 0)(ds) && deckIs("P2-B", "Layer B", false, 0)(ds)
	})
	h.wait(t, 10*time.Second)
	h.wantTitles(t)

	u.set(dp(1, deckPlay), state(true))
	h.settle(t, "layer A playing", deckIs("P2-A", "Layer A", true, 1))
	h.wait(t, testMinAudible)
	h.wantTitles(t, "P2-A: Layer A")

	// A linked mixer's fader, reported as ExternalMixerVolume, decides.
	u.set(dp(2, deckExtVolume), num(0), dp(2, deckPlay), state(true))
	h.settle(t, "layer B playing, fader down", deckIs("P2-B", "Layer B", true, 0))
	h.wait(t, 10*time.Second)
	h.wantTitles(t, "P2-A: Layer A")
	u.set(dp(2, deckExtVolume), num(0.7))
	h.settle(t, "layer B fader up", deckIs("P2-B", "Layer B", true, 0.7))
	h.wait(t, testMinAudible)
	h.wantTitles(t, "P2-A: Layer A", "P2-B: Layer B")
}

func TestReconnectKeepsLoads(t *testing.T) {
	h := start(t, Config{})
	u := prime4(t, h)
	u.loadTrack(1, "Band", "Before The Drop")
	u.set(fader(1), num(1), dp(1, deckPlay), state(true))
	h.settle(t, "deck 1 audible", deckIs("1", "Before The Drop", true, 1))
	h.wait(t, time.Second)
	h.wantTitles(t, "1: Before The Drop")

	// The unit drops every connection (a network glitch) but keeps
	// announcing: the source reconnects, and the same load is not
	// announced again.
	u.drop()
	testenv.Eventually(t, 10*time.Second, "the drop noticed", func() bool { return len(h.src.decks()) == 0 })
	h.settle(t, "reconnected", deckIs("1", "Before The Drop", true, 1))
	h.wait(t, time.Second)
	h.wantTitles(t, "1: Before The Drop")

	// The unit leaves the network, then comes back with a new track.
	u.leave()
	testenv.Eventually(t, 10*time.Second, "unit gone", func() bool {
		return strings.Contains(h.src.Status().File, "prime4 at 127.0.0.1 (gone)") && len(h.src.decks()) == 0
	})
	u.loadTrack(1, "Band", "After The Return")
	u.announceTo(h.addr)
	h.settle(t, "back with a new track", deckIs("1", "After The Return", true, 1))
	h.wait(t, time.Second)
	h.wantTitles(t, "1: Before The Drop", "1: After The Return")

	// Switched off: it stops announcing and its connections die with it.
	u.stopAnnouncing()
	u.drop()
	testenv.Eventually(t, 10*time.Second, "unit expired", func() bool {
		return strings.Contains(h.src.Status().File, "(gone)")
	})
}

func TestEmitRefusedIsOfferedAgain(t *testing.T) {
	h := start(t, Config{})
	u := prime4(t, h)
	h.failNext.Store(2)
	u.loadTrack(3, "Band", "Patience")
	u.set(fader(3), num(1), dp(3, deckPlay), state(true))
	h.settle(t, "deck 3 audible", deckIs("3", "Patience", true, 1))
	h.wait(t, time.Second)
	testenv.Eventually(t, 10*time.Second, "the play handed over", func() bool { return len(h.out.Entries()) == 1 })
	h.wantTitles(t, "3: Patience")
	if st := h.src.Status(); st.Err != "" {
		t.Errorf("error stays after a good hand-over: %q", st.Err)
	}
}

func TestAnnouncesItselfAndLeaves(t *testing.T) {
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	h := start(t, Config{AnnounceTo: func() []*net.UDPAddr { return []*net.UDPAddr{pc.LocalAddr().(*net.UDPAddr)} }})
	read := func() announcement {
		t.Helper()
		buf := make([]byte, 2048)
		_ = pc.SetReadDeadline(time.Now().Add(10 * time.Second))
		n, _, err := pc.ReadFrom(buf)
		if err != nil {
			t.Fatalf("no announcement from the source: %v", err)
		}
		a, err := parseAnnouncement(buf[:n])
		if err != nil {
			t.Fatalf("announcement: %v", err)
		}
		return a
	}
	a := read()
	if a.Action != actionHowdy || a.Token != h.src.token || a.Software != ourSoftware || a.Token[0]&0x80 != 0 {
		t.Errorf("announcement = %+v", a)
	}
	h.out.Stop()
	for range 10 {
		if a = read(); a.Action == actionExit {
			return
		}
	}
	t.Error("no leaving announcement after Run ended")
}

func TestRunStopsEverything(t *testing.T) {
	before := runtime.NumGoroutine()
	u := newFakeUnit(t, "prime2", "JP14")
	h := start(t, Config{})
	u.announceTo(h.addr)
	testenv.Eventually(t, 10*time.Second, "connected", func() bool { return u.connections() == 2 })
	h.out.Stop()
	// The source closed its side: the unit sees both connections end.
	testenv.Eventually(t, 10*time.Second, "the unit's connections closed", func() bool { return u.connections() == 0 })
	u.close()
	goroutinesBackTo(t, before)
}

func TestJunkDoesNotStopTheSource(t *testing.T) {
	h := start(t, Config{})
	c, err := net.DialUDP("udp4", nil, h.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, junk := range [][]byte{
		[]byte("M-SEARCH * HTTP/1.1\r\n"),
		[]byte("airD"),
		append([]byte("airD0123456789abcdef"), 0xff, 0xff, 0xff, 0xff),
		(announcement{Name: "x", Action: "DISCOVERER_MAYBE_"}).encode(),
	} {
		if _, err := c.Write(junk); err != nil {
			t.Fatal(err)
		}
	}
	// A peer that answers the services request with junk shows as an error
	// for that peer, and the source keeps going.
	bad := newFakeUnit(t, "broken", "JP11")
	bad.garbage = true
	bad.announceTo(h.addr)
	testenv.Eventually(t, 10*time.Second, "the broken unit's error shown", func() bool {
		return strings.Contains(h.src.Status().Err, "broken at 127.0.0.1")
	})
	// A peer with no StateMap (lighting software) is left alone.
	light := newFakeUnit(t, "soundswitch", "SoundSwitch")
	light.announceTo(h.addr)

	u := prime4(t, h)
	u.loadTrack(1, "Band", "Still Working")
	u.set(fader(1), num(1), dp(1, deckPlay), state(true))
	h.settle(t, "deck 1 audible", deckIs("1", "Still Working", true, 1))
	h.wait(t, time.Second)
	h.wantTitles(t, "1: Still Working")
	if light.connections() != 0 {
		t.Error("the source connected to lighting software")
	}
}

// TestDiscoveryOnTheStagelinQPort runs discovery on the real port, 51337,
// as units announce to it. The port is fixed, so this is the one test that
// uses it; with another program on it, it fails in CI and skips elsewhere.
func TestDiscoveryOnTheStagelinQPort(t *testing.T) {
	probe, err := listenUDP(context.Background(), ":51337")
	if err != nil {
		if testenv.CI() {
			t.Fatalf("UDP port 51337 is not available for the StagelinQ discovery test: %v", err)
		}
		t.Skipf("UDP port 51337 is not available: %v", err)
	}
	probe.Close()
	h := start(t, Config{Listen: ":51337"})
	if h.addr.Port != discoveryPort {
		t.Fatalf("listening on %v", h.addr)
	}
	u := newFakeUnit(t, "prime4", "JP11")
	u.set(pathDeckCount, num(4), fader(1), num(1))
	u.loadTrack(1, "Band", "Found By Broadcast")
	u.set(dp(1, deckPlay), state(true))
	u.announceTo(&net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: discoveryPort})
	h.settle(t, "deck 1 audible", deckIs("1", "Found By Broadcast", true, 1))
	h.wait(t, time.Second)
	h.wantTitles(t, "1: Found By Broadcast")
}

func TestPortTakenIsShown(t *testing.T) {
	// A plain socket without address sharing holds the port.
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	src, err := New(Config{Listen: pc.LocalAddr().String(), Retry: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx, func(context.Context, detect.Entry) error { return nil }) }()
	testenv.Eventually(t, 10*time.Second, "the taken port shown", func() bool {
		return strings.Contains(src.Status().Err, "cannot listen for Engine DJ players on UDP port")
	})
	if err := src.Run(ctx, nil); err == nil {
		t.Error("a second Run of a running source was accepted")
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
}

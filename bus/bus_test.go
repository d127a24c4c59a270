package bus_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/pika-dj/pika/bus"
	"github.com/pika-dj/pika/internal/testenv"
)

func play(dj, sid string, seq uint64, at time.Time, artist, title string) bus.Event {
	return bus.Event{V: bus.Version, ID: bus.NewID(at), Type: bus.TypeTrackPlayed, Session: sid, Seq: seq,
		At: at, DJ: dj, Play: &bus.Play{Track: bus.NewTrack(artist, title), Source: "test"}}
}

func TestPublishIsIdempotentAndReadable(t *testing.T) {
	b := testenv.NATS(t)
	ctx := context.Background()
	now := time.Now().UTC()
	sid := bus.NewID(now)
	start := bus.Event{V: bus.Version, ID: bus.NewID(now), Type: bus.TypeSessionStarted, Session: sid, Seq: 1, At: now, DJ: b.DJ,
		Started: &bus.SessionStarted{DJName: "DJ Test"}}
	p := play(b.DJ, sid, 2, now.Add(time.Second), "Artist", "Song")
	for i, e := range []bus.Event{start, p, p} {
		dup, err := bus.Publish(ctx, b.JS, e, nil)
		if err != nil {
			t.Fatal(err)
		}
		if dup != (i == 2) {
			t.Fatalf("publish %d: duplicate=%v", i, dup)
		}
	}
	other := bus.NewID(now)
	if _, err := bus.Publish(ctx, b.JS, play(b.DJ, other, 1, now, "Other", "Session"), nil); err != nil {
		t.Fatal(err)
	}
	var st bus.SessionState
	var got []bus.Event
	err := bus.ReadSession(ctx, b.JS, bus.StreamName(b.DJ), sid, func(e bus.Event) error {
		got = append(got, e)
		st.Apply(e)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("read %d events, want 2 (the retried publish must be stored once, the other session not read)", len(got))
	}
	if st.DJName != "DJ Test" || st.Current == nil || st.Current.Title != "Song" || st.Seq != 2 || st.Plays != 1 {
		t.Fatalf("state = %+v", st)
	}
	if err := bus.PutState(ctx, b.KV, st); err != nil {
		t.Fatal(err)
	}
	back, found, err := bus.GetState(ctx, b.KV, sid)
	if err != nil || !found || back.Current.PlayID != p.ID {
		t.Fatalf("GetState = %+v %v %v", back, found, err)
	}
}

func TestTrackID(t *testing.T) {
	same := [][2]string{
		{"Beyoncé", "Halo"}, {"BEYONCE", "halo"}, {"  beyonce ", "Halo!"},
	}
	want := bus.TrackID(same[0][0], same[0][1])
	for _, s := range same {
		if got := bus.TrackID(s[0], s[1]); got != want {
			t.Errorf("TrackID(%q, %q) = %s, want %s", s[0], s[1], got, want)
		}
	}
	if bus.TrackID("Don't Stop", "X") != bus.TrackID("Dont Stop", "x") {
		t.Error("apostrophes must not split a track")
	}
	if bus.TrackID("A", "B C") == bus.TrackID("A B", "C") {
		t.Error("artist and title must stay apart")
	}
	// Fixed for good: this literal must never change.
	if got := bus.TrackID("Example Band", "Slow Dance"); got != "trk_"+got[4:] || len(got) != 24 {
		t.Errorf("TrackID shape %q", got)
	}
}

func TestDecodeRejects(t *testing.T) {
	now := time.Now().UTC()
	dj := bus.NewDJID()
	good := play(dj, bus.NewID(now), 1, now, "A", "B")
	b, err := bus.Encode(good)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bus.Decode(b); err != nil {
		t.Fatalf("good event: %v", err)
	}
	cases := map[string]string{
		"unknown field":  strings.Replace(string(b), `"v":1`, `"v":1,"x":2`, 1),
		"bad version":    strings.Replace(string(b), `"v":1`, `"v":9`, 1),
		"bad session":    strings.Replace(string(b), good.Session, "pika.>", 1),
		"trailing":       string(b) + "{}",
		"not json":       "hello",
		"wrong track id": strings.Replace(string(b), good.Play.Track.ID, "trk_00000000000000000000", 1),
	}
	for name, in := range cases {
		if _, err := bus.Decode([]byte(in)); !errors.Is(err, bus.ErrInvalid) {
			t.Errorf("%s: err = %v, want ErrInvalid", name, err)
		}
	}
}

func TestDerivedIDIsStable(t *testing.T) {
	at := time.Unix(1764103260, 0)
	a, b := bus.DerivedID(at, "k"), bus.DerivedID(at, "k")
	if a != b || !bus.ValidID(a) || bus.DerivedID(at, "k2") == a {
		t.Fatalf("DerivedID: %s %s", a, b)
	}
}

func FuzzDecode(f *testing.F) {
	now := time.Unix(1764103260, 0).UTC()
	dj := "djaaaaaaaaaaaaaaaa"
	b, _ := bus.Encode(play(dj, bus.DerivedID(now, "s"), 1, now, "A", "B"))
	f.Add(b)
	f.Add([]byte(`{"v":1,"type":"session.ended"}`))
	f.Add([]byte(`[[[[[[[[]]]]]]]]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := bus.Decode(data)
		if err != nil {
			return
		}
		// Whatever decodes must re-encode and decode to the same event.
		again, err := bus.Encode(e)
		if err != nil {
			t.Fatalf("decoded event does not re-encode: %v", err)
		}
		if _, err := bus.Decode(again); err != nil {
			t.Fatalf("re-encoded event does not decode: %v", err)
		}
	})
}

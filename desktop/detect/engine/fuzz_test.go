package engine

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"testing"
	"unicode/utf8"
)

// FuzzAnnouncement: any datagram on the discovery port parses or is
// refused, never panics, and a parsed one encodes back to the same bytes.
func FuzzAnnouncement(f *testing.F) {
	a := announcement{Name: "prime4", Action: actionHowdy, Software: "JP11", Version: "4.1.0", Port: 50010}
	f.Add(a.encode())
	f.Add(a.encode()[:30])
	f.Add([]byte("airD"))
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := parseAnnouncement(b)
		if err != nil {
			return
		}
		for _, s := range []string{got.Name, got.Software, got.Version} {
			if !utf8.ValidString(s) || len(s) > 3*maxNetString {
				t.Fatalf("string %q", s)
			}
		}
		again, err := parseAnnouncement(got.encode())
		if err != nil || again != got {
			t.Fatalf("re-encoded %+v → %+v, %v", got, again, err)
		}
	})
}

// FuzzMainMessage: whatever a peer sends on the main connection, reading
// ends in messages or an error, never a panic or a huge allocation.
func FuzzMainMessage(f *testing.F) {
	var own, dev token
	copy(own[:], "own-token-......")
	copy(dev[:], "device-token....")
	var b bytes.Buffer
	b.Write([]byte{0, 0, 0, 0})
	b.Write(dev[:])
	writeNetString(&b, "StateMap")
	b.Write([]byte{0xc3, 0x5a})
	b.Write(reference(dev, own))
	f.Add(b.Bytes())
	f.Add(b.Bytes()[:27])
	f.Add(servicesRequest(own))
	f.Fuzz(func(t *testing.T, b []byte) {
		r := bufio.NewReader(bytes.NewReader(b))
		for range len(b) + 1 {
			m, err := readMainMessage(r)
			if err != nil {
				return
			}
			if m.ID > msgServicesRequest || len(m.Service) > 3*maxNetString {
				t.Fatalf("message %+v", m)
			}
		}
		t.Fatal("more messages than bytes")
	})
}

// FuzzStateValue: any JSON a unit sends for a path (decoded as go-stagelinq
// decodes it) reads as a value or as absent, and the deck built from it has
// a level in 0..1.
func FuzzStateValue(f *testing.F) {
	for _, s := range []string{
		`{"state":true,"type":1}`, `{"type":0,"value":0.42}`, `{"string":"Example Band","type":8}`,
		`{"state":1}`, `{"color":"#ff0000","type":16}`, `{"string":"0.5"}`, `{"value":1e308}`, `{"type":0,"val`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, js string) {
		var m map[string]any
		if json.Unmarshal([]byte(js), &m) != nil {
			return
		}
		v, ok := parseValue(m)
		if !ok {
			return
		}
		if n, ok := v.number(); ok && (math.IsNaN(n) || math.IsInf(n, 0)) {
			t.Fatalf("number %v", n)
		}
		_ = v.truth()
		for _, path := range []string{fader(1), pathCrossfader, dp(1, deckExtVolume), dp(1, deckPlay), dp(1, deckKeyIndex), dp(1, deckBPM), pathDeckCount, pathPlayer} {
			s := snapshot{Values: map[string]value{path: v, fmt.Sprintf(pathAssignFmt, 1): {Str: "A", Kind: 's'}}}
			s.Loads[1] = "load"
			for _, d := range decks(s) {
				if d.Level < 0 || d.Level > 1 || math.IsNaN(d.Level) || math.IsNaN(d.Entry.BPM) {
					t.Fatalf("%s=%s: deck %+v", path, js, d)
				}
			}
		}
	})
}

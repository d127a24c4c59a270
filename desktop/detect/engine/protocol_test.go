package engine

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/icedream/go-stagelinq"
)

func TestAnnouncementRoundTrip(t *testing.T) {
	a := announcement{Name: "sc6000", Action: actionHowdy, Software: "JP13", Version: "4.1.0", Port: 50010}
	copy(a.Token[:], "0123456789abcdef")
	got, err := parseAnnouncement(a.encode())
	if err != nil || got != a {
		t.Fatalf("round trip = %+v, %v", got, err)
	}
	b := a.encode()
	for n := range len(b) - 1 { // every truncation is an error
		if _, err := parseAnnouncement(b[:n]); err == nil {
			t.Errorf("truncated to %d bytes: accepted", n)
		}
	}
	// A length field claiming 4 GB costs nothing.
	huge := append(append([]byte("airD"), a.Token[:]...), 0xff, 0xff, 0xff, 0xfe)
	if _, err := parseAnnouncement(huge); err == nil || !strings.Contains(err.Error(), "too long") {
		t.Errorf("huge string: %v", err)
	}
}

func TestMainMessages(t *testing.T) {
	var own, dev token
	copy(own[:], "own-token-......")
	copy(dev[:], "device-token....")
	var b bytes.Buffer
	b.Write(servicesRequest(own))
	b.Write(reference(own, dev))
	b.Write([]byte{0, 0, 0, 0})
	b.Write(dev[:])
	writeNetString(&b, "StateMap")
	b.Write([]byte{0xc3, 0x5a})
	r := bufio.NewReader(&b)
	for _, want := range []mainMessage{
		{ID: msgServicesRequest, Token: own},
		{ID: msgReference, Token: own},
		{ID: msgServiceAnnouncement, Token: dev, Service: "StateMap", Port: 0xc35a},
	} {
		if m, err := readMainMessage(r); err != nil || m != want {
			t.Errorf("read %+v, %v; want %+v", m, err, want)
		}
	}
	if _, err := readMainMessage(r); err != io.EOF {
		t.Errorf("at the end: %v", err)
	}
	if _, err := readMainMessage(bufio.NewReader(bytes.NewReader([]byte{0, 0, 0, 9}))); err == nil {
		t.Error("unknown message id accepted")
	}
	if _, err := readMainMessage(bufio.NewReader(bytes.NewReader(servicesRequest(own)[:10]))); err != io.ErrUnexpectedEOF {
		t.Errorf("truncated message: %v", err)
	}
}

// TestStateEmitIsGoStagelinQs checks the fake unit's StateMap bytes against
// go-stagelinq's own encoder (StateMapConnection.Emit), so the tests speak
// the protocol the library reads, not a private dialect.
func TestStateEmitIsGoStagelinQs(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	server, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()

	var tok stagelinq.Token
	copy(tok[:], "library-token...")
	sm, err := stagelinq.NewStateMapConnection(client, tok)
	if err != nil {
		t.Fatal(err)
	}
	// The library first announces its port, then writes what it is given.
	r := bufio.NewReader(server)
	_ = server.SetReadDeadline(time.Now().Add(10 * time.Second))
	m, err := readMainMessage(r)
	if err != nil || m.ID != msgServiceAnnouncement || m.Service != "StateMap" || m.Token != token(tok) {
		t.Fatalf("library's StateMap greeting = %+v, %v", m, err)
	}
	path, js := "/Engine/Deck1/Track/SongName", `{"string":"Slow Dance","type":8}`
	var v map[string]any
	if err := json.Unmarshal([]byte(js), &v); err != nil {
		t.Fatal(err)
	}
	if err := sm.Emit(&stagelinq.State{Name: path, Value: v}); err != nil {
		t.Fatal(err)
	}
	want := stateEmit(path, js)
	got := make([]byte, len(want))
	if _, err := io.ReadFull(r, got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("library wrote\n%q\nfake unit writes\n%q", got, want)
	}
	client.Close()
	for range sm.StateC() {
	}
}

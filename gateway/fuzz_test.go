package gateway

import (
	"encoding/json"
	"testing"

	"github.com/fasthttp/websocket"
)

// FuzzParseFrame feeds arbitrary bytes to the decoder of dancers' frames:
// it must never panic, and whatever it accepts must be a known type with
// a ref that reads back as valid JSON.
func FuzzParseFrame(f *testing.F) {
	for _, seed := range []string{
		`{"type":"subscribe","ref":"1","sessionId":"01JDA8Y4D3T2M3N6Q1R5S7V9WX","clientId":"c-5f0e9a1b7c","lastSeq":12}`,
		`{"type":"ping","ref":42}`,
		`{"type":"ping"}`,
		`{"ref":{"a":[1,2]}}`,
		`[[[[[[[[[[]]]]]]]]]]`,
		`{"type":"x","s":"\"}{[\\"}`,
		"\xff\xfe",
		``,
	} {
		f.Add(websocket.TextMessage, []byte(seed))
	}
	f.Add(websocket.BinaryMessage, []byte(`{"type":"ping"}`))
	f.Fuzz(func(t *testing.T, mt int, data []byte) {
		fr, ref, rj := parseFrame(mt, data)
		if rj != nil {
			if rj.code == "" || rj.reason == "" {
				t.Fatalf("refusal without code or reason: %+v", rj)
			}
			return
		}
		if fr.Type != framePing && fr.Type != frameSubscribe {
			t.Fatalf("accepted unknown type %q", fr.Type)
		}
		if ref != nil && !json.Valid(ref) {
			t.Fatalf("accepted ref %q is not JSON", ref)
		}
	})
}

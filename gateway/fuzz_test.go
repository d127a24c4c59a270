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
		`{"type":"like","ref":"5","id":"01JDB8Y4D3T2M3N6Q1R5S7V9WX","playId":"01JDA9Y4D3T2M3N6Q1R5S7V9WX"}`,
		`{"type":"unlike","ref":"6","playId":"01JDA9Y4D3T2M3N6Q1R5S7V9WX"}`,
		`{"type":"tempo","ref":"7","playId":"01JDA9Y4D3T2M3N6Q1R5S7V9WX","tempo":"faster"}`,
		`{"type":"vote","ref":"8","pollId":"01JDB8Y4D3T2M3N6Q1R5S7V9WX","option":2}`,
		`{"type":"vote","ref":"8","pollId":"01JDB8Y4D3T2M3N6Q1R5S7V9WX","option":"2"}`,
		`{"type":"thanks","ref":9}`,
		`{"type":"likes","ref":"10","items":[{"id":"01JDB8Y4D3T2M3N6Q1R5S7V9WX","playId":"01JDA9Y4D3T2M3N6Q1R5S7V9WX","kind":"like"}]}`,
		`{"type":"likes","ref":"11","items":[]}`,
		`{"type":"dj","ref":"1","sessionId":"01JDA8Y4D3T2M3N6Q1R5S7V9WX","secret":"9f2c","command":"poll.start","question":"Tempo check","options":["Slower","Perfect","Faster"],"seconds":60}`,
		`{"type":"dj","ref":"3","sessionId":"01JDA8Y4D3T2M3N6Q1R5S7V9WX","secret":"9f2c","command":"announce","text":"Last dance","seconds":"600"}`,
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
		if ref != nil && !json.Valid(ref) {
			t.Fatalf("ref %q is not JSON", ref)
		}
		if rj != nil {
			if rj.code == "" || rj.reason == "" {
				t.Fatalf("refusal without code or reason: %+v", rj)
			}
			return
		}
		switch fr.Type {
		case framePing, frameSubscribe, frameLike, frameUnlike, frameTempo, frameVote, frameThanks, frameDJ:
		case frameLikes:
			if len(fr.Items) == 0 || len(fr.Items) > maxBatch {
				t.Fatalf("accepted a likes frame of %d items", len(fr.Items))
			}
		default:
			t.Fatalf("accepted unknown type %q", fr.Type)
		}
	})
}

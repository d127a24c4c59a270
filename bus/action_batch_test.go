package bus_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/pika-dj/pika/bus"
)

func batchAction(i int, at time.Time) bus.Action {
	return bus.Action{V: bus.Version, ID: bus.DerivedID(at, "a"+string(rune('a'+i))), Kind: bus.ActThanks,
		Session: bus.DerivedID(at, "session"), Client: "c-batch-" + strings.Repeat("x", i+1), At: at}
}

func TestDecodeActions(t *testing.T) {
	at := time.Unix(1764103260, 0).UTC()
	one, _ := json.Marshal(batchAction(0, at))
	two, _ := json.Marshal(batchAction(1, at))

	if got, err := bus.DecodeActions(one); err != nil || len(got) != 1 || got[0].ID != batchAction(0, at).ID {
		t.Fatalf("single: %v %v", got, err)
	}
	batch := []byte("[" + string(one) + "," + string(two) + "]")
	if got, err := bus.DecodeActions(batch); err != nil || len(got) != 2 || got[1].Client != batchAction(1, at).Client {
		t.Fatalf("batch: %v %v", got, err)
	}
	// One bad entry costs only itself.
	bad := []byte("[" + string(one) + `,{"v":1,"id":"nope"},` + string(two) + "]")
	got, err := bus.DecodeActions(bad)
	if len(got) != 2 || !errors.Is(err, bus.ErrInvalid) || !strings.Contains(err.Error(), "action 1 of the batch") {
		t.Fatalf("batch with a bad entry: %d actions, %v", len(got), err)
	}
	for name, data := range map[string]string{
		"empty batch":  "[]",
		"not actions":  "[1,2]",
		"too many":     "[" + strings.TrimSuffix(strings.Repeat(string(one)+",", bus.MaxActionsPerBatch+1), ",") + "]",
		"not json":     "[{",
		"nested":       "[[" + string(one) + "]]",
		"unknown type": `{"v":1,"kind":"dance"}`,
	} {
		if got, err := bus.DecodeActions([]byte(data)); err == nil || len(got) != 0 {
			t.Errorf("%s: %d actions, err %v", name, len(got), err)
		}
	}
}

func FuzzDecodeActions(f *testing.F) {
	at := time.Unix(1764103260, 0).UTC()
	one, _ := json.Marshal(batchAction(0, at))
	two, _ := json.Marshal(batchAction(1, at))
	f.Add(one)
	f.Add([]byte("[" + string(one) + "," + string(two) + "]"))
	f.Add([]byte(`[{"v":1},{"v":2}`))
	f.Add([]byte(` [ ]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := bus.DecodeActions(data)
		if len(got) > bus.MaxActionsPerBatch {
			t.Fatalf("%d actions from one message", len(got))
		}
		// Whatever decodes is valid and re-encodes to what decodes the same.
		for _, a := range got {
			if verr := a.Validate(); verr != nil {
				t.Fatalf("decoded an invalid action: %v", verr)
			}
			b, _ := json.Marshal(a)
			if again, err := bus.DecodeActions(b); err != nil || len(again) != 1 || again[0].ID != a.ID {
				t.Fatalf("re-encoded action does not decode: %v", err)
			}
		}
		_ = err
	})
}

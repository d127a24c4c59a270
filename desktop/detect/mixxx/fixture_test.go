package mixxx

import (
	"testing"
	"time"

	"github.com/pika-dj/pika/desktop/detect"
	"github.com/pika-dj/pika/desktop/detect/detecttest"
)

// run opens the source at path with the clock now (nil: the real one) and
// runs it in the background until the test ends.
func run(tb testing.TB, path string, now func() time.Time) (*detect.Polled, *detecttest.Emitted) {
	tb.Helper()
	src, err := open(path, detect.Options{}, now)
	if err != nil {
		tb.Fatal(err)
	}
	return src, detecttest.RunSource(tb, src)
}

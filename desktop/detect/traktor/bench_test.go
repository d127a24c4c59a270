package traktor

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/pika-dj/pika/desktop/detect/traktor/traktortest"
)

// BenchmarkDetectionLatency: each iteration Traktor starts a new track (a
// new logical stream: identification, comment and setup headers, audio)
// on its open connection, and the time until emit has the play is taken.
func BenchmarkDetectionLatency(b *testing.B) {
	r := start(b, Config{}, nil)
	tc := traktortest.Connect(b, r.s.Addr(), 1)
	rng := rand.New(rand.NewPCG(2, 2))
	var total time.Duration
	b.ResetTimer()
	for i := range b.N {
		stream := traktortest.TrackStream(rng, uint32(1000+i), "ARTIST=Bench", "TITLE=Track "+string(rune('A'+i%26))+time.Duration(i).String())
		t0 := time.Now()
		if _, err := tc.Conn.Write(stream); err != nil {
			b.Fatal(err)
		}
		r.out.Next(b)
		total += time.Since(t0)
	}
	b.ReportMetric(float64(total.Microseconds())/1000/float64(b.N), "ms/detect")
}

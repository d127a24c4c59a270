package traktor

import (
	"testing"
	"time"

	"github.com/pika-dj/pika/desktop/detect"
	"github.com/pika-dj/pika/desktop/detect/detecttest"
	"github.com/pika-dj/pika/internal/testenv"
)

// running is a started Source and what it has emitted.
type running struct {
	s   *Source
	out *detecttest.Emitted
}

// start runs a source on a free loopback port until the test ends. refuse,
// when not nil, can make emit fail (see detecttest.RunSourceRefusing).
func start(t testing.TB, cfg Config, refuse func(detect.Entry) error, tune ...func(*Source)) *running {
	t.Helper()
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:0"
	}
	s := New(cfg)
	for _, f := range tune {
		f(s)
	}
	out := detecttest.RunSourceRefusing(t, s, refuse)
	testenv.Eventually(t, 10*time.Second, "the source listens", func() bool { return s.Addr() != "" })
	return &running{s: s, out: out}
}

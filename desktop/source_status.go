package desktop

import (
	"context"
	"encoding/json"
	"log/slog"
	"slices"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/pika-dj/pika/bus"
	"github.com/pika-dj/pika/desktop/detect"
)

// SourceReporter tells the DJ's console what the detector is doing: which
// program it follows, whether it reads it, the last track it saw, and what
// is wrong, in a line the DJ can act on ("unsupported Serato DJ 4
// database…", "Serato's database stayed locked…").
type SourceReporter struct {
	nudge chan struct{}

	Conn   *nats.Conn
	Engine *Engine
	Source detect.Source // nil: nothing followed (manual entry only)
	Name   string        // the product as DJs know it
	Why    string        // how it was chosen
	// Links, if set, says which of the DJ side's ways to the dancers are up
	// (bus.SourceStatus.Links); call Nudge when one changes.
	Links  func() []bus.Link
	Logger *slog.Logger
	Now    func() time.Time // nil = time.Now
}

// NewSourceReporter returns r ready to Run and Nudge.
func NewSourceReporter(r SourceReporter) *SourceReporter {
	r.nudge = make(chan struct{}, 1)
	return &r
}

// Nudge asks for the status to be published now, changed or not: a DJ
// console just opened (OwnerConfig.OnConsole) and should not wait for the
// next repeat. It never blocks.
func (r *SourceReporter) Nudge() {
	select {
	case r.nudge <- struct{}{}:
	default:
	}
}

// Run publishes the status of the live session's source when it changes
// (checked every second), when nudged, and every bus.SourceStatusEvery,
// until ctx ends.
func (r *SourceReporter) Run(ctx context.Context) error {
	log := r.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	now := r.Now
	if now == nil {
		now = time.Now
	}
	var last bus.SourceStatus
	var lastSent time.Time
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	nudged := false
	for {
		st, live := r.Engine.State()
		if live {
			s := r.status(st.ID, now())
			if nudged || !sameStatus(s, last) || now().Sub(lastSent) >= bus.SourceStatusEvery {
				if err := r.publish(s); err != nil {
					log.Debug("source status not sent", "err", err)
				} else {
					last, lastSent = s, now()
				}
			}
		}
		nudged = false
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		case <-r.nudge:
			nudged = true
		}
	}
}

func (r *SourceReporter) status(sid string, at time.Time) bus.SourceStatus {
	s := bus.SourceStatus{Type: bus.SourceStatusType, V: bus.Version, Session: sid, At: at.UTC(), State: bus.SourceNone,
		Name: clean(r.Name, bus.MaxNameLen), Why: clean(r.Why, 1024)}
	if r.Links != nil {
		s.Links = r.Links()
	}
	if r.Source == nil {
		return s
	}
	d := r.Source.Status()
	s.Source = clean(r.Source.Name(), 32)
	if s.Name == "" {
		s.Name = s.Source
	}
	s.Path = clean(d.Path, 1024)
	s.LastReadAt = d.LastReadAt
	s.State = bus.SourceReading
	if d.Err != "" {
		s.State, s.Error = bus.SourceError, clean(d.Err, 1024)
	}
	if e := d.LastEntry; e != nil {
		s.LastTrack = clean(bus.TrackLine(e.Artist, e.Title), 2*bus.MaxTextLen+3)
		s.LastAt = e.PlayedAt
	}
	return s
}

func (r *SourceReporter) publish(s bus.SourceStatus) error {
	if err := s.Validate(); err != nil {
		return err
	}
	data, err := json.Marshal(s)
	if err != nil {
		return err
	}
	return r.Conn.Publish(bus.SourceSubject(s.Session), data)
}

// sameStatus compares what the DJ would see change: not the read clock.
func sameStatus(a, b bus.SourceStatus) bool {
	a.At, b.At = time.Time{}, time.Time{}
	a.LastReadAt, b.LastReadAt = time.Time{}, time.Time{}
	if !slices.Equal(a.Links, b.Links) {
		return false
	}
	// Compared through JSON: the struct holds a slice, so it has no ==.
	a.Links, b.Links = nil, nil
	ja, errA := json.Marshal(a)
	jb, errB := json.Marshal(b)
	return errA == nil && errB == nil && string(ja) == string(jb)
}

// clean makes s one line of at most max characters: errors from a DJ
// program's files can hold newlines and anything else.
func clean(s string, max int) string { return bus.CleanText(s, max) }

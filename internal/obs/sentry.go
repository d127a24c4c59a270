package obs

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/getsentry/sentry-go"
)

// SentryOptions configures error reports.
type SentryOptions struct {
	DSN         string // SENTRY_DSN; empty: reports are off
	Release     string // the build version (the image tag)
	Environment string // PIKA_ENVIRONMENT: production, staging, development
	// TracesSampleRate is the share of transactions traced: 0.05 when
	// zero; negative turns tracing off.
	TracesSampleRate float64
	Logger           *slog.Logger // nil discards
}

func (o SentryOptions) client() sentry.ClientOptions {
	rate := o.TracesSampleRate
	switch {
	case rate == 0:
		rate = 0.05
	case rate < 0:
		rate = 0
	}
	env := o.Environment
	if env == "" {
		env = "development"
	}
	return sentry.ClientOptions{
		Dsn: o.DSN, Release: o.Release, Environment: env,
		EnableTracing: rate > 0, TracesSampleRate: rate,
		// Collect nothing about the person or the request; what is left
		// is scrubbed again in BeforeSend.
		DataCollection: &sentry.DataCollection{
			UserInfo:    sentry.Set(false),
			Cookies:     &sentry.KeyValueCollectionBehavior{Mode: sentry.CollectionOff},
			QueryParams: &sentry.KeyValueCollectionBehavior{Mode: sentry.CollectionOff},
			HTTPHeaders: &sentry.HeaderCollectionConfig{
				Request:  &sentry.KeyValueCollectionBehavior{Mode: sentry.CollectionOff},
				Response: &sentry.KeyValueCollectionBehavior{Mode: sentry.CollectionOff},
			},
			HTTPBodies: []sentry.BodyType{},
		},
		AttachStacktrace:      true,
		BeforeSend:            func(e *sentry.Event, _ *sentry.EventHint) *sentry.Event { return ScrubEvent(e) },
		BeforeSendTransaction: func(e *sentry.Event, _ *sentry.EventHint) *sentry.Event { return ScrubEvent(e) },
		BeforeBreadcrumb: func(b *sentry.Breadcrumb, _ *sentry.BreadcrumbHint) *sentry.Breadcrumb {
			b.Message, b.Data = Scrub(b.Message), scrubMap(b.Data)
			return b
		},
	}
}

// NewSentryHub is a hub of its own reporting to opts.DSN, for tests and
// for parts that must not touch the process-wide hub. With an empty DSN
// the hub reports nothing.
func NewSentryHub(opts SentryOptions) (*sentry.Hub, error) {
	c, err := sentry.NewClient(opts.client())
	if err != nil {
		return nil, fmt.Errorf("obs: sentry client: %w", err)
	}
	return sentry.NewHub(c, sentry.NewScope()), nil
}

// Sentry turns on error reports for the whole process (sentry's current
// hub, which gateway and the rest report to) when opts.DSN is set. Call
// flush before exiting so the last reports (often the reason for the
// exit) are sent. With an empty DSN nothing is reported and flush does
// nothing.
func Sentry(opts SentryOptions) (flush func(time.Duration), err error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if opts.DSN == "" {
		log.Info("error reports off: SENTRY_DSN is empty")
		return func(time.Duration) {}, nil
	}
	if err := sentry.Init(opts.client()); err != nil {
		return nil, fmt.Errorf("obs: start error reports: %w", err)
	}
	log.Info("error reports on", "release", opts.Release, "environment", opts.client().Environment)
	return func(d time.Duration) {
		if !sentry.Flush(d) {
			log.Warn("error reports: some were not sent before exit", "waited", d)
		}
	}, nil
}

// Recover, deferred at the top of a goroutine, reports a panic to hub
// (nil: the current hub) and logs it instead of ending the process.
// Use it where a crash would take more down than the goroutine itself.
func Recover(hub *sentry.Hub, log *slog.Logger, what string) {
	r := recover()
	if r == nil {
		return
	}
	ReportPanic(hub, log, what, r)
}

// ReportPanic reports a recovered panic value r with the stack of the
// caller's goroutine (call it from the deferred function that
// recovered), tagged with what ("route GET /api/sessions/:id").
func ReportPanic(hub *sentry.Hub, log *slog.Logger, what string, r any) {
	if hub == nil {
		hub = sentry.CurrentHub()
	}
	if log != nil {
		log.Error("panic", "in", what, "panic", Scrub(fmt.Sprint(r)))
	}
	// A clone: the hub is shared by every goroutine, and its scope stack
	// is not meant for concurrent pushes.
	h := hub.Clone()
	h.Scope().SetTag("in", what)
	h.Scope().SetLevel(sentry.LevelFatal)
	h.Recover(r)
}

// Package obs is what every Pika! process shares to be observed: error
// reports to Sentry (Sentry, NewSentryHub), scrubbed of dancer ids, IP
// addresses and tokens (Scrub, ScrubEvent, ScrubEnvelope), and Prometheus
// metrics with a health check on a port of their own (NewRegistry,
// ServeMetrics), never the dancers' port.
//
// A command wires it like this:
//
//	flush, err := obs.Sentry(obs.SentryOptions{DSN: os.Getenv("SENTRY_DSN"),
//		Release: version, Environment: os.Getenv("PIKA_ENVIRONMENT"), Logger: log})
//	if err != nil { ... }
//	defer flush(2 * time.Second)
//	reg := obs.NewRegistry()
//	// hand reg to the parts: gateway.Config.Metrics, natsserver.NewCollector, ...
//	go obs.ServeMetrics(ctx, os.Getenv("PIKA_METRICS_LISTEN"), reg, ready, log)
package obs

package gateway

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/getsentry/sentry-go"
	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/limiter"

	"github.com/pika-dj/pika/internal/obs"
)

// The pages' error reports come through POST /api/errors, on our own
// origin (no CDN, no third-party request from a dancer's phone): the
// gateway scrubs each envelope with obs.ScrubEnvelope and forwards it to
// Config.PublicSentryDSN.
const (
	maxErrorEnvelope  = 64 << 10 // a page's report is a few KB
	errorsPerIPPerMin = 10       // a page reports each error once; a venue shares an address
)

// errTunnel forwards the pages' Sentry envelopes.
type errTunnel struct {
	dsn, url, auth       string
	release, environment string
	client               *http.Client
	log                  *slog.Logger
}

// newErrTunnel is nil without a public DSN.
func newErrTunnel(cfg Config, log *slog.Logger) (*errTunnel, error) {
	if cfg.PublicSentryDSN == "" {
		return nil, nil
	}
	d, err := sentry.NewDsn(cfg.PublicSentryDSN)
	if err != nil {
		return nil, fmt.Errorf("gateway: public Sentry DSN: %w", err)
	}
	return &errTunnel{
		dsn: cfg.PublicSentryDSN, url: d.GetAPIURL().String(),
		auth:    "Sentry sentry_version=7, sentry_client=pika-tunnel/1, sentry_key=" + d.GetPublicKey(),
		release: cfg.Release, environment: cfg.Environment,
		client: &http.Client{Timeout: 10 * time.Second}, log: log,
	}, nil
}

// errorRoutes adds POST /api/errors when the tunnel is on; otherwise the
// API's 404 answers it.
func (g *Gateway) errorRoutes(api fiber.Router) {
	if g.errors == nil {
		return
	}
	api.Post("/errors", limiter.New(limiter.Config{
		Max: errorsPerIPPerMin, Expiration: time.Minute,
		LimitReached: func(c *fiber.Ctx) error { return c.SendStatus(fiber.StatusTooManyRequests) },
	}), g.reportErrors)
}

// reportErrors answers 204 once the scrubbed envelope is forwarded, 413
// for one over 64 KB, 400 for one that is not an envelope with an event,
// 502 when Sentry cannot be reached.
func (g *Gateway) reportErrors(c *fiber.Ctx) error {
	body := c.Body()
	if len(body) > maxErrorEnvelope {
		return c.SendStatus(fiber.StatusRequestEntityTooLarge)
	}
	env, err := obs.ScrubEnvelope(body, g.errors.dsn, g.errors.release, g.errors.environment)
	if err != nil {
		return c.Status(fiber.StatusBadRequest).JSON(RESTError{Code: codeBadRequest, Reason: "That is not an error report."})
	}
	ctx, cancel := context.WithTimeout(g.ctx, 10*time.Second)
	defer cancel()
	if err := g.errors.forward(ctx, env); err != nil {
		g.log.Warn("forward a page's error report", "err", err)
		return c.SendStatus(fiber.StatusBadGateway)
	}
	return c.SendStatus(fiber.StatusNoContent)
}

func (t *errTunnel) forward(ctx context.Context, env []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.url, bytes.NewReader(env))
	if err != nil {
		return fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-sentry-envelope")
	req.Header.Set("X-Sentry-Auth", t.auth)
	resp, err := t.client.Do(req)
	if err != nil {
		return fmt.Errorf("post to Sentry: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("post to Sentry: status %d", resp.StatusCode)
	}
	return nil
}

// errorsScript is added to each page's <head> when the tunnel is on: the
// page then loads assets/errors.js (a few hundred bytes, first among its
// modules so it sees the others' errors), which loads the reporter only
// after an error. Without a DSN pages carry nothing of it.
var errorsScript = []byte(`<head><script type="module" src="/assets/errors.js"></script>`)

package gateway

import (
	"errors"

	"github.com/getsentry/sentry-go"
	"github.com/gofiber/fiber/v2"

	"github.com/pika-dj/pika/internal/obs"
)

// recoverPanics is the first middleware: a panic in any handler is
// reported to Sentry with the route's pattern (never the URL, which holds
// ids), answered 500 like any server error, and the gateway keeps
// serving.
func (g *Gateway) recoverPanics(c *fiber.Ctx) (err error) {
	defer func() {
		r := recover()
		if r == nil {
			return
		}
		g.reportPanic("route "+c.Method()+" "+c.Route().Path, r)
		err = c.Status(fiber.StatusInternalServerError).JSON(RESTError{Code: "internal", Reason: "Something went wrong on the server."})
	}()
	return c.Next()
}

// reportPanic reports a recovered panic (call it from the deferred
// function that recovered, so the stack is the panic's) and logs it.
func (g *Gateway) reportPanic(where string, r any) {
	obs.ReportPanic(g.cfg.Sentry, g.log, where, r)
}

// traceRequests samples HTTP requests as Sentry transactions (at the
// client's TracesSampleRate: 5 % by default), named by route pattern —
// "GET /api/sessions/:id", never the URL, which holds ids — so slow
// endpoints show in Sentry's performance view. The WebSocket is left out:
// a socket lives for hours, and its frames are not requests.
func (g *Gateway) traceRequests(c *fiber.Ctx) error {
	hub := g.cfg.Sentry
	if hub == nil {
		hub = sentry.CurrentHub()
	}
	if hub.Client() == nil || c.Path() == "/ws" {
		return c.Next()
	}
	ctx := sentry.SetHubOnContext(c.UserContext(), hub.Clone())
	tx := sentry.StartTransaction(ctx, c.Method(), sentry.WithOpName("http.server"), sentry.WithTransactionSource(sentry.SourceRoute))
	c.SetUserContext(tx.Context())
	err := c.Next()
	tx.Name = c.Method() + " " + c.Route().Path
	status := c.Response().StatusCode()
	if err != nil {
		var fe *fiber.Error
		status = fiber.StatusInternalServerError
		if errors.As(err, &fe) {
			status = fe.Code
		}
	}
	tx.Status = sentry.HTTPtoSpanStatus(status)
	tx.Finish()
	return err
}

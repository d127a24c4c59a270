package gateway

import (
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

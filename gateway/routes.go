package gateway

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/compress"
	"github.com/gofiber/fiber/v2/middleware/etag"
	"github.com/gofiber/fiber/v2/middleware/filesystem"
	"github.com/gofiber/fiber/v2/middleware/limiter"
	"github.com/skip2/go-qrcode"

	"github.com/pika-dj/pika/bus"
)

// routes declares every route the gateway serves.
func (g *Gateway) routes() {
	a := g.app
	a.Use(g.recoverPanics) // first: it guards every handler after it
	a.Use(g.traceRequests)
	a.Get("/ws", g.upgrade)
	a.Get("/healthz", g.health)

	api := a.Group("/api", g.cors, limiter.New(limiter.Config{
		Max: g.cfg.APIPerIPPerMinute, Expiration: time.Minute,
		LimitReached: func(c *fiber.Ctx) error {
			return c.Status(fiber.StatusTooManyRequests).JSON(RESTError{Code: codeRateLimited,
				Reason: "Too many requests from this address; wait a minute and try again."})
		},
	}))
	api.Get("/sessions", g.listSessions)
	// Before /sessions/:id, so "recent" is not taken for a session id.
	g.historyRoutes(api)
	g.accountRoutes(api)
	g.errorRoutes(api)
	api.Get("/sessions/:id", g.getSession)
	api.Get("/sessions/:id/history", g.history)
	api.Get("/sessions/:id/qr.png", g.qr)
	api.Use(func(c *fiber.Ctx) error {
		return c.Status(fiber.StatusNotFound).JSON(RESTError{Code: "not_found", Reason: "There is no such API endpoint."})
	})

	if g.cfg.Assets == nil {
		return
	}
	// Pages are small but the Wi-Fi is bad: compress everything but /ws.
	a.Use(compress.New(compress.Config{Level: compress.LevelBestCompression}))
	// File names are not versioned, so pages and assets are revalidated on
	// every load (a 304 costs a few bytes) and a phone never pairs a new
	// page with old scripts after an upgrade.
	a.Use(etag.New())
	a.Get("/", g.page("index.html"))
	a.Get("/s/:id", g.page("session.html"))
	// The DJ console: the session and its secret ride in the URL fragment,
	// which never reaches a server or its logs.
	a.Get("/dj", g.page("dj.html"))
	// History pages (issue 4): each reads its id from its own path.
	a.Get("/recap/:id", g.page("recap.html"))
	a.Get("/me", g.page("me.html"))
	a.Get("/dj/:djId", g.page("dj-profile.html"))
	a.Use("/assets", func(c *fiber.Ctx) error {
		c.Set(fiber.HeaderCacheControl, "no-cache")
		return c.Next()
	}, filesystem.New(filesystem.Config{Root: http.FS(mustSub(g.cfg.Assets, "assets"))}))
	a.Use(func(c *fiber.Ctx) error {
		return c.Status(fiber.StatusNotFound).SendString("Not found")
	})
}

func mustSub(fsys fs.FS, dir string) fs.FS {
	sub, err := fs.Sub(fsys, dir)
	if err != nil {
		panic(err) // only for a malformed literal path
	}
	return sub
}

// page serves one HTML file. Pages are revalidated on every load so a
// restarted server's new pages are seen at once.
func (g *Gateway) page(name string) fiber.Handler {
	return func(c *fiber.Ctx) error {
		b, err := fs.ReadFile(g.cfg.Assets, name)
		if err != nil {
			return c.Status(fiber.StatusNotFound).SendString("Not found")
		}
		if g.errors != nil {
			// The page reports its errors (see errorsScript).
			b = bytes.Replace(b, []byte("<head>"), errorsScript, 1)
		}
		c.Set(fiber.HeaderCacheControl, "no-cache")
		c.Type("html", "utf-8")
		return c.Send(b)
	}
}

func (g *Gateway) cors(c *fiber.Ctx) error {
	if g.cfg.CORSOrigin != "" {
		c.Set(fiber.HeaderAccessControlAllowOrigin, g.cfg.CORSOrigin)
		c.Set(fiber.HeaderVary, "Origin")
	}
	return c.Next()
}

func (g *Gateway) errorHandler(c *fiber.Ctx, err error) error {
	code := fiber.StatusInternalServerError
	var fe *fiber.Error
	if errors.As(err, &fe) {
		code = fe.Code
	}
	if code >= 500 {
		g.log.Error("http", "path", c.Path(), "err", err)
		return c.Status(code).JSON(RESTError{Code: "internal", Reason: "Something went wrong on the server."})
	}
	return c.Status(code).JSON(RESTError{Code: "bad_request", Reason: err.Error()})
}

// Ready reports whether the gateway can serve: JetStream answers. It is
// what /healthz checks (besides draining), and what a process's own
// metrics port reports as readiness.
func (g *Gateway) Ready(ctx context.Context) error {
	if _, err := g.cfg.JS.AccountInfo(ctx); err != nil {
		return fmt.Errorf("JetStream does not answer: %w", err)
	}
	return nil
}

func (g *Gateway) health(c *fiber.Ctx) error {
	if g.draining.Load() || g.closing.Load() {
		return c.Status(fiber.StatusServiceUnavailable).JSON(Health{Status: "draining", Sockets: g.Sockets()})
	}
	ctx, cancel := context.WithTimeout(c.UserContext(), 2*time.Second)
	defer cancel()
	if err := g.Ready(ctx); err != nil {
		g.log.Warn("health: bus unreachable", "err", err)
		return c.Status(fiber.StatusServiceUnavailable).JSON(Health{Status: "bus unavailable", Sockets: g.Sockets()})
	}
	g.hub.mu.Lock()
	n := len(g.hub.feeds)
	g.hub.mu.Unlock()
	return c.JSON(Health{Status: "ok", Sockets: g.Sockets(), Sessions: n})
}

func unavailable(c *fiber.Ctx) error {
	return c.Status(fiber.StatusServiceUnavailable).JSON(RESTError{Code: codeUnavailable,
		Reason: "Session data cannot be read right now; try again in a moment."})
}

// listSessions: live sessions, newest first.
func (g *Gateway) listSessions(c *fiber.Ctx) error {
	ctx, cancel := context.WithTimeout(c.UserContext(), 5*time.Second)
	defer cancel()
	if g.cfg.Cloud {
		out, err := g.hub.cloudLobby(ctx, g.now())
		if err != nil {
			g.log.Error("list sessions", "err", err)
			return unavailable(c)
		}
		sort.Slice(out, func(i, j int) bool { return out[i].StartedAt.After(out[j].StartedAt) })
		return c.JSON(out)
	}
	states, err := bus.ListStates(ctx, g.cfg.KV)
	if err != nil {
		g.log.Error("list sessions", "err", err)
		return unavailable(c)
	}
	now := g.now()
	out := make([]SessionInfo, 0, len(states))
	for _, s := range states {
		if !s.Ended(now) {
			out = append(out, g.hub.restInfo(ctx, s, now))
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].StartedAt.After(out[j].StartedAt) })
	return c.JSON(out)
}

// sessionParam validates :id, answering 400 itself when it is malformed.
func sessionParam(c *fiber.Ctx) (string, bool) {
	sid := c.Params("id")
	if !bus.ValidID(sid) {
		_ = c.Status(fiber.StatusBadRequest).JSON(RESTError{Code: codeBadRequest,
			Reason: "That is not a Pika! session id."})
		return "", false
	}
	return strings.Clone(sid), true
}

// loadFeed returns the session's feed, answering 404 or 503 itself.
func (g *Gateway) loadFeed(c *fiber.Ctx, sid string) (*feed, bool) {
	ctx, cancel := context.WithTimeout(c.UserContext(), 10*time.Second)
	defer cancel()
	f, err := g.hub.get(ctx, sid)
	if errors.Is(err, errUnknownSession) {
		_ = c.Status(fiber.StatusNotFound).JSON(RESTError{Code: codeUnknownSession,
			Reason: "There is no session " + sid + "; check the link or QR code."})
		return nil, false
	}
	if err != nil {
		g.log.Error("load session", "session", sid, "err", err)
		_ = unavailable(c)
		return nil, false
	}
	return f, true
}

func (g *Gateway) getSession(c *fiber.Ctx) error {
	sid, ok := sessionParam(c)
	if !ok {
		return nil
	}
	f, ok := g.loadFeed(c, sid)
	if !ok {
		return nil
	}
	now := g.now()
	f.mu.Lock()
	info := sessionInfo(f.state, f.currentLocked(false), f.listenerCountLocked(), now)
	f.mu.Unlock()
	info.JoinURL = g.dancerBase(c) + "/s/" + sid
	return c.JSON(info)
}

// dancerBase is the base of dancer links: Config.DancerURL's answer, else
// Config.PublicURL, else this request's own origin.
func (g *Gateway) dancerBase(c *fiber.Ctx) string {
	base := ""
	if g.cfg.DancerURL != nil {
		base = g.cfg.DancerURL()
	}
	if base == "" {
		base = g.cfg.PublicURL
	}
	if base == "" {
		base = c.Protocol() + "://" + string(c.Request().Host())
	}
	return strings.TrimRight(base, "/")
}

// history: every play phones may see, newest first, as corrected: from
// PostgreSQL when the gateway has it and it has the session, else folded
// from the stream.
func (g *Gateway) history(c *fiber.Ctx) error {
	sid, ok := sessionParam(c)
	if !ok {
		return nil
	}
	limit := 1000
	if q := c.Query("limit"); q != "" {
		n, err := strconv.Atoi(q)
		if err != nil || n < 1 || n > 1000 {
			return c.Status(fiber.StatusBadRequest).JSON(RESTError{Code: codeBadRequest,
				Reason: "limit must be a number from 1 to 1000."})
		}
		limit = n
	}
	if plays, ok := g.dbPlays(c, sid, limit); ok {
		return c.JSON(plays)
	}
	f, ok := g.loadFeed(c, sid)
	if !ok {
		return nil
	}
	f.mu.Lock()
	out := f.historyLocked(limit, false)
	f.mu.Unlock()
	return c.JSON(out)
}

// qr: a PNG QR code of the session's dancer URL.
func (g *Gateway) qr(c *fiber.Ctx) error {
	sid, ok := sessionParam(c)
	if !ok {
		return nil
	}
	png, err := qrcode.Encode(g.dancerBase(c)+"/s/"+sid, qrcode.Medium, 512)
	if err != nil {
		return err
	}
	// Short: in LAN + cloud mode the link moves to the cloud when it is up.
	c.Set(fiber.HeaderCacheControl, "public, max-age=60")
	c.Type("png")
	return c.Send(png)
}

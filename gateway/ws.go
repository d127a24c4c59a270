package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/fasthttp/websocket"
	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"

	"github.com/pika-dj/pika/bus"
)

// upgrade is the /ws handler. It uses fasthttp/websocket's upgrader
// directly rather than gofiber/contrib/websocket: the contrib wrapper keeps
// copies of every header, cookie and query per socket and deepens the
// socket goroutine's stack (../shared reference gateway-fanout.md measured
// 15.5 KB per socket with it and 10.4 KB without).
func (g *Gateway) upgrade(c *fiber.Ctx) error {
	if !websocket.FastHTTPIsWebSocketUpgrade(c.Context()) {
		return c.Status(fiber.StatusUpgradeRequired).JSON(RESTError{Code: "upgrade_required",
			Reason: "This address speaks WebSocket only; open the dancer page instead."})
	}
	if g.closing.Load() {
		return c.Status(fiber.StatusServiceUnavailable).JSON(RESTError{Code: codeUnavailable,
			Reason: "The server is restarting; try again in a moment."})
	}
	ip := c.IP() // copied now: the fiber.Ctx is recycled when this returns
	err := g.upgrader.Upgrade(c.Context(), func(ws *websocket.Conn) { g.serveWS(ws, ip) })
	if err != nil {
		g.log.Debug("websocket upgrade failed", "ip", ip, "err", err)
	}
	return nil
}

// serveWS is the socket's own goroutine. It stays shallow (see doc.go): it
// reads frames and runs each handler on a short-lived goroutine.
func (g *Gateway) serveWS(ws *websocket.Conn, ip string) {
	c := newConn(ws, g.cfg.QueueLen, ip)
	if ok, code := g.register(c); !ok {
		_ = ws.WriteControl(websocket.CloseMessage,
			websocket.FormatCloseMessage(code, closeReason(code)), time.Now().Add(time.Second))
		lingerClose(ws)
		return
	}
	ws.SetReadLimit(int64(g.cfg.MaxFrame))
	_ = ws.SetReadDeadline(time.Now().Add(g.cfg.ReadTimeout))
	ws.SetPongHandler(func(string) error { return c.extendRead(g.cfg.ReadTimeout) })
	code, reason := websocket.CloseNormalClosure, ""
	for {
		mt, data, err := ws.ReadMessage()
		if err != nil {
			if k := c.killCode(); k != 0 {
				code, reason = k, closeReason(k)
			} else {
				code = 0 // the phone went away or broke the protocol: nothing to say
			}
			break
		}
		done := make(chan int, 1)
		go func() {
			// A panic in a handler ends this socket (1011), not the process.
			defer func() {
				if r := recover(); r != nil {
					g.reportPanic("frame handler", r)
					done <- closeInternal
				}
			}()
			done <- g.handleFrame(c, mt, data)
		}()
		if k := <-done; k != 0 {
			code, reason = k, closeReason(k)
			break
		}
		if c.extendRead(g.cfg.ReadTimeout) != nil {
			code, reason = c.killCode(), closeReason(c.killCode())
			break
		}
	}
	if c.feed != nil {
		g.hub.unsubscribe(c.feed, c, c.clientID)
	}
	if code == closeTooSlow {
		g.metrics.slowDrop()
	}
	// Flush what is queued unless the socket is being dropped for not
	// reading (a write would only wait out its deadline).
	c.finish(code != 0 && code != closeTooSlow)
	if code != 0 {
		_ = ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, reason), time.Now().Add(time.Second))
		lingerClose(ws)
	}
	g.unregister(c)
}

// lingerClose reads and discards what the phone still sends, for up to a
// second, until it answers our close frame and hangs up. Closing at once
// with unread bytes makes the kernel send a reset, which can destroy the
// close frame before the phone reads it: it would never learn the code.
func lingerClose(ws *websocket.Conn) {
	nc := ws.NetConn()
	_ = nc.SetReadDeadline(time.Now().Add(time.Second))
	_, _ = io.CopyN(io.Discard, nc, 1<<20)
}

func closeReason(code int) string {
	switch code {
	case closeGoingAway:
		return "server restarting"
	case closePolicy:
		return "too many messages"
	case closeTooSlow:
		return "too slow: reconnect"
	case closeInternal:
		return "internal error"
	case closeTryLater:
		return "server full: try again later"
	}
	return ""
}

// killCode is the close code someone asked for, or 0.
func (c *conn) killCode() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.kill
}

// extendRead pushes the read deadline out, unless the socket is being
// killed (whose deadline must stay expired).
func (c *conn) extendRead(d time.Duration) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.kill != 0 {
		return errors.New("closing")
	}
	return c.ws.SetReadDeadline(time.Now().Add(d))
}

// handleFrame answers one client frame. It returns a close code when the
// socket must end, else 0.
func (g *Gateway) handleFrame(c *conn, mt int, data []byte) int {
	now := g.now()
	f, ref, rj := parseFrame(mt, data)
	if !c.limit.allow(now, g.cfg.RatePerSec, g.cfg.RateBurst) {
		// Every refused frame is answered (the page must learn why) while
		// the socket's queue has room; a client that keeps flooding is
		// closed after FloodClose of them.
		if isAction(f.Type) {
			g.metrics.refused(codeRateLimited)
		}
		if c.limit.over >= g.cfg.FloodClose {
			return closePolicy
		}
		if c.roomy() {
			g.reply(c, ref, reject(codeRateLimited, "Too many messages: at most %v per second. Wait a moment.", g.cfg.RatePerSec))
		}
		return 0
	}
	if rj != nil {
		g.reply(c, ref, rj)
		return 0
	}
	switch f.Type {
	case framePing:
		g.send(c, pongFrame{Type: framePong, Ref: ref, ServerTime: now.UTC()})
	case frameSubscribe:
		g.reply(c, ref, g.subscribe(c, f, ref))
	case frameLike, frameUnlike, frameTempo, frameVote, frameThanks:
		g.reply(c, ref, g.action(c, f, ref, now))
	case frameLikes:
		g.reply(c, ref, g.likes(c, f, ref, now))
	case frameDJ:
		g.reply(c, ref, g.command(c, f, ref))
	}
	return 0
}

// parseFrame decodes one client frame, or says why it cannot. It is the
// only decoder of what phones send (FuzzParseFrame). The returned ref is
// set whenever the frame carried a valid one, so even a refusal can be
// matched to its request.
func parseFrame(mt int, data []byte) (clientFrame, json.RawMessage, *rejection) {
	var f clientFrame
	if mt != websocket.TextMessage {
		return f, nil, reject(codeBinaryUnsupported, "Only text frames holding JSON are understood.")
	}
	if !utf8.Valid(data) {
		return f, nil, reject(codeBadUTF8, "The frame is not valid UTF-8 text.")
	}
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return f, nil, reject(codeBadJSON, "Each frame must be one JSON object.")
	}
	if depth(trimmed) > maxDepth {
		return f, nil, reject(codeBadJSON, "The frame is nested more than %d levels deep.", maxDepth)
	}
	if err := json.Unmarshal(trimmed, &f); err != nil {
		// A field of the wrong type is a bad request, answered with the
		// frame's ref (the decoder fills the fields it can).
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			ref, _ := validRef(f.Ref)
			return clientFrame{}, ref, reject(codeBadRequest, "%.40s has the wrong type.", te.Field)
		}
		return clientFrame{}, nil, reject(codeBadJSON, "The frame is not valid JSON for this protocol: %s.", shortErr(err))
	}
	ref, ok := validRef(f.Ref)
	if !ok {
		return f, nil, reject(codeBadRequest, "ref must be a string of at most 64 characters or a number.")
	}
	f.Ref = ref
	switch f.Type {
	case framePing, frameSubscribe, frameLike, frameUnlike, frameTempo, frameVote, frameThanks, frameDJ:
		return f, ref, nil
	case frameLikes:
		if len(f.Items) == 0 || len(f.Items) > maxBatch {
			return f, ref, reject(codeBadRequest, "items must hold 1 to %d likes.", maxBatch)
		}
		return f, ref, nil
	case "":
		return f, ref, reject(codeUnknownType, "The frame has no type.")
	default:
		return f, ref, reject(codeUnknownType, "Unknown frame type %.40q.", f.Type)
	}
}

// subscribe switches c to the session in f and queues its snapshot.
func (g *Gateway) subscribe(c *conn, f clientFrame, ref json.RawMessage) error {
	if !bus.ValidID(f.SessionID) {
		return reject(codeBadRequest, "sessionId must be a session id from a Pika! link.")
	}
	if !bus.ValidClientID(f.ClientID) {
		return reject(codeBadRequest, "clientId must be 8–64 letters, digits, '-' or '_'.")
	}
	ctx, cancel := context.WithTimeout(g.ctx, 10*time.Second)
	defer cancel()
	fd, err := g.hub.get(ctx, f.SessionID)
	if errors.Is(err, errUnknownSession) {
		return reject(codeUnknownSession, "There is no session %s; check the link or QR code.", f.SessionID)
	}
	if err != nil {
		g.log.Error("load session", "session", f.SessionID, "err", err)
		return reject(codeUnavailable, "The session cannot be read right now; try again in a moment.")
	}
	// A console proves the DJ secret (the owner checks it): it then sees
	// withheld plays and is not counted among the dancers.
	dj := false
	if f.Secret != "" {
		if _, err := g.ask(bus.Command{V: bus.Version, Kind: bus.CmdAuth, Session: f.SessionID, Secret: f.Secret}); err != nil {
			return err
		}
		dj = true
	}
	if c.feed != nil {
		g.hub.unsubscribe(c.feed, c, c.clientID)
	}
	c.feed, c.clientID, c.dj = fd, f.ClientID, dj
	// The ok goes out before the snapshot so that a page can treat the
	// snapshot as the start of the stream.
	g.send(c, okFrame{Type: frameOK, Ref: ref})
	if err := g.hub.subscribe(fd, c, f.ClientID, f.LastSeq); err != nil {
		g.log.Error("subscribe", "session", f.SessionID, "err", err)
		return reject(codeUnavailable, "The session cannot be read right now; try again in a moment.")
	}
	return errAlreadyAnswered
}

// errAlreadyAnswered tells reply that the handler sent the ok itself.
var errAlreadyAnswered = errors.New("answered")

// reply sends ok for a nil err, or the error frame err describes.
func (g *Gateway) reply(c *conn, ref json.RawMessage, err error) {
	var rj *rejection
	switch {
	case err == nil:
		g.send(c, okFrame{Type: frameOK, Ref: ref})
	case errors.Is(err, errAlreadyAnswered):
	case errors.As(err, &rj):
		g.send(c, errorFrame{Type: frameError, Ref: ref, Code: rj.code, Reason: rj.reason})
	default:
		g.log.Error("frame handler", "err", err)
		g.send(c, errorFrame{Type: frameError, Ref: ref, Code: codeUnavailable, Reason: "Something went wrong on the server; try again."})
	}
}

// send queues one frame for c alone.
func (g *Gateway) send(c *conn, v any) {
	data, err := json.Marshal(v)
	if err != nil {
		g.log.Error("encode frame", "err", err)
		return
	}
	if c.enqueue(outItem{data: data}) {
		g.writers.schedule(g.ctx, c)
	}
}

// validRef accepts a JSON string of at most 64 characters or a number.
func validRef(ref json.RawMessage) (json.RawMessage, bool) {
	if len(ref) == 0 || string(ref) == "null" {
		return nil, true
	}
	switch ref[0] {
	case '"':
		var s string
		if json.Unmarshal(ref, &s) != nil || utf8.RuneCountInString(s) > 64 {
			return nil, false
		}
		return ref, true
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		var n json.Number
		if json.Unmarshal(ref, &n) != nil || len(ref) > 24 {
			return nil, false
		}
		return ref, true
	}
	return nil, false
}

// maxDepth bounds the nesting of a client frame. No frame of this protocol
// nests more than two levels; refusing deeper ones before decoding keeps a
// hostile frame from costing the decoder anything.
const maxDepth = 8

// depth is the deepest nesting of objects and arrays in data, ignoring
// brackets inside strings.
func depth(data []byte) int {
	d, deepest, inString, escaped := 0, 0, false, false
	for _, b := range data {
		switch {
		case escaped:
			escaped = false
		case inString:
			switch b {
			case '\\':
				escaped = true
			case '"':
				inString = false
			}
		case b == '"':
			inString = true
		case b == '{' || b == '[':
			d++
			deepest = max(deepest, d)
		case b == '}' || b == ']':
			d--
		}
	}
	return deepest
}

// shortErr keeps a JSON error readable and bounded.
func shortErr(err error) string {
	s := err.Error()
	if len(s) > 80 {
		s = s[:80] + "…"
	}
	return s
}

// upgrader settings: small read buffer and pooled write buffer, no
// compression (gateway-fanout.md: 10.4 KB per idle socket). The read
// buffer lives as long as the socket; phones' frames are small (a
// subscribe is about 150 bytes) and a larger one is read in several calls,
// so 256 rather than 512 (TestIdleSocketMemory: about 0.3–0.9 KB less heap
// per socket; 125 bytes, a control frame, is the floor).
func newUpgrader() *websocket.FastHTTPUpgrader {
	return &websocket.FastHTTPUpgrader{
		ReadBufferSize:  256,
		WriteBufferSize: 1024,
		WriteBufferPool: &sync.Pool{},
		CheckOrigin:     func(*fasthttp.RequestCtx) bool { return true },
	}
}

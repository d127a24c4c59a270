package gateway

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/pika-dj/pika/bus"
	"github.com/pika-dj/pika/internal/history"
)

// History is what the gateway reads from PostgreSQL: the history people
// query for years. persister/pgstore implements it; nil (Config.History)
// means no database, and then recaps are folded from the streams and the
// other history endpoints answer 503 no_database.
//
// Every method leaves out what dancers must not see (plays hidden by the
// DJ or played while the track list was paused) unless it says otherwise,
// and shows plays as the DJ corrected them.
type History interface {
	// SessionPlays lists up to limit plays of session sid, newest first;
	// history.ErrNotFound if the session has no rows.
	SessionPlays(ctx context.Context, sid string, limit int) ([]bus.PlayedTrack, error)
	// SessionRecap is the session's recap (not yet Finish-ed); with owner,
	// withheld plays (marked Hidden), polls and thank-yous too.
	// history.ErrNotFound if the session has no rows.
	SessionRecap(ctx context.Context, sid string, owner bool) (history.Recap, error)
	// RecentSessions lists up to limit sessions that have ended (or gone
	// idle since now), newest first.
	RecentSessions(ctx context.Context, now time.Time, limit int) ([]history.Session, error)
	// DJProfile is the DJ of that id and up to limit of their sessions,
	// newest first; history.ErrNotFound for a DJ with no rows.
	DJProfile(ctx context.Context, djID string, limit int) (history.DJProfile, error)
	// Journal is a dancer's standing likes, newest first (up to limit), and
	// the count of every row kept of their anonymous id.
	Journal(ctx context.Context, clientID string, limit int) (history.Journal, error)
	// DeleteJournal removes every like, tempo vote, poll vote and reaction
	// of the anonymous id and returns how many rows it removed.
	DeleteJournal(ctx context.Context, clientID string) (int64, error)
	// TopTracks is the all-time chart: up to limit tracks with the most
	// likes.
	TopTracks(ctx context.Context, limit int) ([]history.TopTrack, error)
}

// Limits of the history endpoints.
const (
	recentLimit    = 20
	profileLimit   = 100
	journalLimit   = 500
	topTracksLimit = 20
	topTracksTTL   = time.Minute // the chart moves slowly; a burst of lobbies costs one query
	maxSecretLen   = 128
)

// codeNoDatabase answers the endpoints that need PostgreSQL on a server
// without it.
const codeNoDatabase = "no_database"

// historyRoutes adds the history endpoints (issue 4) to api.
func (g *Gateway) historyRoutes(api fiber.Router) {
	api.Get("/sessions/recent", g.recentSessions)
	api.Get("/sessions/:id/recap", g.recap)
	api.Get("/sessions/:id/recap.csv", g.recapCSV)
	api.Get("/djs/:djId", g.djProfile)
	api.Get("/clients/:clientId/likes", g.journal)
	api.Delete("/clients/:clientId/likes", g.deleteJournal)
	top := &topCache{}
	api.Get("/stats/top-tracks", func(c *fiber.Ctx) error { return g.topTracks(c, top) })
}

// needDB answers 503 no_database itself when there is no PostgreSQL.
func (g *Gateway) needDB(c *fiber.Ctx) bool {
	if g.cfg.History != nil {
		return true
	}
	_ = c.Status(fiber.StatusServiceUnavailable).JSON(RESTError{Code: codeNoDatabase,
		Reason: "This Pika! server keeps no long-term history (it runs without a database). Recaps of its sessions work; journals, DJ profiles and charts need a server with PostgreSQL."})
	return false
}

// dbUnavailable answers 503 when PostgreSQL fails, logging why once.
func (g *Gateway) dbUnavailable(c *fiber.Ctx, what string, err error) error {
	g.log.Error("history: "+what, "err", err)
	return c.Status(fiber.StatusServiceUnavailable).JSON(RESTError{Code: codeUnavailable,
		Reason: "The history cannot be read right now; try again in a moment."})
}

func dbContext(c *fiber.Ctx) (context.Context, context.CancelFunc) {
	return context.WithTimeout(c.UserContext(), 10*time.Second)
}

// dbPlays is the session's history from PostgreSQL, or ok=false when the
// stream must answer instead: no database, no rows yet (the persister
// runs behind the stream), or a database that fails (the stream keeps a
// session for 400 days, so the night stays readable).
func (g *Gateway) dbPlays(c *fiber.Ctx, sid string, limit int) ([]bus.PlayedTrack, bool) {
	if g.cfg.History == nil {
		return nil, false
	}
	ctx, cancel := dbContext(c)
	defer cancel()
	plays, err := g.cfg.History.SessionPlays(ctx, sid, limit)
	switch {
	case errors.Is(err, history.ErrNotFound):
		return nil, false
	case err != nil:
		g.log.Warn("history: session plays from PostgreSQL failed; reading the stream", "session", sid, "err", err)
		return nil, false
	}
	if plays == nil {
		plays = []bus.PlayedTrack{}
	}
	return plays, true
}

// credentialInAddress answers 400 when the query carries a credential under
// one of names, and reports whether it did: a credential in the address
// ends up in logs, history and Referer headers, so it is refused loudly
// rather than ignored. what names it for the reason ("the DJ secret").
func credentialInAddress(c *fiber.Ctx, what string, names ...string) bool {
	for _, q := range names {
		if c.Query(q) != "" {
			_ = c.Status(fiber.StatusBadRequest).JSON(RESTError{Code: codeBadRequest,
				Reason: "Send " + what + " in an Authorization: Bearer header, never in the address."})
			return true
		}
	}
	return false
}

// bearerCredential reads "Authorization: Bearer <credential>". present is
// false without the header; bearer is false when it is not a non-empty
// Bearer credential.
func bearerCredential(c *fiber.Ctx) (credential string, present, bearer bool) {
	h := strings.TrimSpace(c.Get(fiber.HeaderAuthorization))
	if h == "" {
		return "", false, false
	}
	scheme, credential, _ := strings.Cut(h, " ")
	credential = strings.TrimSpace(credential)
	return credential, true, strings.EqualFold(scheme, "Bearer") && credential != ""
}

// ownerAuth tells whether the request proves it holds the session's DJ
// secret. Without an Authorization header it is the public (false, true);
// otherwise the session's owner on the DJ's side checks the secret (only
// it holds the hash). It answers 400, 403 or 503 itself (ok=false).
func (g *Gateway) ownerAuth(c *fiber.Ctx, sid string) (owner, ok bool) {
	if credentialInAddress(c, "the DJ secret", "secret", "k", "key", "token") {
		return false, false
	}
	secret, present, bearer := bearerCredential(c)
	if !present {
		return false, true
	}
	if !bearer || len(secret) > maxSecretLen {
		_ = c.Status(fiber.StatusBadRequest).JSON(RESTError{Code: codeBadRequest,
			Reason: "Authorization must be \"Bearer\" followed by the session's DJ secret."})
		return false, false
	}
	_, err := g.ask(bus.Command{V: bus.Version, Kind: bus.CmdAuth, Session: sid, Secret: secret})
	if err == nil {
		return true, true
	}
	var rj *rejection
	switch {
	case errors.As(err, &rj) && rj.code == codeForbidden:
		_ = c.Status(fiber.StatusForbidden).JSON(RESTError{Code: codeForbidden, Reason: rj.reason})
	case errors.As(err, &rj) && rj.code == codeUnavailable:
		_ = c.Status(fiber.StatusServiceUnavailable).JSON(RESTError{Code: codeUnavailable,
			Reason: "The DJ secret is checked by the DJ's laptop, which is not answering. Try again when it is online, or open the recap without the secret."})
	case errors.As(err, &rj):
		_ = c.Status(fiber.StatusForbidden).JSON(RESTError{Code: codeForbidden, Reason: rj.reason})
	default:
		g.log.Error("check DJ secret", "session", sid, "err", err)
		_ = unavailable(c)
	}
	return false, false
}

// loadRecap builds the session's recap from PostgreSQL when it has the
// session, else from the streams. It answers 404 or 503 itself.
func (g *Gateway) loadRecap(c *fiber.Ctx, sid string, owner bool) (history.Recap, bool) {
	if g.cfg.History != nil {
		ctx, cancel := dbContext(c)
		r, err := g.cfg.History.SessionRecap(ctx, sid, owner)
		cancel()
		switch {
		case err == nil:
			r.Owner = owner
			r.Session.Settle(g.now())
			r.Finish()
			return r, true
		case !errors.Is(err, history.ErrNotFound):
			g.log.Warn("history: recap from PostgreSQL failed; folding the streams", "session", sid, "err", err)
		}
	}
	ctx, cancel := context.WithTimeout(c.UserContext(), 20*time.Second)
	defer cancel()
	r, err := g.hub.streamRecap(ctx, sid, owner, g.now())
	if errors.Is(err, errUnknownSession) {
		_ = c.Status(fiber.StatusNotFound).JSON(RESTError{Code: codeUnknownSession,
			Reason: "There is no session " + sid + "; check the link."})
		return r, false
	}
	if err != nil {
		g.log.Error("recap from the streams", "session", sid, "err", err)
		_ = unavailable(c)
		return r, false
	}
	return r, true
}

// recap: GET /api/sessions/{id}/recap.
func (g *Gateway) recap(c *fiber.Ctx) error {
	sid, ok := sessionParam(c)
	if !ok {
		return nil
	}
	owner, ok := g.ownerAuth(c, sid)
	if !ok {
		return nil
	}
	r, ok := g.loadRecap(c, sid, owner)
	if !ok {
		return nil
	}
	if owner {
		// The DJ's view must not linger in a shared cache.
		c.Set(fiber.HeaderCacheControl, "private, no-store")
	} else {
		c.Set(fiber.HeaderCacheControl, "no-cache")
	}
	return c.JSON(r)
}

// recapCSV: GET /api/sessions/{id}/recap.csv, the DJ's export. It needs
// the secret: it lists withheld plays.
func (g *Gateway) recapCSV(c *fiber.Ctx) error {
	sid, ok := sessionParam(c)
	if !ok {
		return nil
	}
	owner, ok := g.ownerAuth(c, sid)
	if !ok {
		return nil
	}
	if !owner {
		return c.Status(fiber.StatusForbidden).JSON(RESTError{Code: codeForbidden,
			Reason: "The CSV export is for the DJ: send the session's DJ secret in an Authorization: Bearer header."})
	}
	r, ok := g.loadRecap(c, sid, true)
	if !ok {
		return nil
	}
	body, err := recapCSV(r)
	if err != nil {
		return fmt.Errorf("gateway: csv of %s: %w", sid, err)
	}
	c.Set(fiber.HeaderCacheControl, "private, no-store")
	c.Set(fiber.HeaderContentType, "text/csv; charset=utf-8")
	c.Set(fiber.HeaderContentDisposition, `attachment; filename="`+csvName(r)+`"`)
	return c.Send(body)
}

// recapCSV writes one row per play, oldest first. Times are UTC, RFC 3339.
func recapCSV(r history.Recap) ([]byte, error) {
	var b strings.Builder
	w := csv.NewWriter(&b)
	rows := [][]string{{"position", "played_at", "artist", "title", "bpm", "key", "likes", "slower", "perfect", "faster", "hidden"}}
	for _, p := range r.Plays {
		bpm := ""
		if p.BPM > 0 {
			bpm = strconv.FormatFloat(p.BPM, 'f', -1, 64)
		}
		rows = append(rows, []string{
			strconv.Itoa(p.Position), p.PlayedAt.UTC().Format(time.RFC3339), cell(p.Artist), cell(p.Title), bpm, cell(p.Key),
			strconv.Itoa(p.Likes), strconv.Itoa(p.Tempo.Slower), strconv.Itoa(p.Tempo.Perfect), strconv.Itoa(p.Tempo.Faster),
			strconv.FormatBool(p.Hidden),
		})
	}
	if err := w.WriteAll(rows); err != nil {
		return nil, fmt.Errorf("gateway: write csv: %w", err)
	}
	return []byte(b.String()), nil
}

// cell keeps a spreadsheet from running a tag as a formula: titles come
// from files anyone can tag, and "=HYPERLINK(…)" is a valid title.
func cell(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

// csvName is the download's file name: ASCII only, so every browser keeps it.
func csvName(r history.Recap) string {
	var b strings.Builder
	for _, ch := range strings.ToLower(r.Session.DJName) {
		switch {
		case ch >= 'a' && ch <= 'z', ch >= '0' && ch <= '9':
			b.WriteRune(ch)
		case b.Len() > 0 && !strings.HasSuffix(b.String(), "-"):
			b.WriteByte('-')
		}
		if b.Len() >= 40 {
			break
		}
	}
	name := strings.Trim(b.String(), "-")
	if name == "" {
		name = "session"
	}
	return "pika-" + name + "-" + r.Session.StartedAt.UTC().Format("2006-01-02") + ".csv"
}

// recentSessions: GET /api/sessions/recent.
func (g *Gateway) recentSessions(c *fiber.Ctx) error {
	if !g.needDB(c) {
		return nil
	}
	ctx, cancel := dbContext(c)
	defer cancel()
	now := g.now()
	list, err := g.cfg.History.RecentSessions(ctx, now, recentLimit)
	if err != nil {
		return g.dbUnavailable(c, "recent sessions", err)
	}
	for i := range list {
		list[i].Settle(now)
	}
	if list == nil {
		list = []history.Session{}
	}
	return c.JSON(list)
}

// djProfile: GET /api/djs/{djId}, built from that DJ id's sessions only
// (two DJs may share a name; a profile never merges them).
func (g *Gateway) djProfile(c *fiber.Ctx) error {
	dj := c.Params("djId")
	if !bus.ValidDJID(dj) {
		return c.Status(fiber.StatusBadRequest).JSON(RESTError{Code: codeBadRequest, Reason: "That is not a Pika! DJ id."})
	}
	if !g.needDB(c) {
		return nil
	}
	ctx, cancel := dbContext(c)
	defer cancel()
	p, err := g.cfg.History.DJProfile(ctx, strings.Clone(dj), profileLimit)
	if errors.Is(err, history.ErrNotFound) {
		return c.Status(fiber.StatusNotFound).JSON(RESTError{Code: "unknown_dj", Reason: "There is no DJ " + dj + " here; check the link."})
	}
	if err != nil {
		return g.dbUnavailable(c, "DJ profile", err)
	}
	now := g.now()
	for i := range p.Sessions {
		p.Sessions[i].Settle(now)
	}
	if p.Sessions == nil {
		p.Sessions = []history.Session{}
	}
	return c.JSON(p)
}

// clientParam validates :clientId, answering 400 itself.
func clientParam(c *fiber.Ctx) (string, bool) {
	id := c.Params("clientId")
	if !bus.ValidClientID(id) {
		_ = c.Status(fiber.StatusBadRequest).JSON(RESTError{Code: codeBadRequest,
			Reason: "That is not a Pika! browser id (8–64 letters, digits, - or _)."})
		return "", false
	}
	return strings.Clone(id), true
}

// journal: GET /api/clients/{clientId}/likes, the dancer's journal.
func (g *Gateway) journal(c *fiber.Ctx) error {
	id, ok := clientParam(c)
	if !ok {
		return nil
	}
	if !g.needDB(c) {
		return nil
	}
	ctx, cancel := dbContext(c)
	defer cancel()
	j, err := g.cfg.History.Journal(ctx, id, journalLimit)
	if err != nil {
		return g.dbUnavailable(c, "journal", err)
	}
	j.ClientID = id
	if j.Likes == nil {
		j.Likes = []history.JournalLike{}
	}
	c.Set(fiber.HeaderCacheControl, "private, no-store")
	return c.JSON(j)
}

// deleted answers DELETE /api/clients/{clientId}/likes.
type deleted struct {
	ClientID string       `json:"clientId"`
	Deleted  int64        `json:"deleted"` // rows removed
	Kept     history.Kept `json:"before"`  // what was kept just before, by kind
}

// deleteJournal: DELETE /api/clients/{clientId}/likes removes every like,
// vote and reaction of the anonymous id from PostgreSQL.
func (g *Gateway) deleteJournal(c *fiber.Ctx) error {
	id, ok := clientParam(c)
	if !ok {
		return nil
	}
	if !g.needDB(c) {
		return nil
	}
	ctx, cancel := dbContext(c)
	defer cancel()
	j, err := g.cfg.History.Journal(ctx, id, 0)
	if err != nil {
		return g.dbUnavailable(c, "journal before deletion", err)
	}
	n, err := g.cfg.History.DeleteJournal(ctx, id)
	if err != nil {
		return g.dbUnavailable(c, "delete journal", err)
	}
	g.log.Info("journal deleted", "rows", n)
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.JSON(deleted{ClientID: id, Deleted: n, Kept: j.Kept})
}

// topCache keeps the chart for topTracksTTL.
type topCache struct {
	mu   sync.Mutex
	at   time.Time
	list []history.TopTrack
}

// topTracks: GET /api/stats/top-tracks.
func (g *Gateway) topTracks(c *fiber.Ctx, top *topCache) error {
	if !g.needDB(c) {
		return nil
	}
	now := g.now()
	top.mu.Lock()
	defer top.mu.Unlock() // one query at a time: the others wait for its answer
	if top.list == nil || now.Sub(top.at) >= topTracksTTL || now.Before(top.at) {
		ctx, cancel := dbContext(c)
		list, err := g.cfg.History.TopTracks(ctx, topTracksLimit)
		cancel()
		if err != nil {
			return g.dbUnavailable(c, "top tracks", err)
		}
		if list == nil {
			list = []history.TopTrack{}
		}
		top.list, top.at = list, now
	}
	c.Set(fiber.HeaderCacheControl, "public, max-age=60")
	return c.JSON(top.list)
}

package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/pika-dj/pika/bus"
)

// Error codes of crowd interaction sent to phones (the refusals of an
// action come from bus.Crowd; those of a DJ command from the owner).
const (
	codeNotSubscribed = "not_subscribed"
	codeForbidden     = bus.CodeForbidden
)

// Per-dancer limits, per minute, by kind of action. A bucket holds a
// minute's worth, so a dancer can spend it at once and then waits.
var dancerLimits = [...]struct {
	perMinute float64
	noun      string
}{
	limitLike:   {30, "likes"},
	limitTempo:  {20, "tempo votes"},
	limitThanks: {6, "thank-yous"},
	limitVote:   {10, "poll votes"},
	// An offline queue was filled over time, at the page's pace; it
	// arrives at once, so it has its own budget of one full batch.
	limitBatch: {maxBatch, "queued likes"},
}

const (
	limitLike = iota
	limitTempo
	limitThanks
	limitVote
	limitBatch
	nLimits
)

func limitOf(k bus.ActionKind) int {
	switch k {
	case bus.ActTempo:
		return limitTempo
	case bus.ActThanks:
		return limitThanks
	case bus.ActVote:
		return limitVote
	}
	return limitLike
}

// dancer is one client id's actions on this gateway, across its sockets.
type dancer struct {
	// mu serializes the dancer's actions: check, publish and fold happen
	// as one step, so two sockets of one phone cannot both vote. Lock
	// order: dancer.mu, then feed.mu, then conn.mu.
	mu      sync.Mutex
	buckets [nLimits]rateLimit // under mu

	refs    int       // under dancers.mu: handlers using it now
	lastUse time.Time // under dancers.mu
}

// dancers holds per-dancer and per-address limits.
type dancers struct {
	mu    sync.Mutex
	byID  map[string]*dancer
	byIP  map[string]*rateLimit
	ipMin float64 // actions per address per minute
}

func newDancers(ipPerMinute int) *dancers {
	return &dancers{byID: map[string]*dancer{}, byIP: map[string]*rateLimit{}, ipMin: float64(ipPerMinute)}
}

// acquire returns the client's dancer, kept until release.
func (ds *dancers) acquire(client string, now time.Time) *dancer {
	ds.mu.Lock()
	defer ds.mu.Unlock()
	d := ds.byID[client]
	if d == nil {
		d = &dancer{}
		ds.byID[client] = d
	}
	d.refs++
	d.lastUse = now
	return d
}

func (ds *dancers) release(d *dancer) {
	ds.mu.Lock()
	d.refs--
	ds.mu.Unlock()
}

// allowIP spends one action of the address's ceiling.
func (ds *dancers) allowIP(ip string, now time.Time) bool {
	ds.mu.Lock()
	defer ds.mu.Unlock()
	r := ds.byIP[ip]
	if r == nil {
		r = &rateLimit{}
		ds.byIP[ip] = r
	}
	return r.allow(now, ds.ipMin/60, ds.ipMin)
}

// forget drops dancers and addresses idle for longer than a bucket takes
// to refill: they would start full anyway.
func (ds *dancers) forget(now time.Time) {
	ds.mu.Lock()
	defer ds.mu.Unlock()
	for id, d := range ds.byID {
		if d.refs == 0 && now.Sub(d.lastUse) > 2*time.Minute {
			delete(ds.byID, id)
		}
	}
	for ip, r := range ds.byIP {
		if now.Sub(r.last) > 2*time.Minute {
			delete(ds.byIP, ip)
		}
	}
}

// limit spends one action of budget i (limitLike…) for d (whose mu is
// held) and c's address, or says why not.
func (g *Gateway) limit(d *dancer, c *conn, i int, now time.Time) *rejection {
	l := dancerLimits[i]
	if !d.buckets[i].allow(now, l.perMinute/60, l.perMinute) {
		return reject(codeRateLimited, "Too many %s: at most %v a minute. Wait a moment and try again.", l.noun, l.perMinute)
	}
	if !g.dancers.allowIP(c.ip, now) {
		return reject(codeRateLimited, "Too many actions from this network right now. Wait a moment and try again.")
	}
	return nil
}

// buildAction makes the bus action of a dancer's frame, or says what is
// wrong with it. The phone's id is kept if it is a ULID (an action queued
// offline keeps its id across retries); the time is ours.
func buildAction(c *conn, kind bus.ActionKind, id, playID, tempo, pollID string, option *int, now time.Time) (bus.Action, *rejection) {
	if !bus.ValidID(id) {
		id = bus.NewID(now)
	}
	a := bus.Action{V: bus.Version, ID: id, Kind: kind, Session: c.feed.sid, Client: c.clientID, At: now.UTC()}
	switch kind {
	case bus.ActLike, bus.ActUnlike, bus.ActTempo:
		if !bus.ValidID(playID) {
			return a, reject(codeBadRequest, "playId must be the id of a play of this session.")
		}
		a.PlayID = playID
		if kind == bus.ActTempo {
			switch tempo {
			case bus.TempoSlower, bus.TempoPerfect, bus.TempoFaster, bus.TempoClear:
			default:
				return a, reject(codeBadRequest, "tempo must be slower, perfect, faster or clear.")
			}
			a.Tempo = tempo
		}
	case bus.ActVote:
		if !bus.ValidID(pollID) {
			return a, reject(codeBadRequest, "pollId must be the id of a poll of this session.")
		}
		if option == nil || *option < 0 || *option >= bus.MaxPollOptions {
			return a, reject(codeBadRequest, "option must be the number of a poll option, counting from 0.")
		}
		o := *option
		a.PollID, a.Option = pollID, &o
	}
	if err := a.Validate(); err != nil {
		return a, reject(codeBadRequest, "That action is not well formed.")
	}
	return a, nil
}

// action answers one dancer action: like, unlike, tempo, vote or thanks.
func (g *Gateway) action(c *conn, f clientFrame, ref json.RawMessage, now time.Time) (err error) {
	dup := false
	defer func() {
		if errors.Is(err, errAlreadyAnswered) {
			g.metrics.action(nil, dup)
		} else {
			g.metrics.action(err, false)
		}
	}()
	if c.feed == nil {
		return reject(codeNotSubscribed, "Open a session first: this connection follows none.")
	}
	a, rj := buildAction(c, bus.ActionKind(f.Type), f.ID, f.PlayID, f.Tempo, f.PollID, f.Option, now)
	if rj != nil {
		return rj
	}
	d := g.dancers.acquire(c.clientID, now)
	defer g.dancers.release(d)
	d.mu.Lock()
	defer d.mu.Unlock()
	if rj := g.limit(d, c, limitOf(a.Kind), now); rj != nil {
		return rj
	}
	dup, err = g.take(c.feed, a)
	if err != nil {
		return err
	}
	g.send(c, okFrame{Type: frameOK, Ref: ref, Duplicate: dup})
	return errAlreadyAnswered
}

// take checks an action against the crowd and stores it unless it is
// refused or changes nothing. The caller holds the dancer's mu. It folds
// the stored action at once (the feed's consumer will see it again and
// skip it by its id), so the dancer's next action is judged with it.
func (g *Gateway) take(f *feed, a bus.Action) (duplicate bool, err error) {
	f.mu.Lock()
	v := f.crowd.Check(a)
	f.mu.Unlock()
	if !v.Accepted() {
		return false, reject(v.Code, "%s", v.Reason)
	}
	if v.Duplicate {
		return true, nil
	}
	ctx, cancel := context.WithTimeout(g.ctx, g.cfg.PublishTimeout)
	dup, err := f.store.store(ctx, a)
	cancel()
	if err != nil {
		g.log.Error("store action", "session", a.Session, "kind", a.Kind, "err", err)
		return false, reject(codeUnavailable, "That could not be saved right now; try again in a moment.")
	}
	f.mu.Lock()
	f.foldActionLocked(a)
	f.mu.Unlock()
	return dup, nil
}

// likes answers the offline queue: each item is a like or unlike with its
// own id, answered in results. Each item that is not a duplicate counts
// against the queue's own limit; the frame itself is answered ok.
func (g *Gateway) likes(c *conn, f clientFrame, ref json.RawMessage, now time.Time) error {
	if c.feed == nil {
		rj := reject(codeNotSubscribed, "Open a session first: this connection follows none.")
		g.metrics.action(rj, false)
		return rj
	}
	if len(f.Items) == 0 || len(f.Items) > maxBatch {
		rj := reject(codeBadRequest, "items must hold 1 to %d likes.", maxBatch)
		g.metrics.action(rj, false)
		return rj
	}
	d := g.dancers.acquire(c.clientID, now)
	defer g.dancers.release(d)
	d.mu.Lock()
	defer d.mu.Unlock()
	results := make([]itemResult, len(f.Items))
	for i, it := range f.Items {
		results[i] = g.likeItem(d, c, it, now)
		if r := results[i]; r.OK {
			g.metrics.action(nil, r.Duplicate)
		} else {
			g.metrics.refused(r.Code)
		}
	}
	g.send(c, okFrame{Type: frameOK, Ref: ref, Results: results})
	return errAlreadyAnswered
}

func (g *Gateway) likeItem(d *dancer, c *conn, it batchItem, now time.Time) itemResult {
	res := itemResult{ID: it.ID}
	fail := func(rj *rejection) itemResult {
		res.Code, res.Reason = rj.code, rj.reason
		return res
	}
	if !bus.ValidID(it.ID) {
		if len(res.ID) > 64 {
			res.ID = res.ID[:64]
		}
		return fail(reject(codeBadRequest, "Each queued like needs its id (a ULID)."))
	}
	kind := bus.ActionKind(it.Kind)
	if kind != bus.ActLike && kind != bus.ActUnlike {
		return fail(reject(codeBadRequest, "kind must be like or unlike."))
	}
	a, rj := buildAction(c, kind, it.ID, it.PlayID, "", "", nil, now)
	if rj != nil {
		return fail(rj)
	}
	c.feed.mu.Lock()
	v := c.feed.crowd.Check(a)
	c.feed.mu.Unlock()
	if v.Accepted() && v.Duplicate {
		res.OK, res.Duplicate = true, true
		return res // already so: costs nothing
	}
	if rj := g.limit(d, c, limitBatch, now); rj != nil {
		return fail(rj)
	}
	dup, err := g.take(c.feed, a)
	var rej *rejection
	if errors.As(err, &rej) {
		return fail(rej)
	}
	res.OK, res.Duplicate = true, dup
	return res
}

// command relays a DJ command to the session's owner and answers with its
// reply. The gateway never judges the secret (only the owner holds its
// hash); it only refuses a command that carries none.
func (g *Gateway) command(c *conn, f clientFrame, ref json.RawMessage) error {
	if !bus.ValidID(f.SessionID) {
		return reject(codeBadRequest, "sessionId must be a session id from a Pika! link.")
	}
	if f.Secret == "" {
		return reject(codeForbidden, "DJ commands need the session's DJ secret.")
	}
	kind := bus.CommandKind(f.Command)
	switch kind {
	case bus.CmdPollStart, bus.CmdPollEnd, bus.CmdPollCancel, bus.CmdAnnounce, bus.CmdAnnounceCancel,
		bus.CmdPlayHide, bus.CmdPlayCorrect, bus.CmdBroadcastPause, bus.CmdBroadcastResume, bus.CmdSessionEnd:
	default:
		return reject(codeBadRequest, "Unknown DJ command %.40q.", f.Command)
	}
	cmd := bus.Command{
		V: bus.Version, Kind: kind, Session: f.SessionID, Secret: f.Secret,
		Question: f.Question, Options: f.Options, Seconds: f.Seconds, Text: f.Text,
		PlayID: f.PlayID, PollID: f.PollID, Title: f.Title, Artist: f.Artist,
	}
	if f.PollID != "" && !bus.ValidID(f.PollID) {
		return reject(codeBadRequest, "pollId must be the id of a poll of this session.")
	}
	rep, err := g.ask(cmd)
	if err != nil {
		return err
	}
	g.send(c, okFrame{Type: frameOK, Ref: ref, ID: rep.ID})
	return errAlreadyAnswered
}

// ask sends cmd to the session's owner and returns its reply, or the
// rejection a phone should see.
func (g *Gateway) ask(cmd bus.Command) (bus.CommandReply, error) {
	if g.cfg.Cloud {
		return bus.CommandReply{}, reject(codeForbidden, consoleOnLaptop)
	}
	data, err := json.Marshal(cmd)
	if err != nil {
		return bus.CommandReply{}, fmt.Errorf("gateway: encode command: %w", err)
	}
	ctx, cancel := context.WithTimeout(g.ctx, bus.CommandTimeout)
	defer cancel()
	msg, err := g.cfg.Conn.RequestWithContext(ctx, bus.CommandSubject(cmd.Session), data)
	if err != nil {
		if !errors.Is(err, nats.ErrNoResponders) && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, nats.ErrTimeout) {
			g.log.Warn("relay DJ command", "session", cmd.Session, "command", cmd.Kind, "err", err)
		}
		return bus.CommandReply{}, reject(codeUnavailable, "The DJ's laptop is not answering.")
	}
	var rep bus.CommandReply
	if err := json.Unmarshal(msg.Data, &rep); err != nil {
		g.log.Error("undecodable command reply", "session", cmd.Session, "err", err)
		return bus.CommandReply{}, reject(codeUnavailable, "The DJ's laptop gave an answer that cannot be read.")
	}
	if !rep.OK {
		code, reason := rep.Code, rep.Reason
		if code == "" {
			code = codeUnavailable
		}
		if reason == "" {
			reason = "The DJ's laptop refused the command."
		}
		return bus.CommandReply{}, reject(code, "%s", reason)
	}
	return rep, nil
}

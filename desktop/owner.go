package desktop

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/pika-dj/pika/bus"
	"github.com/pika-dj/pika/bus/cloud"
)

// OwnerConfig is what the crowd Owner needs besides its Engine.
type OwnerConfig struct {
	Conn *nats.Conn          // core NATS: commands, presence, tallies
	JS   jetstream.JetStream // the actions stream and the tallies and secrets buckets
	// SecretDir keeps each session's DJ secret (0600 files) so the console
	// link can be shown again after a restart. The bus keeps only hashes.
	// Empty: secrets live in memory only.
	SecretDir string
	// OnNewSecret, if set, is called with a session's secret when it is
	// made (to show the DJ the console link).
	OnNewSecret func(sid, secret string)
	// OnConsole, if set, is called when a DJ console proves the session's
	// secret (it is opening), so what only consoles get can be sent now.
	OnConsole func(sid string)
	// Cloud: this DJ is linked to the cloud, so the crowd is one across
	// the LAN and the cloud: dancer actions made through cloud gateways
	// arrive in CROWD_<dj> (bus/cloud) and are folded too (that stream may
	// appear only once the link has been set up: until it exists the owner
	// tries again every second); cloud gateways' presence reports
	// (cloud.PresenceFilter) are counted like the LAN's; and each tally also
	// goes up on cloud.TallySubject, re-sent every CloudTallyEvery while
	// the session is live.
	Cloud  bool
	Logger *slog.Logger
}

// CloudTallyEvery is how often the live session's tally is sent to the cloud
// again when it has not changed: a cloud gateway that starts (or a link
// that returns) mid-session gets one within this time. Tallies are not
// stored in the cloud, so a re-send is the only way a late reader gets one.
const CloudTallyEvery = 5 * time.Second

// Owner folds the live session's dancer actions into tallies, counts its
// listeners across gateways, and carries out the DJ's commands. It is the
// one place on the DJ side where the crowd's truth is kept: gateways only
// validate and fan out.
type Owner struct {
	eng       *Engine
	cfg       OwnerConfig
	log       *slog.Logger
	dj        string
	talliesKV jetstream.KeyValue
	secretsKV jetstream.KeyValue

	mu    sync.Mutex // guards the fields below
	sid   string     // the session being folded
	crowd *bus.Crowd
	dirty bool
	last  []byte // last tally published, without its time
	// lastSent is the last tally as sent (with its time), and cloudSentAt
	// when it last went to the cloud: for the re-send (CloudTallyEvery).
	lastSent    []byte
	cloudSentAt time.Time
	cons        jetstream.ConsumeContext
	// cloudCons follows the live session's cloud actions (OwnerConfig.Cloud);
	// nil until CROWD_<dj> can be read. cloudErr is the last reason it could
	// not, logged once rather than every second.
	cloudCons jetstream.ConsumeContext
	cloudErr  string
	presence  map[string]map[string]seenReport // session → gateway → latest report
	secrets   map[string]string                // session → secret
	hashes    map[string]string                // session → stored hash
	runCtx    context.Context
}

type seenReport struct {
	clients []string
	at      time.Time
}

// NewOwner attaches an Owner to eng.
func NewOwner(ctx context.Context, eng *Engine, cfg OwnerConfig) (*Owner, error) {
	if cfg.Conn == nil || cfg.JS == nil {
		return nil, errors.New("desktop: owner needs a NATS connection and JetStream")
	}
	tkv, err := cfg.JS.KeyValue(ctx, bus.TalliesBucket)
	if err != nil {
		return nil, fmt.Errorf("desktop: open %s: %w", bus.TalliesBucket, err)
	}
	skv, err := cfg.JS.KeyValue(ctx, bus.SecretsBucket)
	if err != nil {
		return nil, fmt.Errorf("desktop: open %s: %w", bus.SecretsBucket, err)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Owner{eng: eng, cfg: cfg, log: log, dj: eng.cfg.DJ, talliesKV: tkv, secretsKV: skv,
		presence: map[string]map[string]seenReport{}, secrets: map[string]string{}, hashes: map[string]string{}}, nil
}

// Run folds, counts and answers until ctx ends. Start the Engine first.
func (o *Owner) Run(ctx context.Context) error {
	o.mu.Lock()
	o.runCtx = ctx
	o.mu.Unlock()
	cmdSub, err := o.cfg.Conn.Subscribe(bus.AllCommands, func(m *nats.Msg) { o.onCommand(ctx, m) })
	if err != nil {
		return fmt.Errorf("desktop: owner: subscribe commands: %w", err)
	}
	defer func() { _ = cmdSub.Unsubscribe() }()
	presSub, err := o.cfg.Conn.Subscribe(bus.AllPresence, o.onPresence)
	if err != nil {
		return fmt.Errorf("desktop: owner: subscribe presence: %w", err)
	}
	defer func() { _ = presSub.Unsubscribe() }()
	if o.cfg.Cloud {
		// Cloud gateways report their listeners of this DJ's sessions on
		// subjects of their own (the cloud's presence carries the DJ id);
		// counted the same way, keyed by client id, so a dancer whose
		// phone is seen by a LAN and a cloud gateway counts once.
		cloudSub, err := o.cfg.Conn.Subscribe(cloud.PresenceFilter(o.dj), o.onPresence)
		if err != nil {
			return fmt.Errorf("desktop: owner: subscribe cloud presence: %w", err)
		}
		defer func() { _ = cloudSub.Unsubscribe() }()
	}
	// Attach to the engine while no event can be stored, and fold the live
	// session's events so far: from then on every stored event reaches
	// onEvent, in order.
	if err := o.eng.lock(ctx); err != nil {
		return nil
	}
	if err := o.eng.readyLocked(ctx); err != nil {
		o.eng.unlock()
		return fmt.Errorf("desktop: owner: %w", err)
	}
	o.eng.observer = o.onEvent
	if cur := o.eng.cur; cur != nil {
		evs := make([]bus.Event, 0, len(cur.seen))
		for k, ev := range cur.seen {
			if k == ev.ID {
				evs = append(evs, ev)
			}
		}
		sort.Slice(evs, func(i, j int) bool { return evs[i].Seq < evs[j].Seq })
		for _, ev := range evs {
			o.onEvent(ev)
		}
	}
	o.eng.unlock()
	defer func() {
		_ = o.eng.lock(context.Background())
		o.eng.observer = nil
		o.eng.unlock()
		o.mu.Lock()
		if o.cons != nil {
			o.cons.Stop()
		}
		if o.cloudCons != nil {
			o.cloudCons.Stop()
		}
		o.mu.Unlock()
	}()

	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
			o.retryCloud(ctx)
			o.publishTally(ctx)
			o.expirePoll(ctx)
		}
	}
}

// onEvent folds one stored event. It runs with the engine's op held.
func (o *Owner) onEvent(ev bus.Event) {
	if ev.Type == bus.TypeSessionStarted || o.sid != ev.Session {
		o.follow(ev.Session)
	}
	o.mu.Lock()
	if o.sid == ev.Session {
		o.crowd.Event(ev)
		o.dirty = true
	}
	o.mu.Unlock()
}

// follow switches the fold to session sid: a new Crowd, its secret, and an
// ordered consumer of its actions from the start.
func (o *Owner) follow(sid string) {
	o.mu.Lock()
	if o.cons != nil {
		o.cons.Stop()
		o.cons = nil
	}
	if o.cloudCons != nil {
		o.cloudCons.Stop()
		o.cloudCons = nil
	}
	o.sid, o.crowd, o.dirty, o.last, o.lastSent = sid, bus.NewCrowd(), true, nil, nil
	ctx := o.runCtx
	o.mu.Unlock()
	if ctx == nil {
		ctx = context.Background()
	}
	if err := o.ensureSecret(ctx, sid); err != nil {
		o.log.Error("DJ secret not stored: DJ commands will be refused", "session", sid, "err", err)
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	cons, err := o.cfg.JS.OrderedConsumer(cctx, bus.ActionsStreamName(o.dj), jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{bus.ActionFilter(sid)}, DeliverPolicy: jetstream.DeliverAllPolicy,
	})
	if err != nil {
		o.log.Error("cannot follow dancer actions", "session", sid, "err", err)
		return
	}
	cc, err := cons.Consume(func(m jetstream.Msg) { o.onAction(ctx, m.Data()) })
	if err != nil {
		o.log.Error("cannot follow dancer actions", "session", sid, "err", err)
		return
	}
	o.mu.Lock()
	if o.sid == sid {
		o.cons = cc
	} else {
		cc.Stop()
	}
	o.mu.Unlock()
	o.followCloud(ctx, sid)
}

// retryCloud follows the live session's cloud actions if that has not
// worked yet (CROWD_<dj> is made in the background once the link is set up).
func (o *Owner) retryCloud(ctx context.Context) {
	if !o.cfg.Cloud {
		return
	}
	o.mu.Lock()
	sid, missing := o.sid, o.crowd != nil && o.cloudCons == nil
	o.mu.Unlock()
	if missing {
		o.followCloud(ctx, sid)
	}
}

// followCloud starts an ordered consumer of session sid's cloud actions in
// CROWD_<dj>, from the start. The same action can arrive both ways (a phone
// that moved from the venue's Wi-Fi to the cloud and retried): the Crowd
// folds each action id once, so one like is counted once.
func (o *Owner) followCloud(ctx context.Context, sid string) {
	if !o.cfg.Cloud {
		return
	}
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	cons, err := o.cfg.JS.OrderedConsumer(cctx, cloud.DJCrowdStreamName(o.dj), jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{cloud.CrowdActionFilter(o.dj, sid)}, DeliverPolicy: jetstream.DeliverAllPolicy,
	})
	var cc jetstream.ConsumeContext
	if err == nil {
		cc, err = cons.Consume(func(m jetstream.Msg) { o.onCloudAction(ctx, sid, m.Subject(), m.Data()) })
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if err != nil {
		if msg := err.Error(); msg != o.cloudErr {
			o.cloudErr = msg
			o.log.Info("cloud dancer actions not followed yet; trying again every second", "session", sid, "err", err)
		}
		return
	}
	if o.sid != sid || o.cloudCons != nil {
		cc.Stop() // the session changed, or another attempt got there first
		return
	}
	o.cloudCons, o.cloudErr = cc, ""
}

// onCloudAction folds one message from CROWD_<dj>. It comes from the cloud:
// its subject must name this DJ and the followed session, and so must each
// action in it.
func (o *Owner) onCloudAction(ctx context.Context, sid, subject string, data []byte) {
	dj, subjSid, _, ok := cloud.ParseCrowdSubject(subject)
	if !ok || dj != o.dj || subjSid != sid {
		o.log.Warn("cloud action on an unexpected subject skipped", "subject", subject)
		return
	}
	actions, err := bus.DecodeActions(data)
	if err != nil {
		o.log.Warn("undecodable cloud dancer action skipped", "err", err)
	}
	for _, a := range actions {
		if a.Session != sid {
			o.log.Warn("cloud action for another session skipped", "action", a.ID, "session", a.Session)
			continue
		}
		o.foldAction(ctx, a)
	}
}

// onAction folds one stored message of dancer actions (one, or a batch).
func (o *Owner) onAction(ctx context.Context, data []byte) {
	actions, err := bus.DecodeActions(data)
	if err != nil {
		o.log.Warn("undecodable dancer action skipped", "err", err)
	}
	for _, a := range actions {
		o.foldAction(ctx, a)
	}
}

// foldAction folds one dancer action.
func (o *Owner) foldAction(ctx context.Context, a bus.Action) {
	for attempt := 0; attempt < 2; attempt++ {
		o.mu.Lock()
		if o.sid != a.Session {
			o.mu.Unlock()
			return
		}
		v := o.crowd.Apply(a)
		if v.Accepted() && !v.Duplicate {
			o.dirty = true
		}
		o.mu.Unlock()
		if v.Code != bus.CodeUnknownPlay && v.Code != bus.CodeUnknownPoll {
			if !v.Accepted() {
				o.log.Debug("dancer action refused", "action", a.ID, "code", v.Code)
			}
			return
		}
		// The gateway saw the play or poll, so it is stored; its event may
		// still be on its way to onEvent. Once the engine's op is free,
		// every stored event has been folded: try once more.
		if err := o.eng.lock(ctx); err != nil {
			return
		}
		o.eng.unlock()
	}
}

// onPresence records one gateway's report.
func (o *Owner) onPresence(m *nats.Msg) {
	var p bus.Presence
	if err := json.Unmarshal(m.Data, &p); err != nil || p.Session != bus.LastToken(m.Subject) || p.Gateway == "" || len(p.Clients) > 100000 {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.presence[p.Session] == nil {
		o.presence[p.Session] = map[string]seenReport{}
	}
	o.presence[p.Session][p.Gateway] = seenReport{clients: p.Clients, at: time.Now()}
	if p.Session == o.sid {
		o.dirty = true
	}
}

// listenersLocked is the union of the clients fresh reports name.
func (o *Owner) listenersLocked(sid string, now time.Time) int {
	union := map[string]struct{}{}
	for gw, r := range o.presence[sid] {
		if now.Sub(r.at) > bus.PresenceExpiry {
			delete(o.presence[sid], gw)
			continue
		}
		for _, c := range r.clients {
			union[c] = struct{}{}
		}
	}
	return len(union)
}

// publishTally sends the live session's tally if it changed (and, in cloud
// mode, the unchanged one to the cloud again every CloudTallyEvery).
func (o *Owner) publishTally(ctx context.Context) {
	now := time.Now().UTC()
	o.mu.Lock()
	if o.crowd == nil {
		o.mu.Unlock()
		return
	}
	sid := o.sid
	t := o.crowd.Tally(sid, time.Time{}, o.listenersLocked(sid, now))
	key, _ := json.Marshal(t)
	if bytes.Equal(key, o.last) {
		o.dirty = false
		resend := o.cfg.Cloud && o.lastSent != nil && now.Sub(o.cloudSentAt) >= CloudTallyEvery
		data := o.lastSent
		if resend {
			o.cloudSentAt = now
		}
		o.mu.Unlock()
		if _, live := o.eng.State(); resend && live {
			o.publishCloudTally(sid, data)
		}
		return
	}
	o.last, o.dirty = key, false
	o.mu.Unlock()
	t.At = now
	data, err := json.Marshal(t)
	if err != nil {
		o.log.Error("encode tally", "err", err)
		return
	}
	o.mu.Lock()
	if o.sid == sid {
		o.lastSent, o.cloudSentAt = data, now
	}
	o.mu.Unlock()
	if err := o.cfg.Conn.Publish(bus.TallySubject(sid), data); err != nil {
		o.log.Warn("tally not sent", "session", sid, "err", err)
	}
	if o.cfg.Cloud {
		o.publishCloudTally(sid, data)
	}
	if _, err := o.talliesKV.Put(ctx, sid, data); err != nil {
		o.log.Warn("tally not saved", "session", sid, "err", err)
	}
}

// publishCloudTally sends a tally up to the cloud's gateways. While the
// link is down nobody there listens and it is dropped: the next change or
// re-send carries the count.
func (o *Owner) publishCloudTally(sid string, data []byte) {
	if err := o.cfg.Conn.Publish(cloud.TallySubject(o.dj, sid), data); err != nil {
		o.log.Warn("tally not sent to the cloud", "session", sid, "err", err)
	}
}

// expirePoll closes the open poll when its timer has run out.
func (o *Owner) expirePoll(ctx context.Context) {
	st, ok := o.eng.State()
	if !ok || st.Poll == nil || st.Poll.EndsAt == nil || time.Now().Before(*st.Poll.EndsAt) {
		return
	}
	if _, err := o.closePoll(ctx, st.ID, st.Poll.ID, bus.PollTimedOut); err != nil && !errors.Is(err, errNoSession) {
		o.log.Warn("poll timer: close failed", "session", st.ID, "poll", st.Poll.ID, "err", err)
	}
}

// closePoll stores poll.closed for the session's open poll pollID.
func (o *Owner) closePoll(ctx context.Context, sid, pollID, reason string) (bus.Event, error) {
	return o.eng.emit(ctx, sid, bus.TypePollClosed, func(st *bus.SessionState, ev *bus.Event) error {
		if st.Poll == nil || (pollID != "" && st.Poll.ID != pollID) {
			return refuse(bus.CodeNotFound, "There is no open poll with that id.")
		}
		var res bus.PollResult
		ok := false
		o.mu.Lock()
		if o.crowd != nil && o.sid == sid {
			res, ok = o.crowd.PollResult(st.Poll.ID, reason)
		}
		o.mu.Unlock()
		if !ok {
			res = bus.PollResult{ID: st.Poll.ID, Reason: reason, Counts: make([]int, len(st.Poll.Options)), Winner: -1}
		}
		ev.PollResult = &res
		return nil
	})
}

// Secret returns the DJ secret of session sid, if this laptop holds it.
func (o *Owner) Secret(sid string) (string, bool) {
	o.mu.Lock()
	s, ok := o.secrets[sid]
	o.mu.Unlock()
	if ok {
		return s, true
	}
	if o.cfg.SecretDir == "" || !bus.ValidID(sid) {
		return "", false
	}
	b, err := os.ReadFile(filepath.Join(o.cfg.SecretDir, sid))
	if err != nil {
		return "", false
	}
	return string(bytes.TrimSpace(b)), true
}

// ensureSecret makes the session's secret once: the hash goes to the bus,
// the secret to this laptop only.
//
// A hash whose secret this laptop no longer has (its file was lost) is
// replaced: a secret nobody holds locks the DJ out of their own session.
func (o *Owner) ensureSecret(ctx context.Context, sid string) error {
	if _, err := o.hash(ctx, sid); err == nil {
		if _, ok := o.Secret(sid); ok {
			return nil
		}
		o.log.Warn("this session's DJ secret is not on this laptop any more: making a new one", "session", sid)
	}
	secret := bus.NewSecret()
	if o.cfg.SecretDir != "" {
		if err := os.MkdirAll(o.cfg.SecretDir, 0o700); err != nil {
			return fmt.Errorf("desktop: make secrets folder: %w", err)
		}
		if err := bus.WriteFileAtomic(filepath.Join(o.cfg.SecretDir, sid), []byte(secret+"\n")); err != nil {
			return fmt.Errorf("desktop: save DJ secret: %w", err)
		}
	}
	hash := bus.HashSecret(secret)
	if _, err := o.secretsKV.Put(ctx, sid, []byte(hash)); err != nil {
		return fmt.Errorf("desktop: store DJ secret hash: %w", err)
	}
	o.mu.Lock()
	o.secrets[sid], o.hashes[sid] = secret, hash
	o.mu.Unlock()
	if o.cfg.OnNewSecret != nil {
		o.cfg.OnNewSecret(sid, secret)
	}
	return nil
}

// hash returns the stored hash of sid's secret.
func (o *Owner) hash(ctx context.Context, sid string) (string, error) {
	o.mu.Lock()
	h, ok := o.hashes[sid]
	o.mu.Unlock()
	if ok {
		return h, nil
	}
	entry, err := o.secretsKV.Get(ctx, sid)
	if err != nil {
		return "", err
	}
	h = string(entry.Value())
	o.mu.Lock()
	o.hashes[sid] = h
	o.mu.Unlock()
	return h, nil
}

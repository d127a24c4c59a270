package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/pika-dj/pika/bus"
	"github.com/pika-dj/pika/bus/cloud"
)

// Cloud mode (Config.Cloud): the gateway serves every DJ's sessions from
// the cloud cluster's streams (package bus/cloud), which source each DJ's
// over its leaf link. It holds nothing another replica could not rebuild
// from those streams: which DJ a session belongs to is found in them, the
// lobby is folded from them, and dancers' actions are stored in them.

// consoleOnLaptop refuses what only the DJ's own server can answer: the DJ
// secret is checked by the session's owner, which a cloud gateway cannot
// ask (commands do not cross the leaf link).
const consoleOnLaptop = "The DJ console is on the DJ's laptop: open it there, on the venue's network."

// place is where one session's data is stored.
type place struct {
	dj       string         // the session's DJ in the cloud; "" on the LAN
	events   streamFilter   // its events
	actions  []streamFilter // its dancers' actions
	store    actionSubjects // where this gateway stores its dancers' actions
	presence string         // where this gateway reports its phones of it
}

type streamFilter struct{ stream, filter string }

func lanPlace(stream, actionsStream, sid string) place {
	return place{
		events:   streamFilter{stream, bus.SessionFilter(sid)},
		actions:  []streamFilter{{actionsStream, bus.ActionFilter(sid)}},
		store:    lanActionSubjects(sid),
		presence: bus.PresenceSubject(sid),
	}
}

// cloudPlace: events in CLOUD_DJ_<dj>; actions made on the DJ's LAN in
// CLOUD_ACT_<dj> and those made through cloud gateways in CLOUD_CROWD_<dj>,
// where this gateway stores its own.
func cloudPlace(dj, sid string) place {
	return place{
		dj:     dj,
		events: streamFilter{cloud.StreamName(dj), cloud.SessionFilter(dj, sid)},
		actions: []streamFilter{
			{cloud.ActionsStreamName(dj), cloud.ActionFilter(dj, sid)},
			{cloud.CrowdStreamName(dj), cloud.CrowdActionFilter(dj, sid)},
		},
		store: actionSubjects{
			one:   func(k bus.ActionKind) string { return cloud.CrowdActionSubject(dj, sid, k) },
			batch: cloud.CrowdActionBatchSubject(dj, sid),
		},
		presence: cloud.PresenceSubject(dj, sid),
	}
}

// locate finds where session sid is stored: errUnknownSession when the
// cloud has no DJ with an event of it.
func (h *hub) locate(ctx context.Context, sid string) (place, error) {
	if h.dir == nil {
		return lanPlace(h.stream, h.actionsStream, sid), nil
	}
	dj, err := h.dir.lookup(ctx, sid)
	if err != nil {
		return place{}, err
	}
	if dj == "" {
		return place{}, errUnknownSession
	}
	return cloudPlace(dj, sid), nil
}

// directory maps session ids to their DJ in the cloud, from the streams
// alone. A session never changes DJ, so a hit is kept for the gateway's
// life (an entry is about 100 bytes: a million sessions is 100 MB, far
// more than a gateway's lifetime sees). A miss is kept missFor, so a
// phone retrying a bad link does not cost the cluster a request per DJ
// each time.
//
// Cost of a lookup that misses the cache: one direct get per DJ stream
// (the first message of pika.dj.<dj>.s.<sid>.>), plus a listing of stream
// names at most once per missFor. Ids that are not well formed never get
// here (the callers check bus.ValidID).
type directory struct {
	js      jetstream.JetStream
	log     *slog.Logger
	now     func() time.Time
	missFor time.Duration

	mu       sync.Mutex // guards the fields below
	djs      []string   // DJs with a CLOUD_DJ_ stream, as last listed
	listedAt time.Time
	streams  map[string]jetstream.Stream // dj → its CLOUD_DJ_ stream, opened on first use
	found    map[string]string           // sid → dj
	missed   map[string]time.Time        // sid → when a lookup found no DJ

	lobbyMu sync.Mutex // one lobby rebuild at a time; guards the fields below
	live    []string   // sids of the sessions live at liveAt
	liveAt  time.Time
}

// maxMissed bounds the remembered misses: past it the expired are
// forgotten, and if all are fresh (a flood of bad ids), all of them.
const maxMissed = 4096

func newDirectory(js jetstream.JetStream, log *slog.Logger, now func() time.Time) *directory {
	return &directory{js: js, log: log, now: now, missFor: 2 * time.Second,
		streams: map[string]jetstream.Stream{}, found: map[string]string{}, missed: map[string]time.Time{}}
}

// lookup returns the DJ of session sid, or "" if no DJ's stream has an
// event of it.
func (d *directory) lookup(ctx context.Context, sid string) (string, error) {
	now := d.now()
	d.mu.Lock()
	dj, hit := d.found[sid]
	missedAt, missed := d.missed[sid]
	djs := d.djs
	d.mu.Unlock()
	if hit {
		return dj, nil
	}
	if missed && now.Sub(missedAt) < d.missFor {
		return "", nil
	}
	// Every DJ's stream is asked, not only until one has the session: a DJ
	// can store events under any id in its own stream, so one who copies
	// another's session id from a QR code must not take its phones. The
	// session is the DJ's whose stream stored an event of it first (stored
	// times are the cluster's, which no DJ writes).
	owner, first := "", time.Time{}
	tried := map[string]bool{}
	for round := range 2 {
		if round == 1 {
			if owner != "" {
				break
			}
			// Not among the DJs we knew: perhaps a DJ who signed up since.
			fresh, err := d.listDJs(ctx, false)
			if err != nil {
				return "", err
			}
			djs = fresh
		}
		for _, dj := range djs {
			if tried[dj] {
				continue
			}
			tried[dj] = true
			at, ok, err := d.firstStored(ctx, dj, sid)
			if err != nil {
				return "", err
			}
			if !ok {
				continue
			}
			if owner != "" {
				d.log.Warn("two DJs have events of one session; the first stored keeps it",
					"session", sid, "dj", dj, "other", owner)
			}
			if owner == "" || at.Before(first) {
				owner, first = dj, at
			}
		}
	}
	if owner != "" {
		d.mu.Lock()
		d.found[sid] = owner
		delete(d.missed, sid)
		d.mu.Unlock()
		return owner, nil
	}
	d.mu.Lock()
	if len(d.missed) >= maxMissed {
		for id, at := range d.missed {
			if now.Sub(at) >= d.missFor {
				delete(d.missed, id)
			}
		}
		if len(d.missed) >= maxMissed {
			clear(d.missed)
		}
	}
	d.missed[sid] = now
	d.mu.Unlock()
	return "", nil
}

// firstStored reports when DJ dj's stream stored its first event of
// session sid, if it has one.
func (d *directory) firstStored(ctx context.Context, dj, sid string) (time.Time, bool, error) {
	st, err := d.stream(ctx, dj)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return time.Time{}, false, nil // the DJ was removed since the listing
	}
	if err != nil {
		return time.Time{}, false, err
	}
	msg, err := st.GetMsg(ctx, 1, jetstream.WithGetMsgSubject(cloud.SessionFilter(dj, sid)))
	switch {
	case errors.Is(err, jetstream.ErrMsgNotFound):
		return time.Time{}, false, nil
	case err != nil:
		return time.Time{}, false, fmt.Errorf("gateway: look for session %s in %s: %w", sid, cloud.StreamName(dj), err)
	}
	return msg.Time, true, nil
}

// stream opens DJ dj's CLOUD_DJ_ stream once.
func (d *directory) stream(ctx context.Context, dj string) (jetstream.Stream, error) {
	d.mu.Lock()
	st := d.streams[dj]
	d.mu.Unlock()
	if st != nil {
		return st, nil
	}
	st, err := d.js.Stream(ctx, cloud.StreamName(dj))
	if err != nil {
		return nil, fmt.Errorf("gateway: open stream %s: %w", cloud.StreamName(dj), err)
	}
	d.mu.Lock()
	d.streams[dj] = st
	d.mu.Unlock()
	return st, nil
}

// listDJs lists the DJs with a CLOUD_DJ_ stream, at most once per missFor
// unless force.
func (d *directory) listDJs(ctx context.Context, force bool) ([]string, error) {
	d.mu.Lock()
	if !force && d.djs != nil && d.now().Sub(d.listedAt) < d.missFor {
		djs := d.djs
		d.mu.Unlock()
		return djs, nil
	}
	d.mu.Unlock()
	names := d.js.StreamNames(ctx)
	djs := []string{} // not nil: listed, even if empty
	for name := range names.Name() {
		if dj, ok := strings.CutPrefix(name, cloud.StreamName("")); ok && bus.ValidDJID(dj) {
			djs = append(djs, dj)
		}
	}
	if err := names.Err(); err != nil {
		return nil, fmt.Errorf("gateway: list the cloud's DJ streams: %w", err)
	}
	slices.Sort(djs)
	d.mu.Lock()
	d.djs, d.listedAt = djs, d.now()
	for dj := range d.streams {
		if _, ok := slices.BinarySearch(djs, dj); !ok {
			delete(d.streams, dj) // a removed DJ's handle
		}
	}
	d.mu.Unlock()
	return djs, nil
}

// lobbyEvery is how long a lobby listing is reused.
const lobbyEvery = 3 * time.Second

// liveSessions lists the sessions that may be live, across DJs, rebuilt
// at most once per lobbyEvery (a venue of phones polls the lobby every
// 15 s each; they share one rebuild).
//
// Cost of a rebuild: the stream names; per DJ, two stream infos listing
// the subjects of its sessions' session.started and session.ended events
// (one subject per session kept, StreamMaxAge); per session started and
// not ended, one direct get of its last event, to leave out those idle
// past bus.SessionIdleTimeout. The caller then follows each live session
// with a feed (loaded once, kept while the lobby is asked for), which
// gives its current state without reading it again.
func (d *directory) liveSessions(ctx context.Context) ([]string, error) {
	d.lobbyMu.Lock()
	defer d.lobbyMu.Unlock()
	now := d.now()
	if d.live != nil && now.Sub(d.liveAt) < lobbyEvery {
		return d.live, nil
	}
	djs, err := d.listDJs(ctx, true)
	if err != nil {
		return nil, err
	}
	live, listed := []string{}, map[string]bool{}
	for _, dj := range djs {
		sids, err := d.liveOf(ctx, dj, now)
		if err != nil {
			return nil, err
		}
		for _, sid := range sids {
			if !listed[sid] { // claimed by two DJs: listed once
				listed[sid] = true
				live = append(live, sid)
			}
		}
	}
	d.live, d.liveAt = live, now
	return live, nil
}

// liveOf lists DJ dj's sessions started, not ended, and active within
// bus.SessionIdleTimeout. Whose each is, is left to lookup, which weighs
// every DJ's claim.
func (d *directory) liveOf(ctx context.Context, dj string, now time.Time) ([]string, error) {
	st, err := d.stream(ctx, dj)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	sessionsWith := func(t bus.Type) (map[string]bool, error) {
		info, err := st.Info(ctx, jetstream.WithSubjectFilter(cloud.SessionSubject(dj, "*", t)))
		if err != nil {
			return nil, fmt.Errorf("gateway: list sessions in %s: %w", cloud.StreamName(dj), err)
		}
		out := make(map[string]bool, len(info.State.Subjects))
		prefix := strings.TrimSuffix(cloud.SessionFilter(dj, ""), ".>")
		for subject := range info.State.Subjects {
			sid, _, _ := strings.Cut(strings.TrimPrefix(subject, prefix), ".")
			if bus.ValidID(sid) {
				out[sid] = true
			}
		}
		return out, nil
	}
	started, err := sessionsWith(bus.TypeSessionStarted)
	if err != nil {
		return nil, err
	}
	ended, err := sessionsWith(bus.TypeSessionEnded)
	if err != nil {
		return nil, err
	}
	var live []string
	for sid := range started {
		if ended[sid] {
			continue
		}
		last, err := st.GetLastMsgForSubject(ctx, cloud.SessionFilter(dj, sid))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue // aged out since the info
		}
		if err != nil {
			return nil, fmt.Errorf("gateway: last event of %s in %s: %w", sid, cloud.StreamName(dj), err)
		}
		e, err := bus.Decode(last.Data)
		if err != nil {
			d.log.Warn("lobby: undecodable last event", "session", sid, "dj", dj, "err", err)
			continue
		}
		if now.Sub(e.At) < bus.SessionIdleTimeout {
			live = append(live, sid)
		}
	}
	return live, nil
}

// cloudLobby is the lobby in the cloud: every DJ's live sessions, each
// shown from its feed. The first request after a start loads a feed per
// live session (one at a time); one that does not load in time is left
// out of that answer, not the whole lobby.
func (h *hub) cloudLobby(ctx context.Context, now time.Time) ([]SessionInfo, error) {
	sids, err := h.dir.liveSessions(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]SessionInfo, 0, len(sids))
	for _, sid := range sids {
		f, err := h.get(ctx, sid)
		if errors.Is(err, errUnknownSession) {
			continue // aged out since the listing
		}
		if err != nil {
			// The others are still worth showing; this one's feed keeps
			// loading (on its own deadline) for the next request.
			h.log.Warn("lobby: load session", "session", sid, "err", err)
			continue
		}
		f.mu.Lock()
		if !f.state.Ended(now) {
			out = append(out, sessionInfo(f.state, f.currentLocked(false), f.listenerCountLocked(), now))
		}
		f.mu.Unlock()
	}
	return out, nil
}

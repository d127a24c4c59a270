package desktop

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/pika-dj/pika/bus"
)

// onCommand carries out one DJ command and answers it.
func (o *Owner) onCommand(ctx context.Context, m *nats.Msg) {
	reply := func(r bus.CommandReply) {
		if b, err := json.Marshal(r); err == nil {
			_ = m.Respond(b)
		}
	}
	var c bus.Command
	if err := json.Unmarshal(m.Data, &c); err != nil || c.Session != bus.LastToken(m.Subject) || !bus.ValidID(c.Session) {
		reply(bus.CommandReply{Code: bus.CodeBadRequest, Reason: "The command is malformed."})
		return
	}
	cctx, cancel := context.WithTimeout(ctx, bus.CommandTimeout)
	defer cancel()
	hash, err := o.hash(cctx, c.Session)
	if err != nil || !bus.SecretMatches(c.Secret, hash) {
		reply(bus.CommandReply{Code: bus.CodeForbidden, Reason: "That is not this session's DJ secret: open the console link pika printed."})
		return
	}
	id, err := o.run(cctx, c)
	var r *refusal
	switch {
	case err == nil:
		reply(bus.CommandReply{OK: true, ID: id})
	case errors.As(err, &r):
		reply(bus.CommandReply{Code: r.code, Reason: r.reason})
	case errors.Is(err, errNoSession):
		reply(bus.CommandReply{Code: bus.CodeNotFound, Reason: "This session is not live any more."})
	case errors.Is(err, bus.ErrInvalid):
		reply(bus.CommandReply{Code: bus.CodeBadRequest, Reason: err.Error()})
	default:
		o.log.Error("DJ command failed", "kind", c.Kind, "session", c.Session, "err", err)
		reply(bus.CommandReply{Code: bus.CodeUnavailable, Reason: "The command could not be stored; try again."})
	}
}

// run carries out c and returns the id of what it made (a poll or an
// announcement), if anything.
func (o *Owner) run(ctx context.Context, c bus.Command) (string, error) {
	sid := c.Session
	switch c.Kind {
	case bus.CmdPollStart:
		p := bus.Poll{ID: bus.NewID(time.Now()), Question: c.Question, Options: c.Options}
		if c.Seconds != 0 {
			d, err := clampDuration(c.Seconds, bus.MinPollDuration, bus.MaxPollDuration, "A poll timer")
			if err != nil {
				return "", err
			}
			ends := time.Now().UTC().Add(d)
			p.EndsAt = &ends
		}
		if err := p.Validate(); err != nil {
			return "", refuse(bus.CodeBadRequest, "%s", err.Error())
		}
		// A new poll replaces the open one, whose results stand.
		if st, ok := o.eng.State(); ok && st.ID == sid && st.Poll != nil {
			if _, err := o.closePoll(ctx, sid, st.Poll.ID, bus.PollEnded); err != nil {
				return "", err
			}
		}
		_, err := o.eng.emit(ctx, sid, bus.TypePollStarted, func(_ *bus.SessionState, ev *bus.Event) error {
			ev.Poll = &p
			return nil
		})
		return p.ID, err
	case bus.CmdPollEnd, bus.CmdPollCancel:
		reason := bus.PollEnded
		if c.Kind == bus.CmdPollCancel {
			reason = bus.PollCancelled
		}
		_, err := o.closePoll(ctx, sid, c.PollID, reason)
		return "", err
	case bus.CmdAnnounce:
		d := bus.DefaultAnnounceFor
		if c.Seconds != 0 {
			var err error
			if d, err = clampDuration(c.Seconds, bus.MinAnnounceFor, bus.MaxAnnounceFor, "An announcement"); err != nil {
				return "", err
			}
		}
		a := bus.Announcement{ID: bus.NewID(time.Now()), Text: c.Text, EndsAt: time.Now().UTC().Add(d)}
		if err := a.Validate(); err != nil {
			return "", refuse(bus.CodeBadRequest, "%s", err.Error())
		}
		_, err := o.eng.emit(ctx, sid, bus.TypeAnnouncementMade, func(_ *bus.SessionState, ev *bus.Event) error {
			ev.Announcement = &a
			return nil
		})
		return a.ID, err
	case bus.CmdAnnounceCancel:
		_, err := o.eng.emit(ctx, sid, bus.TypeAnnouncementCancelled, func(st *bus.SessionState, ev *bus.Event) error {
			if st.Announcement == nil {
				return refuse(bus.CodeNotFound, "There is no announcement to cancel.")
			}
			ev.Ref = &bus.Ref{ID: st.Announcement.ID}
			return nil
		})
		return "", err
	case bus.CmdPlayHide:
		_, err := o.eng.emit(ctx, sid, bus.TypePlayHidden, func(_ *bus.SessionState, ev *bus.Event) error {
			if !o.eng.playedLocked(c.PlayID) {
				return refuse(bus.CodeNotFound, "That play is not in this session.")
			}
			ev.Ref = &bus.Ref{ID: c.PlayID}
			return nil
		})
		return "", err
	case bus.CmdPlayCorrect:
		corr := bus.Correction{PlayID: c.PlayID, Title: c.Title, Artist: c.Artist}
		if err := corr.Validate(); err != nil {
			return "", refuse(bus.CodeBadRequest, "%s", err.Error())
		}
		_, err := o.eng.emit(ctx, sid, bus.TypePlayCorrected, func(_ *bus.SessionState, ev *bus.Event) error {
			if !o.eng.playedLocked(c.PlayID) {
				return refuse(bus.CodeNotFound, "That play is not in this session.")
			}
			ev.Correction = &corr
			return nil
		})
		return "", err
	case bus.CmdBroadcastPause, bus.CmdBroadcastResume:
		pause := c.Kind == bus.CmdBroadcastPause
		typ := bus.TypeBroadcastResumed
		if pause {
			typ = bus.TypeBroadcastPaused
		}
		_, err := o.eng.emit(ctx, sid, typ, func(st *bus.SessionState, _ *bus.Event) error {
			if st.Paused == pause {
				return errAlreadySo
			}
			return nil
		})
		if errors.Is(err, errAlreadySo) {
			return "", nil
		}
		return "", err
	case bus.CmdAuth:
		if o.cfg.OnConsole != nil {
			o.cfg.OnConsole(sid)
		}
		return "", nil // the secret was checked before run
	case bus.CmdSessionEnd:
		if st, ok := o.eng.State(); !ok || st.ID != sid {
			return "", errNoSession
		}
		return "", o.eng.End(ctx, bus.EndByDJ)
	}
	return "", refuse(bus.CodeBadRequest, "Unknown command %.40q.", c.Kind)
}

// errAlreadySo: the command asks for what already is (pause while paused).
var errAlreadySo = errors.New("already so")

package cloud

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/pika-dj/pika/bus"
)

// CrowdActionSubject is where a cloud gateway stores a dancer action of
// session sid of DJ dj: pika.crowd.<dj>.a.<sid>.<kind>.
func CrowdActionSubject(dj, sid string, k bus.ActionKind) string {
	return crowdPrefix + dj + ".a." + sid + "." + string(k)
}

// CrowdActionFilter matches every cloud action of one session.
func CrowdActionFilter(dj, sid string) string { return crowdPrefix + dj + ".a." + sid + ".>" }

// ParseCrowdSubject splits pika.crowd.<dj>.a.<sid>.<kind> into its DJ,
// session and last token (an action kind, or "batch"). ok is false for any
// other shape, or ids that are not well formed; the subject comes from the
// cloud, so the DJ side checks it before using its parts.
func ParseCrowdSubject(subject string) (dj, sid, kind string, ok bool) {
	rest, found := strings.CutPrefix(subject, crowdPrefix)
	if !found {
		return "", "", "", false
	}
	parts := strings.Split(rest, ".")
	if len(parts) != 4 || parts[1] != "a" || !bus.ValidDJID(parts[0]) || !bus.ValidID(parts[2]) || parts[3] == "" {
		return "", "", "", false
	}
	return parts[0], parts[2], parts[3], true
}

// PublishCrowdAction stores one dancer action made through a cloud gateway
// in CLOUD_CROWD_<dj>, with the action id as the message id. On any error it
// retries with the same id until ctx ends: a timeout does not mean the action
// was not stored, and the retry is then answered "duplicate" (nats-leaf.md §6).
func PublishCrowdAction(ctx context.Context, js jetstream.JetStream, dj string, a bus.Action, log *slog.Logger) (duplicate bool, err error) {
	if !bus.ValidDJID(dj) {
		return false, fmt.Errorf("cloud: dj id %q is malformed", dj)
	}
	return bus.PublishActionTo(ctx, js, CrowdActionSubject(dj, a.Session, a.Kind), a, log)
}

// Live (unstored) subjects between the DJ side and cloud gateways. Neither
// is captured by a stream: tallies and presence are re-sent while they
// matter, and a late one is worth nothing.
const (
	tallyInfix     = ".t."
	presencePrefix = "pika.presence."
	// AllTallies matches every DJ's tallies in the cloud (cloud gateways
	// subscribe to it).
	AllTallies = djPrefix + "*.t.*"
)

// TallySubject is where the DJ side sends session sid's tallies into the
// cloud: pika.dj.<dj>.t.<sid>, inside the DJ's own pika.dj.<dj>.> (the only
// subjects a DJ may publish) and captured by no stream (CLOUD_DJ_<dj> and
// CLOUD_ACT_<dj> have no subjects of their own).
func TallySubject(dj, sid string) string { return djPrefix + dj + tallyInfix + sid }

// ParseTallySubject splits pika.dj.<dj>.t.<sid>; ok is false for any other
// shape or malformed ids.
func ParseTallySubject(subject string) (dj, sid string, ok bool) {
	rest, found := strings.CutPrefix(subject, djPrefix)
	if !found {
		return "", "", false
	}
	parts := strings.Split(rest, ".")
	if len(parts) != 3 || parts[1] != "t" || !bus.ValidDJID(parts[0]) || !bus.ValidID(parts[2]) {
		return "", "", false
	}
	return parts[0], parts[2], true
}

// PresenceSubject is where a cloud gateway sends its presence report
// (bus.Presence) for session sid of DJ dj down to the DJ's owner:
// pika.presence.<dj>.<sid>. Not under pika.crowd.<dj>, which
// CLOUD_CROWD_<dj> stores.
func PresenceSubject(dj, sid string) string { return presencePrefix + dj + "." + sid }

// PresenceFilter matches every cloud presence report for DJ dj's sessions.
func PresenceFilter(dj string) string { return presencePrefix + dj + ".*" }

// AllPresence matches every cloud presence report (gateways subscribe to
// it to count each other's listeners, as on the LAN).
const AllPresence = presencePrefix + "*.*"

// CrowdActionBatchSubject is where a cloud gateway stores several dancer
// actions of session sid of DJ dj as one message (bus.PublishActionsTo):
// pika.crowd.<dj>.a.<sid>.batch, the cloud's bus.ActionBatchSubject.
func CrowdActionBatchSubject(dj, sid string) string { return crowdPrefix + dj + ".a." + sid + ".batch" }

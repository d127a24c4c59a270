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

package cloud

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
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
	if err := a.Validate(); err != nil {
		return false, err
	}
	data, err := json.Marshal(a)
	if err != nil {
		return false, fmt.Errorf("cloud: marshal action %s: %w", a.ID, err)
	}
	msg := nats.NewMsg(CrowdActionSubject(dj, a.Session, a.Kind))
	msg.Data = data
	msg.Header.Set(jetstream.MsgIDHeader, a.ID)
	msg.Header.Set(bus.HeaderOriginTime, a.At.UTC().Format(time.RFC3339Nano))
	backoff := 50 * time.Millisecond
	for attempt := 1; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, 5*time.Second)
		ack, err := js.PublishMsg(actx, msg)
		cancel()
		if err == nil {
			return ack.Duplicate, nil
		}
		if log != nil {
			log.Warn("cloud action publish failed, retrying with the same id", "id", a.ID, "attempt", attempt, "err", err)
		}
		select {
		case <-ctx.Done():
			return false, fmt.Errorf("cloud: publish action %s: gave up after %d attempts: %w", a.ID, attempt, err)
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 2*time.Second)
	}
}

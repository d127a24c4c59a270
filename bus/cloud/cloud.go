// Package cloud owns how a DJ's embedded server and the cloud NATS cluster
// exchange streams across the leaf link: the names of the cloud's streams and
// subjects (every one carries the DJ id), the durable consumers each side
// offers the other, and the streams that source them. Plays and DJ-side
// actions flow up (DJ_<dj>, ACT_<dj> → CLOUD_DJ_<dj>, CLOUD_ACT_<dj>);
// dancer actions made in the cloud flow down (CLOUD_CROWD_<dj> → CROWD_<dj>).
// While the link is down each side keeps writing its own streams; sourcing
// carries the backlog over when it returns, deduplicated by message id.
//
// Durable sourcing (nats-server ≥ 2.14) is used both ways: plain sourcing was
// measured to wait 16–70 s after an outage before resuming, durable sourcing
// under a second (docs in ../../../shared/reference/nats-leaf.md §3c, §3d).
//
// Leaf and cloud streams never capture the same subjects: the cloud's
// sourced streams have no subjects of their own, the crowd stream captures
// only pika.crowd.<dj>.>, and the DJ's CROWD_<dj> only sources.
package cloud

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/pika-dj/pika/bus"
)

// Domain is the cloud cluster's JetStream domain.
const Domain = "cloud"

// Replicas of every cloud stream: a 3-node cluster survives losing one.
const Replicas = 3

// Names of the durable consumers behind the sourcing, on the side that owns
// the sourced stream. They are fixed: one pair per DJ, pruned with the DJ.
const (
	// UplinkConsumer is on the DJ's DJ_<dj> and ACT_<dj>, read by the cloud.
	UplinkConsumer = "CLOUD_UP"
	// DownlinkConsumer is on the cloud's CLOUD_CROWD_<dj>, read by the DJ.
	DownlinkConsumer = "DJ_DOWN"
)

// heartbeat is the durable consumers' idle heartbeat: it lets the sourcing
// side tell a quiet stream from a dead link. It is also what ends the
// sourcing side's retry backoff after an outage: a durable source whose
// reset request timed out (5 s) listens on the deliver subject, and the
// first heartbeat it hears there, once the link is back and the consumer
// sees interest again, makes it reset at once instead of waiting out
// 10 s × failures (nats-server v2.15 stream.go startProbeSubscription). So
// catch-up after a link returns takes at most about 5 s + heartbeat + 2 s
// (the server's retry throttle); measured 0.15–3.3 s (TestDownlinkCatchUp).
const heartbeat = time.Second

// StreamName is the cloud copy of the DJ's session stream (bus.StreamName).
func StreamName(dj string) string { return "CLOUD_DJ_" + dj }

// ActionsStreamName is the cloud copy of the DJ's actions stream
// (bus.ActionsStreamName): dancer actions taken on the DJ's LAN.
func ActionsStreamName(dj string) string { return "CLOUD_ACT_" + dj }

// CrowdStreamName is the cloud stream of dancer actions made through cloud
// gateways for one DJ. One per DJ, so a DJ's credentials can be allowed to
// reset its own downlink consumer and nothing else.
func CrowdStreamName(dj string) string { return "CLOUD_CROWD_" + dj }

// DJCrowdStreamName is the DJ-side stream that sources CrowdStreamName: the
// cloud's dancer actions as the DJ's owner folds them.
func DJCrowdStreamName(dj string) string { return "CROWD_" + dj }

// Subjects in the cloud. Only this file and crowd.go format them.
const (
	djPrefix      = "pika.dj."
	crowdPrefix   = "pika.crowd."
	deliverPrefix = "pika.deliver."
)

// SessionSubject is where the cloud copy of an event of type t of session
// sid of DJ dj is stored: the DJ's bus.SessionSubject with the DJ in front.
func SessionSubject(dj, sid string, t bus.Type) string {
	return djPrefix + dj + ".s." + sid + "." + string(t)
}

// SessionFilter matches the cloud copy of every event of one session.
func SessionFilter(dj, sid string) string { return djPrefix + dj + ".s." + sid + ".>" }

// ActionFilter matches the cloud copy of every LAN action of one session.
func ActionFilter(dj, sid string) string { return djPrefix + dj + ".a." + sid + ".>" }

// Deliver subjects of the durable consumers. Each stream has its own, or a
// sourcing stream would receive another stream's messages.
func uplinkSessionsDeliver(dj string) string { return deliverPrefix + dj + ".up.s" }
func uplinkActionsDeliver(dj string) string  { return deliverPrefix + dj + ".up.a" }
func downlinkCrowdDeliver(dj string) string  { return deliverPrefix + dj + ".down.crowd" }

// apiPrefix is how one domain reaches another's JetStream API over the leaf.
func apiPrefix(domain string) string { return "$JS." + domain + ".API" }

func checkNames(dj, domain string) error {
	if !bus.ValidDJID(dj) {
		return fmt.Errorf("cloud: dj id %q is malformed", dj)
	}
	if domain == "" || strings.ContainsAny(domain, ". *>\t\r\n") {
		return fmt.Errorf("cloud: JetStream domain %q is not a single subject token", domain)
	}
	return nil
}

// uplinkConsumer is the DJ-side durable push consumer a cloud stream sources.
// AckFlowControl is what durable sourcing requires: the consumer's ack floor
// moves with the sourcing side's flow-control replies.
func uplinkConsumer(deliver string) jetstream.ConsumerConfig {
	return jetstream.ConsumerConfig{
		Durable:        UplinkConsumer,
		Description:    "Pika! cloud sourcing over the leaf link",
		DeliverSubject: deliver,
		DeliverPolicy:  jetstream.DeliverAllPolicy,
		AckPolicy:      jetstream.AckFlowControlPolicy,
		IdleHeartbeat:  heartbeat,
	}
}

// EnsureDJUplink creates, on the DJ's server, the durable consumers the
// cloud's CLOUD_DJ_<dj> and CLOUD_ACT_<dj> source. The DJ's streams must
// exist (bus.EnsureDJ). It needs no network: the consumers wait on the DJ's
// disk until the cloud asks for them.
func EnsureDJUplink(ctx context.Context, jsDJ jetstream.JetStream, dj string) error {
	if err := checkNames(dj, dj); err != nil {
		return err
	}
	for stream, deliver := range map[string]string{
		bus.StreamName(dj):        uplinkSessionsDeliver(dj),
		bus.ActionsStreamName(dj): uplinkActionsDeliver(dj),
	} {
		if _, err := jsDJ.CreateOrUpdatePushConsumer(ctx, stream, uplinkConsumer(deliver)); err != nil {
			return fmt.Errorf("cloud: create uplink consumer on %s: %w", stream, err)
		}
	}
	return nil
}

// sourcedStream is a cloud stream with no subjects of its own that keeps what
// it sources for as long as the DJ's streams keep it. Duplicates matches the
// DJ's window: the same event id arriving twice within it is stored once.
func sourcedStream(name, description string, src *jetstream.StreamSource) jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:        name,
		Description: description,
		Storage:     jetstream.FileStorage,
		Retention:   jetstream.LimitsPolicy,
		Discard:     jetstream.DiscardOld,
		MaxAge:      bus.StreamMaxAge,
		Duplicates:  bus.DuplicatesWindow,
		Replicas:    Replicas,
		AllowDirect: true,
		Sources:     []*jetstream.StreamSource{src},
	}
}

// djSource sources one DJ stream through its durable uplink consumer, moving
// its subjects under pika.dj.<dj>. so cloud readers know whose they are.
func djSource(stream, djDomain, deliver, from, to string) *jetstream.StreamSource {
	return &jetstream.StreamSource{
		Name:              stream,
		External:          &jetstream.ExternalStream{APIPrefix: apiPrefix(djDomain)},
		Consumer:          &jetstream.StreamConsumerSource{Name: UplinkConsumer, DeliverSubject: deliver},
		SubjectTransforms: []jetstream.SubjectTransformConfig{{Source: from, Destination: to}},
	}
}

// DJStreamConfig is CLOUD_DJ_<dj>: the DJ's session events, pika.s.> stored
// as pika.dj.<dj>.s.>.
func DJStreamConfig(dj, djDomain string) jetstream.StreamConfig {
	return sourcedStream(StreamName(dj), "Pika! session events of DJ "+dj+", sourced from the DJ",
		djSource(bus.StreamName(dj), djDomain, uplinkSessionsDeliver(dj), bus.AllSessions, djPrefix+dj+".s.>"))
}

// ActionsStreamConfig is CLOUD_ACT_<dj>: actions taken on the DJ's LAN,
// pika.a.> stored as pika.dj.<dj>.a.>.
func ActionsStreamConfig(dj, djDomain string) jetstream.StreamConfig {
	return sourcedStream(ActionsStreamName(dj), "Pika! LAN dancer actions of DJ "+dj+", sourced from the DJ",
		djSource(bus.ActionsStreamName(dj), djDomain, uplinkActionsDeliver(dj), bus.AllActions, djPrefix+dj+".a.>"))
}

// CrowdStreamConfig is CLOUD_CROWD_<dj>: dancer actions stored by cloud
// gateways on pika.crowd.<dj>.a.<sid>.<kind>.
func CrowdStreamConfig(dj string) jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:        CrowdStreamName(dj),
		Description: "Pika! cloud dancer actions for DJ " + dj,
		Subjects:    []string{crowdPrefix + dj + ".>"},
		Storage:     jetstream.FileStorage,
		Retention:   jetstream.LimitsPolicy,
		Discard:     jetstream.DiscardOld,
		MaxAge:      bus.StreamMaxAge,
		MaxMsgSize:  bus.MaxActionBatchBytes,
		Duplicates:  bus.DuplicatesWindow,
		Replicas:    Replicas,
	}
}

// EnsureCloudDJ creates, in the cloud, the streams that source DJ dj (whose
// server's JetStream domain is djDomain), the DJ's crowd stream and the
// durable consumer the DJ's CROWD_<dj> sources. It retries what a cluster
// answers while it is still forming (no peers for placement, no leader)
// until ctx ends. The cloud node that authenticates the DJ calls it
// (bus/natsauth); DJs' credentials have no right to.
func EnsureCloudDJ(ctx context.Context, jsCloud jetstream.JetStream, dj, djDomain string) error {
	if err := checkNames(dj, djDomain); err != nil {
		return err
	}
	for _, cfg := range []jetstream.StreamConfig{
		DJStreamConfig(dj, djDomain), ActionsStreamConfig(dj, djDomain), CrowdStreamConfig(dj),
	} {
		if err := retry(ctx, func(ctx context.Context) error {
			_, err := jsCloud.CreateOrUpdateStream(ctx, cfg)
			return err
		}); err != nil {
			return fmt.Errorf("cloud: create stream %s: %w", cfg.Name, err)
		}
	}
	down := jetstream.ConsumerConfig{
		Durable:        DownlinkConsumer,
		Description:    "Pika! DJ sourcing over the leaf link",
		DeliverSubject: downlinkCrowdDeliver(dj),
		FilterSubject:  crowdPrefix + dj + ".>",
		DeliverPolicy:  jetstream.DeliverAllPolicy,
		AckPolicy:      jetstream.AckFlowControlPolicy,
		IdleHeartbeat:  heartbeat,
	}
	if err := retry(ctx, func(ctx context.Context) error {
		_, err := jsCloud.CreateOrUpdatePushConsumer(ctx, CrowdStreamName(dj), down)
		return err
	}); err != nil {
		return fmt.Errorf("cloud: create downlink consumer on %s: %w", CrowdStreamName(dj), err)
	}
	return nil
}

// DJCrowdStreamConfig is the DJ side's CROWD_<dj>: no subjects of its own,
// it sources the cloud's CLOUD_CROWD_<dj> through the durable downlink
// consumer and keeps the cloud's subjects (pika.crowd.<dj>.a.<sid>.<kind>).
// The filter on this DJ's subjects is the cloud consumer's: the server
// refuses a FilterSubject on a durable source.
func DJCrowdStreamConfig(dj, cloudDomain string) jetstream.StreamConfig {
	c := bus.ActionsStreamConfig(dj) // the same retention as the DJ's own actions
	c.Name = DJCrowdStreamName(dj)
	c.Description = "Pika! cloud dancer actions for DJ " + dj + ", sourced from the cloud"
	c.Subjects = nil
	c.MaxMsgSize = 0 // sourced messages carry extra headers
	c.Sources = []*jetstream.StreamSource{{
		Name:     CrowdStreamName(dj),
		External: &jetstream.ExternalStream{APIPrefix: apiPrefix(cloudDomain)},
		Consumer: &jetstream.StreamConsumerSource{Name: DownlinkConsumer, DeliverSubject: downlinkCrowdDeliver(dj)},
	}}
	return c
}

// EnsureDJDownlink creates, on the DJ's server, CROWD_<dj>, which sources
// the cloud's dancer actions for this DJ. It needs no network: the stream
// starts empty and catches up whenever the cloud is reachable (the cloud's
// consumer comes from EnsureCloudDJ). Made before that consumer exists, it
// still starts sourcing about a second after the consumer appears: the
// durable source's probe of the deliver subject clears the server's retry
// backoff (measured in cmd/pika's TestLANCloudLink, docs/cloud.md).
func EnsureDJDownlink(ctx context.Context, jsDJ jetstream.JetStream, dj, cloudDomain string) error {
	if err := checkNames(dj, cloudDomain); err != nil {
		return err
	}
	cfg := DJCrowdStreamConfig(dj, cloudDomain)
	if _, err := jsDJ.CreateOrUpdateStream(ctx, cfg); err != nil {
		return fmt.Errorf("cloud: create stream %s: %w", cfg.Name, err)
	}
	return nil
}

// errNoPeers is the JetStream error code of "no suitable peers for
// placement": a 400 that a forming cluster answers until every node has
// reported in (nats-leaf.md pitfall 1), so it is retried.
const errNoPeers jetstream.ErrorCode = 10005

// retry calls fn until it succeeds, fails in a way a retry cannot fix (a
// 4xx API error other than errNoPeers: the request itself is wrong), or ctx
// ends.
func retry(ctx context.Context, fn func(context.Context) error) error {
	backoff := 100 * time.Millisecond
	for {
		actx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := fn(actx)
		cancel()
		if err == nil {
			return nil
		}
		var apiErr *jetstream.APIError
		if errors.As(err, &apiErr) && apiErr.Code >= 400 && apiErr.Code < 500 && apiErr.ErrorCode != errNoPeers {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last error: %w)", ctx.Err(), err)
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 2*time.Second)
	}
}

// DownlinkStale is how long the DJ's CROWD_<dj> may go without hearing from
// the cloud's DJ_DOWN consumer, while the leaf link is up, before
// RestartStalledDownlink restarts its sourcing. The consumer sends an idle
// heartbeat every second.
const DownlinkStale = 15 * time.Second

// RestartStalledDownlink restarts the sourcing of the DJ's CROWD_<dj> when
// it has heard nothing from the cloud for stale (call it only while the
// leaf link is up, and not in the first stale after it came up).
//
// Why: nats-server retries a durable source whose consumer reset failed
// with an API error (as during a rolling restart of the cloud's nodes,
// when DJ_DOWN's leader moves) after 10 s × failures, up to 2 minutes, and
// without the probe that ends the wait when heartbeats return (seen in
// TestRollingDeploy: the DJ's tally behind the cloud's likes for over 45 s).
// Removing the source and adding it back starts it afresh. Nothing is lost
// or doubled: it resumes from DJ_DOWN's ack floor, redeliveries carry their
// message ids (the stream's duplicate window) and the owner folds an action
// once by its id.
func RestartStalledDownlink(ctx context.Context, jsDJ jetstream.JetStream, dj, cloudDomain string, stale time.Duration) (restarted bool, err error) {
	if err := checkNames(dj, cloudDomain); err != nil {
		return false, err
	}
	st, err := jsDJ.Stream(ctx, DJCrowdStreamName(dj))
	if err != nil {
		return false, fmt.Errorf("cloud: open %s: %w", DJCrowdStreamName(dj), err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		return false, fmt.Errorf("cloud: read %s: %w", DJCrowdStreamName(dj), err)
	}
	if len(info.Sources) == 0 {
		return false, nil
	}
	if a := info.Sources[0].Active; a >= 0 && a < stale {
		return false, nil
	}
	cfg := info.Config
	cfg.Sources = nil
	if _, err := jsDJ.UpdateStream(ctx, cfg); err != nil {
		return false, fmt.Errorf("cloud: stop sourcing %s: %w", cfg.Name, err)
	}
	if err := EnsureDJDownlink(ctx, jsDJ, dj, cloudDomain); err != nil {
		return false, err
	}
	return true, nil
}

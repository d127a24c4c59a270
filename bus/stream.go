package bus

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// SessionsBucket is the KV bucket holding each session's SessionState, keyed
// by session id. It lives in the DJ's own domain so the DJ side works with
// no network at all.
const SessionsBucket = "pika_sessions"

// TalliesBucket keeps each session's latest Tally, for gateways that start
// following a session and for /api/sessions' listener counts.
const TalliesBucket = "pika_tallies"

// SecretsBucket keeps the hash of each session's DJ secret, never the
// secret: the DJ side owns it.
const SecretsBucket = "pika_secrets"

// ActionsStreamName is the stream of dancers' actions on the DJ's server.
func ActionsStreamName(djID string) string { return "ACT_" + djID }

// ActionsStreamConfig keeps every dancer action, deduplicated by action id
// within Duplicates (the owner also deduplicates, for anything older).
func ActionsStreamConfig(djID string) jetstream.StreamConfig {
	return keptStream(ActionsStreamName(djID), "Pika! dancer actions for DJ "+djID, AllActions, MaxActionBatchBytes)
}

// Retention of everything a DJ's streams keep (docs/data.md).
const (
	StreamMaxAge     = 400 * 24 * time.Hour
	DuplicatesWindow = 10 * time.Minute
)

// keptStream is a file-stored stream that keeps its messages StreamMaxAge
// and stores a retried publish once within DuplicatesWindow.
func keptStream(name, description, subject string, maxMsg int32) jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:        name,
		Description: description,
		Subjects:    []string{subject},
		Storage:     jetstream.FileStorage,
		Retention:   jetstream.LimitsPolicy,
		Discard:     jetstream.DiscardOld,
		MaxAge:      StreamMaxAge,
		MaxMsgSize:  maxMsg,
		Duplicates:  DuplicatesWindow,
		Replicas:    1,
	}
}

// StreamName is the DJ's session stream. It carries the DJ id so that the
// cloud can source many DJs' streams side by side.
func StreamName(djID string) string { return "DJ_" + djID }

// SessionStreamConfig keeps every session event of one DJ. Duplicates is
// the window in which a retried publish with the same message id is stored
// once; consumers also deduplicate by event id, for anything older.
func SessionStreamConfig(djID string) jetstream.StreamConfig {
	c := keptStream(StreamName(djID), "Pika! session events of DJ "+djID, AllSessions, MaxEventBytes)
	c.AllowDirect = true // the gateway and the engine read a session's last event directly
	return c
}

// SessionsKVConfig is the sessions bucket's definition.
func SessionsKVConfig() jetstream.KeyValueConfig {
	return jetstream.KeyValueConfig{
		Bucket:      SessionsBucket,
		Description: "Pika! live session state, by session id",
		History:     1,
		Storage:     jetstream.FileStorage,
		Replicas:    1,
	}
}

// EnsureDJ creates or updates the DJ's stream and the sessions bucket.
func EnsureDJ(ctx context.Context, js jetstream.JetStream, djID string) (jetstream.Stream, jetstream.KeyValue, error) {
	st, err := js.CreateOrUpdateStream(ctx, SessionStreamConfig(djID))
	if err != nil {
		return nil, nil, fmt.Errorf("bus: create stream %s: %w", StreamName(djID), err)
	}
	kv, err := js.CreateOrUpdateKeyValue(ctx, SessionsKVConfig())
	if err != nil {
		return nil, nil, fmt.Errorf("bus: create bucket %s: %w", SessionsBucket, err)
	}
	if _, err := js.CreateOrUpdateStream(ctx, ActionsStreamConfig(djID)); err != nil {
		return nil, nil, fmt.Errorf("bus: create stream %s: %w", ActionsStreamName(djID), err)
	}
	for _, b := range []string{TalliesBucket, SecretsBucket} {
		if _, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
			Bucket: b, History: 1, Storage: jetstream.FileStorage, Replicas: 1,
		}); err != nil {
			return nil, nil, fmt.Errorf("bus: create bucket %s: %w", b, err)
		}
	}
	return st, kv, nil
}

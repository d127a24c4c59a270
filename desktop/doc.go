// Package desktop owns a DJ's sessions on the DJ's laptop: it turns plays
// seen by a detector (or typed by the DJ, or played by the demo) into bus
// events, and it is the single writer of each session's events.
//
// Being the single writer is what lets it number events: it assigns every
// event its session seq (+1 per event), stores it in the DJ's stream before
// the next one gets a number, and keeps the folded session state in the
// sessions KV bucket. After a crash or a restart it rebuilds all of that from
// the stream, not from the bucket, because the bucket may lag by one event.
//
// Sessions end explicitly (End) or when nothing happened for the idle
// timeout (Run, and Start for sessions that went stale while the laptop was
// off); a dropped connection never ends one.
//
// Nothing here imports Wails: the GUI wraps this package, so `go test ./...`
// needs no GUI libraries.
package desktop

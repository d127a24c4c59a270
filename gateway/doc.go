// Package gateway serves dancers: the web pages, the REST API and the
// WebSocket that carries a session's events to phones. It holds nothing
// another gateway could not rebuild: session state is folded from the
// JetStream stream and read from the KV bucket, so any number of gateways
// can run, and any one can restart.
//
// Goroutines and locks (see conn.go and hub.go for details):
//
//   - one goroutine per socket, kept shallow: it reads frames and hands each
//     to a short-lived goroutine, so JSON decoding never grows its stack;
//   - a fixed pool of writer goroutines shared by all sockets: each socket
//     has a bounded queue and at most one writer at a time;
//   - one ordered JetStream consumer per followed session, whose callback
//     folds each event into the session's state and enqueues it, encoded
//     once, on every subscribed socket;
//   - one ticker goroutine for listener counts, pings and eviction.
//
// Lock order: feed.mu, then conn.mu. conn.writeMu is taken only by writers
// and by a socket's own goroutine as it ends, never while holding feed.mu.
package gateway

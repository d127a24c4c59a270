// Package gateway serves dancers: the web pages, the REST API and the
// WebSocket that carries a session's events to phones and their actions
// back. It holds nothing another gateway could not rebuild: session state
// and the crowd's likes and votes are folded from the JetStream streams,
// tallies come from the session's owner on the DJ side, so any number of
// gateways can run, and any one can restart.
//
// The same gateway runs on the DJ's laptop (one DJ: its streams and
// buckets) and in the cloud (Config.Cloud: every DJ's sessions from the
// cluster's CLOUD_DJ_/CLOUD_ACT_/CLOUD_CROWD_ streams, see cloud.go).
//
// Goroutines and locks (see conn.go and hub.go for details):
//
//   - one goroutine per socket, kept shallow: it reads frames and hands each
//     to a short-lived goroutine, so JSON decoding, storing an action and
//     waiting for a DJ command's answer never grow its stack;
//   - a fixed pool of writer goroutines shared by all sockets: each socket
//     has a bounded queue and at most one writer at a time;
//   - two ordered JetStream consumers per followed session (its events,
//     then its dancers' actions; in the cloud three: actions made on the
//     DJ's LAN and through cloud gateways are in two streams), whose callbacks fold into the feed and
//     enqueue each event, encoded once, on every subscribed socket;
//   - one NATS subscription for every session's tallies, forwarded encoded
//     once to the followed session's sockets;
//   - one ticker goroutine for presence reports, pings and eviction.
//
// Lock order: dancer.mu, then feed.mu, then conn.mu. dancer.mu serializes
// one dancer's actions on this gateway (check, store, fold) and is held
// while an action is stored, never while a broadcast waits. conn.writeMu is
// taken only by writers and by a socket's own goroutine as it ends, never
// while holding feed.mu.
package gateway

package cloud

import (
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// A dead leaf link is noticed by pings alone when the network drops packets
// without closing the socket (a venue's Wi-Fi, a sleeping router). The
// server's defaults (2 min × 2 pings) would hide it for minutes; these notice
// it in about LeafPingInterval × (LeafMaxPingsOut + 1) = 15 s.
const (
	LeafPingInterval = 5 * time.Second
	LeafMaxPingsOut  = 2
	// LeafReconnectInterval is how soon a dropped link is tried again.
	LeafReconnectInterval = time.Second
)

// LeafRemote is the DJ server's leaf remote to the cloud at u: ws:// or
// wss:// through the cloud's WebSocket listener (the tunnel in front of the
// cloud carries HTTP and WebSocket only), or nats-leaf:// / tls:// straight
// to a leafnode port. credsFile, if not empty, is the DJ's credentials file
// (a user JWT and its seed); a user and password may instead be in u.
func LeafRemote(u *url.URL, credsFile string) (*server.RemoteLeafOpts, error) {
	if u == nil {
		return nil, fmt.Errorf("cloud: no leaf remote URL")
	}
	if u.Host == "" {
		return nil, fmt.Errorf("cloud: leaf remote URL %q has no host", u.Redacted())
	}
	switch strings.ToLower(u.Scheme) {
	case "ws", "wss", "nats-leaf", "nats", "tls":
	default:
		return nil, fmt.Errorf("cloud: leaf remote URL %q: scheme %q is not ws, wss, nats-leaf, nats or tls", u.Redacted(), u.Scheme)
	}
	// Frames stay masked (the default): unmasked client frames break RFC
	// 6455, and a tunnel or proxy in front of the cloud may refuse them.
	return &server.RemoteLeafOpts{URLs: []*url.URL{u}, Credentials: credsFile}, nil
}

// ConfigureLeaf makes opts (a DJ's embedded server) a leaf of the cloud
// through remotes, and sets the pings that notice a dead link within
// seconds. The ping settings are server-wide: the leaf connection uses the
// server's PingInterval and MaxPingsOut.
func ConfigureLeaf(opts *server.Options, remotes ...*server.RemoteLeafOpts) {
	opts.LeafNode.Remotes = append(opts.LeafNode.Remotes, remotes...)
	opts.LeafNode.ReconnectInterval = LeafReconnectInterval
	opts.PingInterval = LeafPingInterval
	opts.MaxPingsOut = LeafMaxPingsOut
}

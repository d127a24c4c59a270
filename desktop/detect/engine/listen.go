package engine

import (
	"context"
	"net"
)

// listenUDP opens the discovery socket. It is shared (SO_REUSEADDR, and
// SO_REUSEPORT where broadcasts need it) so Engine DJ desktop, SoundSwitch
// or another StagelinQ client on the same computer can listen as well; the
// units broadcast, so every listener hears them.
func listenUDP(ctx context.Context, addr string) (net.PacketConn, error) {
	lc := net.ListenConfig{Control: shareSocket}
	return lc.ListenPacket(ctx, "udp4", addr)
}

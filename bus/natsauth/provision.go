package natsauth

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/pika-dj/pika/bus/cloud"
)

// Node is the cloud node an Authenticator serves: natsserver.Server is one.
type Node interface {
	Connections
	// Connect opens an in-process client connection to the node.
	Connect(name string, extra ...nats.Option) (*nats.Conn, error)
}

// Provisioning bounds. A DJ's cloud streams are ensured at most once per
// process while that works; a DJ whose setup failed every attempt is tried
// again at its next connect.
const (
	provisionWorkers  = 4
	provisionQueue    = 1024
	provisionAttempts = 6
	provisionTimeout  = 30 * time.Second // one EnsureCloudDJ: four API calls, retried inside while the cluster forms
)

// provision states of a DJ in Authenticator.ensured.
const (
	provisionPending = iota + 1
	provisionDone
)

// want asks for DJ dj's cloud streams to be ensured. It never blocks: it
// runs inside the server's connection handling (Check). A DJ already done
// or pending is not asked again; a full queue drops the request, and the
// DJ's next connect asks again.
func (a *Authenticator) want(dj string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.ensured[dj] != 0 {
		return
	}
	select {
	case a.wantCh <- dj:
		a.ensured[dj] = provisionPending
	default:
		a.log.Warn("cloud stream setup queue full; DJ's streams will be set up at its next connect", "dj", dj)
	}
}

// provision creates the cloud streams of the DJs who connect (want), with
// the node's internal user, until ctx ends. The cloud makes them, not the
// DJ: DJ credentials never reach the cloud's JetStream API beyond their
// own downlink reset.
func (a *Authenticator) provision(ctx context.Context, node Node) error {
	nc, err := node.Connect("pika-natsauth-provision", nats.UserInfo(UserInternal, a.internalPassword))
	if err != nil {
		return fmt.Errorf("natsauth: connect the stream setup: %w", err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("natsauth: JetStream for the stream setup: %w", err)
	}
	done := make(chan struct{})
	for range provisionWorkers {
		go func() {
			defer func() { done <- struct{}{} }()
			for {
				select {
				case <-ctx.Done():
					return
				case dj := <-a.wantCh:
					a.ensureDJ(ctx, js, dj)
				}
			}
		}()
	}
	for range provisionWorkers {
		<-done
	}
	return nil
}

// ensureDJ runs cloud.EnsureCloudDJ for dj, with backoff between attempts.
func (a *Authenticator) ensureDJ(ctx context.Context, js jetstream.JetStream, dj string) {
	backoff := time.Second
	for attempt := 1; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, provisionTimeout)
		start := time.Now()
		// The DJ's server's JetStream domain is its DJ id (pika lan).
		err := cloud.EnsureCloudDJ(actx, js, dj, dj)
		cancel()
		if err == nil {
			a.mu.Lock()
			a.ensured[dj] = provisionDone
			a.mu.Unlock()
			a.log.Info("DJ's cloud streams ready", "dj", dj, "took", time.Since(start).Round(time.Millisecond))
			return
		}
		if ctx.Err() != nil {
			return
		}
		if attempt == provisionAttempts {
			a.mu.Lock()
			delete(a.ensured, dj) // its next connect tries again
			a.mu.Unlock()
			a.log.Error("DJ's cloud streams not set up; trying again at its next connect", "dj", dj, "attempts", attempt, "err", err)
			return
		}
		a.log.Warn("DJ's cloud streams not set up yet; retrying", "dj", dj, "in", backoff, "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 30*time.Second)
	}
}

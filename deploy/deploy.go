// Package deploy owns the order of a rolling deploy of the cloud, and nothing
// else: migrations first (expand-only, so old and new code both run on the
// schema), then the persister, then the gateways one at a time (each drains:
// its health turns 503 so the proxy sends it no new dancers, its sockets are
// closed with 1001 "going away" so phones reconnect to the other gateway and
// resume), then the NATS nodes one at a time, each time waiting until every
// node reports its streams current again, so the cluster never has fewer than
// two healthy replicas.
//
// Who restarts what is a Target: docker compose on the VPS (ComposeTarget,
// `go tool task deploy`), or OS processes on 127.0.0.x in the rolling-deploy
// test. Both run the same Plan through the same Run.
package deploy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"
)

// Role is what a service does in the cloud, which decides its place in the order.
type Role int

// Roles, in deploy order.
const (
	RoleMigrate Role = iota
	RolePersister
	RoleGateway
	RoleNATS
)

func (r Role) String() string {
	switch r {
	case RoleMigrate:
		return "migrate"
	case RolePersister:
		return "persister"
	case RoleGateway:
		return "gateway"
	case RoleNATS:
		return "nats"
	}
	return fmt.Sprintf("role(%d)", int(r))
}

// Service is one deployable unit: a compose service, or a process in a test.
type Service struct {
	Name string
	Role Role
}

// Step is one thing Run does.
type Step struct {
	Service Service
	// Once: run to completion (migrations) instead of replacing a
	// long-running service.
	Once bool
	// WaitFor are the services that must all be healthy before the next
	// step: the replaced service itself, and for a NATS node every node
	// (a node is healthy only when its streams are current).
	WaitFor []Service
}

// Plan orders a rolling deploy of services. It refuses an inventory that
// cannot be deployed without an outage: no migrations, no persister, fewer
// than two gateways (one gateway restarting drops every dancer at once) or
// fewer than three NATS nodes (an R3 stream needs two while one restarts).
func Plan(services []Service) ([]Step, error) {
	byRole := map[Role][]Service{}
	for _, s := range services {
		byRole[s.Role] = append(byRole[s.Role], s)
	}
	for _, ss := range byRole {
		slices.SortFunc(ss, func(a, b Service) int {
			if a.Name < b.Name {
				return -1
			}
			if a.Name > b.Name {
				return 1
			}
			return 0
		})
	}
	var problems []error
	if len(byRole[RoleMigrate]) != 1 {
		problems = append(problems, fmt.Errorf("want one migrate service, found %d", len(byRole[RoleMigrate])))
	}
	if len(byRole[RolePersister]) == 0 {
		problems = append(problems, errors.New("no persister service"))
	}
	if n := len(byRole[RoleGateway]); n < 2 {
		problems = append(problems, fmt.Errorf("%d gateway(s): a rolling deploy needs at least 2, or every dancer is dropped at once", n))
	}
	if n := len(byRole[RoleNATS]); n < 3 {
		problems = append(problems, fmt.Errorf("%d NATS node(s): a rolling deploy needs 3 (R3 streams keep a quorum of 2 while one restarts)", n))
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("deploy: cannot roll out: %w", errors.Join(problems...))
	}
	var steps []Step
	steps = append(steps, Step{Service: byRole[RoleMigrate][0], Once: true})
	for _, role := range []Role{RolePersister, RoleGateway} {
		for _, s := range byRole[role] {
			steps = append(steps, Step{Service: s, WaitFor: []Service{s}})
		}
	}
	nodes := byRole[RoleNATS]
	for _, s := range nodes {
		steps = append(steps, Step{Service: s, WaitFor: slices.Clone(nodes)})
	}
	return steps, nil
}

// Target carries out steps on real services.
type Target interface {
	// RunOnce runs s to completion; an error if it fails.
	RunOnce(ctx context.Context, s Service) error
	// Replace stops s (SIGTERM: a gateway drains, a node leaves cleanly)
	// and starts its new version. It returns once the new one is started,
	// not necessarily healthy.
	Replace(ctx context.Context, s Service) error
	// Healthy probes s once.
	Healthy(ctx context.Context, s Service) (bool, error)
}

// Options tune Run; zero values are the defaults beside them.
type Options struct {
	HealthTimeout time.Duration // per step, until WaitFor are healthy: 3 min
	Poll          time.Duration // between health probes: 1 s
	Logger        *slog.Logger  // progress; nil discards
}

// StepResult is how one step went.
type StepResult struct {
	Service Service
	Took    time.Duration // from its start until WaitFor were healthy
}

// Run carries out steps in order on t. It stops at the first step that
// fails or does not become healthy in time: the rest of the cloud keeps
// running the old version, which the expand-only migrations allow.
func Run(ctx context.Context, steps []Step, t Target, o Options) ([]StepResult, error) {
	if o.HealthTimeout <= 0 {
		o.HealthTimeout = 3 * time.Minute
	}
	if o.Poll <= 0 {
		o.Poll = time.Second
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var done []StepResult
	for i, st := range steps {
		start := time.Now()
		s := st.Service
		log.Info("deploy step", "step", fmt.Sprintf("%d/%d", i+1, len(steps)), "service", s.Name, "role", s.Role.String())
		if st.Once {
			if err := t.RunOnce(ctx, s); err != nil {
				return done, fmt.Errorf("deploy: %s: %w", s.Name, err)
			}
		} else if err := t.Replace(ctx, s); err != nil {
			return done, fmt.Errorf("deploy: replace %s: %w", s.Name, err)
		}
		if err := waitHealthy(ctx, t, st.WaitFor, o); err != nil {
			return done, fmt.Errorf("deploy: after replacing %s: %w", s.Name, err)
		}
		r := StepResult{Service: s, Took: time.Since(start)}
		done = append(done, r)
		log.Info("deploy step done", "service", s.Name, "took", r.Took.Round(time.Millisecond))
	}
	return done, nil
}

// waitHealthy polls until every service in ss is healthy at once.
func waitHealthy(ctx context.Context, t Target, ss []Service, o Options) error {
	if len(ss) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, o.HealthTimeout)
	defer cancel()
	tick := time.NewTicker(o.Poll)
	defer tick.Stop()
	for {
		var sick []string
		var lastErr error
		for _, s := range ss {
			ok, err := t.Healthy(ctx, s)
			if err != nil {
				lastErr = err
			}
			if !ok {
				sick = append(sick, s.Name)
			}
		}
		if len(sick) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			if lastErr != nil {
				return fmt.Errorf("not healthy after %s: %v (last error: %w)", o.HealthTimeout, sick, lastErr)
			}
			return fmt.Errorf("not healthy after %s: %v", o.HealthTimeout, sick)
		case <-tick.C:
		}
	}
}

package deploy

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"

	"github.com/compose-spec/compose-go/v2/cli"
)

// Compose is the Target on the VPS: docker compose with the project's files.
type Compose struct {
	Files   []string // e.g. compose/prod.yml (and compose/staging.yml)
	Project string   // -p, e.g. pika or pika-staging
	EnvFile string   // --env-file with the secrets and PIKA_VERSION
	Stdout  io.Writer
	Stderr  io.Writer
}

func (c Compose) args(more ...string) []string {
	a := []string{"compose", "-p", c.Project}
	for _, f := range c.Files {
		a = append(a, "-f", f)
	}
	if c.EnvFile != "" {
		a = append(a, "--env-file", c.EnvFile)
	}
	return append(a, more...)
}

func (c Compose) docker(ctx context.Context, stdout io.Writer, args ...string) error {
	cmd := exec.CommandContext(ctx, "docker", c.args(args...)...)
	cmd.Stdout, cmd.Stderr = stdout, c.Stderr
	if cmd.Stderr == nil {
		cmd.Stderr = os.Stderr
	}
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("docker %s: %w", strings.Join(args, " "), err)
	}
	return nil
}

// Services reads the compose files (with the env file, as docker compose
// does) and gives each service running our image its role from its
// command: migrate, persister, gateway or nats. Others (postgres, caddy,
// cloudflared, backup) are not part of a rollout.
func (c Compose) Services(ctx context.Context) ([]Service, error) {
	opts := []cli.ProjectOptionsFn{cli.WithOsEnv, cli.WithName(c.Project)}
	if c.EnvFile != "" {
		opts = append(opts, cli.WithEnvFiles(c.EnvFile), cli.WithDotEnv)
	}
	po, err := cli.NewProjectOptions(c.Files, opts...)
	if err != nil {
		return nil, fmt.Errorf("deploy: read %v: %w", c.Files, err)
	}
	p, err := po.LoadProject(ctx)
	if err != nil {
		return nil, fmt.Errorf("deploy: read %v: %w", c.Files, err)
	}
	var out []Service
	for name, s := range p.Services {
		if len(s.Command) == 0 {
			continue
		}
		role, ok := map[string]Role{"migrate": RoleMigrate, "persister": RolePersister, "gateway": RoleGateway, "nats": RoleNATS}[s.Command[0]]
		if ok {
			out = append(out, Service{Name: name, Role: role})
		}
	}
	return out, nil
}

// Pull fetches the new image once, before any service is replaced, so a
// registry problem stops the deploy before it starts.
func (c Compose) Pull(ctx context.Context) error { return c.docker(ctx, c.Stdout, "pull", "--quiet") }

// RunOnce runs a one-shot service (the migrations) to completion.
func (c Compose) RunOnce(ctx context.Context, s Service) error {
	return c.docker(ctx, c.Stdout, "run", "--rm", "--no-deps", s.Name)
}

// Replace recreates one service on the new image. docker sends SIGTERM and
// waits its stop_grace_period: a gateway drains, a NATS node shuts down
// cleanly.
func (c Compose) Replace(ctx context.Context, s Service) error {
	return c.docker(ctx, c.Stdout, "up", "--detach", "--no-deps", "--force-recreate", s.Name)
}

// psEntry is the part of `docker compose ps --format json` we read.
type psEntry struct {
	Service string
	State   string
	Health  string
}

// Healthy is true when the service's container is running and its
// healthcheck says healthy.
func (c Compose) Healthy(ctx context.Context, s Service) (bool, error) {
	var out bytes.Buffer
	if err := c.docker(ctx, &out, "ps", "--format", "json", s.Name); err != nil {
		return false, err
	}
	entries, err := parsePS(out.Bytes())
	if err != nil {
		return false, err
	}
	for _, e := range entries {
		if e.Service == s.Name {
			return e.State == "running" && e.Health == "healthy", nil
		}
	}
	return false, nil
}

// parsePS reads either output shape of `docker compose ps --format json`:
// one JSON array (compose v2 before 2.21) or one object per line.
func parsePS(b []byte) ([]psEntry, error) {
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return nil, nil
	}
	var entries []psEntry
	if b[0] == '[' {
		if err := json.Unmarshal(b, &entries); err != nil {
			return nil, fmt.Errorf("docker compose ps: %w", err)
		}
		return entries, nil
	}
	for _, line := range bytes.Split(b, []byte("\n")) {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var e psEntry
		if err := json.Unmarshal(line, &e); err != nil {
			return nil, fmt.Errorf("docker compose ps: %w", err)
		}
		entries = append(entries, e)
	}
	return entries, nil
}

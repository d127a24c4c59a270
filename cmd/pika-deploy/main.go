// Command pika-deploy rolls the cloud out to a new image on the VPS, in the
// order package deploy decides (migrations, persister, gateways one at a
// time, NATS nodes one at a time), with docker compose. It is what
// `go tool task deploy ENV=prod` runs, and what the deploy workflows run on
// the VPS's self-hosted runner.
//
//	pika-deploy --env prod      (PIKA_VERSION=<image tag> in the environment or the env file)
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/pika-dj/pika/deploy"
)

func main() {
	env := flag.String("env", "prod", "prod or staging")
	envFile := flag.String("env-file", "", "the environment's secrets and PIKA_VERSION (default /etc/pika/<env>.env)")
	timeout := flag.Duration("health-timeout", 3*time.Minute, "how long one service may take to become healthy")
	dry := flag.Bool("dry-run", false, "print the order and stop")
	flag.Parse()

	c := deploy.Compose{Stdout: os.Stdout, Stderr: os.Stderr, EnvFile: *envFile}
	switch *env {
	case "prod":
		c.Files, c.Project = []string{"compose/prod.yml"}, "pika"
	case "staging":
		c.Files, c.Project = []string{"compose/prod.yml", "compose/staging.yml"}, "pika-staging"
	default:
		fmt.Fprintf(os.Stderr, "pika-deploy: --env %q: must be prod or staging\n", *env)
		os.Exit(2)
	}
	if c.EnvFile == "" {
		c.EnvFile = "/etc/pika/" + *env + ".env"
	}
	if _, err := os.Stat(c.EnvFile); err != nil {
		fmt.Fprintf(os.Stderr, "pika-deploy: env file %s: %v (docs/deploy.md says what goes in it)\n", c.EnvFile, err)
		os.Exit(2)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if err := run(ctx, c, *timeout, *dry, log); err != nil {
		fmt.Fprintln(os.Stderr, "pika-deploy:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, c deploy.Compose, timeout time.Duration, dry bool, log *slog.Logger) error {
	services, err := c.Services(ctx)
	if err != nil {
		return err
	}
	steps, err := deploy.Plan(services)
	if err != nil {
		return err
	}
	for i, st := range steps {
		fmt.Printf("%d. %s (%s)\n", i+1, st.Service.Name, st.Service.Role)
	}
	if dry {
		return nil
	}
	start := time.Now()
	if err := c.Pull(ctx); err != nil {
		return err
	}
	results, err := deploy.Run(ctx, steps, c, deploy.Options{HealthTimeout: timeout, Logger: log})
	for _, r := range results {
		fmt.Printf("  %-12s %s\n", r.Service.Name, r.Took.Round(time.Millisecond))
	}
	if err != nil {
		return fmt.Errorf("%w; the services not yet replaced still run the old version", err)
	}
	fmt.Printf("deployed in %s\n", time.Since(start).Round(time.Second))
	return nil
}

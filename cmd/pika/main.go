// Command pika runs Pika!. `pika lan` is the whole product on a DJ's laptop:
// an embedded NATS JetStream server, the dancers' gateway and pages, and the
// now-playing detection that feeds them.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	a := &app{getenv: os.Getenv, stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, stopSignals: stop}
	err := a.run(ctx, os.Args[1:])
	stop()
	var ue usageError
	switch {
	case err == nil:
	case errors.As(err, &ue):
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "pika:", err)
		os.Exit(1)
	}
}

// app is the program with its surroundings passed in, so tests run the real
// thing in-process.
type app struct {
	getenv func(string) string
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	// ready, if set, is called once the LAN server is serving.
	ready func(lanReady)
	// stopSignals, if set, is called once shutdown starts, so a second
	// Ctrl-C ends the process at once.
	stopSignals func()
}

// usageError is a mistake in the command line or configuration: printed as
// is, exit status 2, never a stack trace.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

const usage = `Pika! shows dancers what the DJ is playing.

Usage:
  pika lan [flags]    run everything on this laptop (LAN mode); pika lan --help for flags
  pika detect [--json]          say which DJ programs are on this computer and which pika lan would follow
  pika migrate up|down|status   apply or inspect PostgreSQL migrations (DATABASE_URL)
  pika persister [flags]        write the bus's events to PostgreSQL
  pika gateway [flags]          serve dancers from the cloud's NATS cluster (one of several gateways)
  pika nats [flags]             run one node of the cloud's NATS JetStream cluster (docs/cloud.md)
  pika config [command [flags]] print the effective configuration, secrets masked (docs/configuration.md)
  pika health <url>             exit 0 if the URL answers 2xx within 3 s (the containers' health check)
  pika version        print the version
`

func (a *app) run(ctx context.Context, args []string) error {
	err := a.command(ctx, args)
	if errors.Is(err, errHelp) {
		return nil // --help was printed: not a failure
	}
	return err
}

func (a *app) command(ctx context.Context, args []string) error {
	if len(args) == 0 {
		fmt.Fprint(a.stderr, usage)
		return usageError{"pika: say what to run, e.g. pika lan --demo"}
	}
	switch args[0] {
	case "lan":
		return a.lan(ctx, args[1:])
	case "detect":
		return a.detect(ctx, args[1:])
	case "migrate":
		return a.migrate(ctx, args[1:])
	case "persister":
		return a.persister(ctx, args[1:])
	case "gateway":
		return a.gateway(ctx, args[1:])
	case "nats":
		return a.nats(ctx, args[1:])
	case "config":
		return a.config(args[1:])
	case "health":
		return a.health(ctx, args[1:])
	case "version", "--version":
		fmt.Fprintln(a.stdout, "pika", version)
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(a.stdout, usage)
		return nil
	}
	fmt.Fprint(a.stderr, usage)
	return usageError{fmt.Sprintf("pika: unknown command %q", args[0])}
}

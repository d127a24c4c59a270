// Command pika-load plays one DJ and a crowd of dancers against Pika! over
// real WebSockets on loopback, and measures what a dancer waits for: join,
// snapshot, play → now-playing frame, a reconnect storm, crowd actions,
// and the server's memory, goroutines and CPU (BENCHMARKS.md).
//
//	pika-load [flags]                 run against a `pika-load serve` child (default)
//	pika-load --inprocess [flags]     server and crowd in this process
//	pika-load --lan ./pika [flags]    run against a real `pika lan --watch` child
//	pika-load --url URL [--history F] [--pid P]   run against a server already running
//	pika-load serve                   the server alone, with a loopback control port
//	pika-load chart -o DIR report.json…   draw the charts of BENCHMARKS.md
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/pika-dj/pika/internal/testenv"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := mainErr(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "pika-load:", err)
		os.Exit(1)
	}
}

func newFlagSet(name string) *flag.FlagSet {
	return flag.NewFlagSet("pika-load "+name, flag.ContinueOnError)
}

func mainErr(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if len(args) > 0 {
		switch args[0] {
		case "serve":
			return serve(ctx, args[1:], stdout, log)
		case "chart":
			return chart(args[1:], stdout)
		}
	}
	fs := newFlagSet("run")
	o := options{}
	fs.IntVar(&o.Dancers, "dancers", 1000, "dancers following the DJ's session")
	fs.IntVar(&o.Foreign, "foreign", 20, "dancers following another (ended) session: must receive nothing of this one")
	slow := fs.String("slow", "0%", "share of dancers that stop reading (e.g. 10%)")
	fs.DurationVar(&o.SlowFill, "slow-fill", 3*time.Second, "with --slow: how long the stopped phones ask for snapshots (to fill their buffers) before the plays")
	fs.IntVar(&o.Sources, "sources", 16, "loopback source addresses 127.0.0.2… (each has ~28k ephemeral ports; the per-address action limit is 1,000/s)")
	fs.IntVar(&o.DialConc, "dial-concurrency", 64, "dials at once while joining")
	fs.IntVar(&o.StormConc, "storm-concurrency", 512, "reconnects at once in the storm")
	fs.IntVar(&o.BusTracks, "tracks", 5, "plays through the engine (drive mode bus)")
	fs.IntVar(&o.FileTracks, "file-tracks", 3, "plays appended to the watched history file (drive mode file)")
	fs.DurationVar(&o.Gap, "gap", time.Second, "time between plays")
	fs.DurationVar(&o.PhaseLimit, "phase-limit", 60*time.Second, "upper bound of each phase")
	fs.DurationVar(&o.Timeout, "timeout", 15*time.Second, "one dial")
	fs.DurationVar(&o.Settle, "settle", 3*time.Second, "idle time before the server's memory is read")
	fs.BoolVar(&o.Storm, "storm", true, "reconnect storm")
	fs.BoolVar(&o.Actions, "actions", true, "crowd actions")
	fs.StringVar(&o.CPUProfile, "cpuprofile", "", "write the server's CPU profile during the plays to this file (serve child or --inprocess)")
	probe := fs.Bool("probe", true, "server side: time the last write of each track frame (a small wrapper per socket; --probe=false for memory runs)")
	inproc := fs.Bool("inprocess", false, "run the server in this process (goroutines and memory then include the generator's)")
	lan := fs.String("lan", "", "path of a pika binary: run `pika lan --watch` as a child")
	targetURL := fs.String("url", "", "a server already running, e.g. http://127.0.0.1:3000 (loopback only)")
	hist := fs.String("history", "", "with --url: the history file it watches (drive mode file)")
	pid := fs.Int("pid", 0, "with --url: its process id (RSS and CPU)")
	pgFlag := fs.Bool("postgres", false, "start a throwaway PostgreSQL (fsync on) and have the server persist to it; the actions phase then also waits until every accepted action is in it")
	fs.StringVar(&o.DatabaseURL, "database-url", "", "like --postgres, with a PostgreSQL of your own (an empty database; the server migrates it)")
	jsonOut := fs.Bool("json", false, "print the report as JSON")
	quiet := fs.Bool("quiet", false, "no progress bar")
	if err := fs.Parse(args); err != nil {
		return err
	}
	f, err := parseShare(*slow)
	if err != nil {
		return err
	}
	o.Slow = f
	o.ProbeWrites = *probe
	if !*quiet {
		o.Progress = stderr
	}
	if o.Dancers < 1 || o.Sources < 1 || o.Sources > 250 {
		return errors.New("--dancers must be ≥ 1 and --sources 1–250")
	}
	raiseFileLimit(log)
	if *pgFlag {
		if o.DatabaseURL != "" {
			return errors.New("--postgres and --database-url: choose one")
		}
		pg, err := testenv.StartPostgres()
		if err != nil {
			return fmt.Errorf("start a throwaway PostgreSQL: %w", err)
		}
		defer pg.Close()
		if o.DatabaseURL, err = pg.CreateDatabase(ctx, "pika_load"); err != nil {
			return err
		}
	}
	if o.DatabaseURL != "" && (*targetURL != "" || *lan != "") {
		return errors.New("--postgres/--database-url need the generator's own server (not --url or --lan)")
	}

	var t *target
	mode := "serve child"
	switch {
	case *targetURL != "":
		u, err := url.Parse(*targetURL)
		if err != nil {
			return fmt.Errorf("--url: %w", err)
		}
		if err := loopbackAddr(u.Host); err != nil {
			return err
		}
		t = &target{Base: strings.TrimSuffix(*targetURL, "/"), PID: *pid, History: *hist, stop: func() error { return nil }}
		mode = "attached"
	case *lan != "":
		t, err = startLAN(ctx, *lan)
		mode = "pika lan child"
	case *inproc:
		t, err = startInProcess(ctx, *probe, o.DatabaseURL, log)
		mode = "in-process"
	default:
		t, err = startChild(ctx, *probe, o.DatabaseURL)
	}
	if err != nil {
		return err
	}
	defer func() {
		if err := t.stop(); err != nil {
			log.Warn("stop the server", "err", err)
		}
	}()
	rep, err := run(ctx, t, o, log)
	if rep != nil {
		rep.Mode = mode
		if *jsonOut {
			enc := json.NewEncoder(stdout)
			enc.SetIndent("", "  ")
			_ = enc.Encode(rep)
		} else {
			printReport(stdout, rep)
		}
	}
	return err
}

func parseShare(s string) (float64, error) {
	v, pct := strings.CutSuffix(strings.TrimSpace(s), "%")
	f, err := strconv.ParseFloat(v, 64)
	if err != nil {
		return 0, fmt.Errorf("--slow %q: a share like 10%% or 0.1", s)
	}
	if pct {
		f /= 100
	}
	if f < 0 || f >= 1 {
		return 0, fmt.Errorf("--slow %q: between 0 and 100%%", s)
	}
	return f, nil
}

// loopbackAddr refuses anything but a loopback host: this tool opens
// thousands of sockets and must never aim them at someone else's server.
func loopbackAddr(hostport string) error {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		host = hostport
	}
	if host == "localhost" {
		return nil
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("refusing %q: pika-load only targets loopback (127.0.0.0/8, ::1, localhost)", hostport)
	}
	return nil
}

// raiseFileLimit lifts the soft open-file limit to the hard one: every
// dancer is a descriptor.
func raiseFileLimit(log *slog.Logger) {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		log.Warn("read the open-file limit", "err", err)
		return
	}
	if l.Cur < l.Max {
		l.Cur = l.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
			log.Warn("raise the open-file limit", "err", err)
		}
	}
}

func printReport(w io.Writer, r *Report) {
	fmt.Fprintf(w, "pika-load %s against %s (%s): %d dancers (+%d on another session, %d slow), %d source addresses\n",
		r.Start.Format(time.RFC3339), r.Target, r.Mode, r.Dancers, r.Foreign, r.Slow, r.Sources)
	ph := func(name string, p PhaseReport) {
		fmt.Fprintf(w, "  %-18s %6d/%-6d in %6.2f s (%7.0f/s)  latency ms p50 %.1f p95 %.1f p99 %.1f max %.1f  server CPU %.2f s",
			name, p.OK, p.Want, p.Seconds, p.PerSec, p.Latency.P50, p.Latency.P95, p.Latency.P99, p.Latency.Max, p.CPU)
		if p.FirstErr != "" {
			fmt.Fprintf(w, "  first error: %s", p.FirstErr)
		}
		fmt.Fprintln(w)
	}
	ph("connect", r.Connect)
	ph("subscribe→snapshot", r.Subscribe)
	fmt.Fprintf(w, "  join (both)        %.2f s\n", r.JoinSec)
	if i := r.Idle; i != nil {
		fmt.Fprintf(w, "  idle server        RSS %d → %d KB (%d after GC): %.2f KB/socket (%.2f after GC); goroutines %d → %d: %.3f/socket",
			i.Before.RSSKB, i.After.RSSKB, i.AfterGC.RSSKB, i.KBPerSocket, i.KBPerSocketGC, i.Before.Goroutines, i.AfterGC.Goroutines, i.GoroutinesPerSk)
		if i.StackPerSocket != 0 {
			fmt.Fprintf(w, "; stack %.2f KB, heap %.2f KB per socket", i.StackPerSocket, i.HeapPerSocket)
		}
		fmt.Fprintln(w)
	}
	for _, p := range r.Plays {
		fmt.Fprintf(w, "  play→frame %-26s %d tracks × %d phones: p50 %.1f p95 %.1f p99 %.1f max %.1f ms; missed %d, duplicates %d, %.3f frames/track/phone; per-track p99 %v; server CPU %.2f s\n",
			p.Drive, p.Tracks, p.Phones, p.Latency.P50, p.Latency.P95, p.Latency.P99, p.Latency.Max, p.Missed, p.Duplicates, p.FramesPerTrk, roundAll(p.PerTrackP99), p.CPU)
		if p.ServerFanout.N > 0 {
			fmt.Fprintf(w, "    server fan-out done (play → last write returned): p50 %.1f max %.1f ms; frames written per track %v\n",
				p.ServerFanout.P50, p.ServerFanout.Max, p.ServerWrites)
		}
	}
	if s := r.SlowPh; s != nil {
		fmt.Fprintf(w, "  slow phones        %d stopped reading: %d dropped %v; others p99 %.1f ms (before: %.1f), missed %d\n",
			s.Slow, s.Dropped, s.CloseCodes, s.OthersP99, s.BaselineP99, s.OthersMiss)
	}
	if a := r.Actions; a != nil {
		fmt.Fprintf(w, "  crowd actions      %d sent, %d answered, %d ok (%d duplicate), errors %v in %.2f s: %.0f accepted/s\n",
			a.Sent, a.Answered, a.OK, a.Dup, a.Codes, a.Seconds, a.Accepted)
		if p := a.Persisted; p != nil {
			state := "all there"
			if !p.Complete {
				state = "INCOMPLETE"
			}
			fmt.Fprintf(w, "    in PostgreSQL    %s after %.2f s (%.0f accepted actions/s persisted): rows %v, expected %v; doubled %d\n",
				state, p.Seconds, p.PerSecond, p.Found, p.Expected, p.Doubled)
		}
	}
	if r.Storm != nil {
		ph("reconnect storm", *r.Storm)
	}
	fmt.Fprintf(w, "  isolation          frames of another session: %d; this session's tracks at the other session's phones: %d\n", r.Foreigns, r.Leaks)
	fmt.Fprintf(w, "  server at end      RSS %d KB, CPU %.2f s, goroutines %d, sockets %d\n", r.Server.RSSKB, r.Server.CPUSeconds, r.Server.Goroutines, r.Server.Sockets)
	for _, e := range r.Errors {
		fmt.Fprintf(w, "  error: %s\n", e)
	}
}

func roundAll(v []float64) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(int(x*10+0.5)) / 10
	}
	return out
}

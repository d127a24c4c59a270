package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/skip2/go-qrcode"
	"golang.org/x/sync/errgroup"

	"github.com/pika-dj/pika/bus"
	"github.com/pika-dj/pika/bus/cloud"
	"github.com/pika-dj/pika/bus/natsserver"
	"github.com/pika-dj/pika/desktop"
	"github.com/pika-dj/pika/desktop/detect"
	"github.com/pika-dj/pika/desktop/detect/auto"
	"github.com/pika-dj/pika/desktop/detect/tags"
	"github.com/pika-dj/pika/gateway"
	"github.com/pika-dj/pika/internal/obs"
	"github.com/pika-dj/pika/persister"
	"github.com/pika-dj/pika/web"
)

// lanReady tells tests where the LAN server listens.
type lanReady struct {
	Addr    string // host:port actually bound
	DJ      string
	Elapsed time.Duration // from start to serving
	Engine  *desktop.Engine
	Owner   *desktop.Owner
	PProf   string // host:port of the profiler, if --pprof
}

// lan runs `pika lan`: everything in one process.
func (a *app) lan(ctx context.Context, args []string) (err error) {
	started := time.Now()
	cfg, err := parseLAN(args, a.getenv, a.stdout)
	if err != nil {
		return err // errHelp included: run treats it as done
	}
	log, reg, finish, err := a.startCommand(cfg.LogLevel, cfg.Obs)
	if err != nil {
		return err
	}
	defer func() { finish(err) }()

	if cfg.Demo {
		// The demo never touches the real data folder.
		dir, err := os.MkdirTemp("", "pika-demo-")
		if err != nil {
			return fmt.Errorf("make demo data folder: %w", err)
		}
		defer os.RemoveAll(dir)
		cfg.Data = dir
	}
	if err := os.MkdirAll(cfg.Data, 0o700); err != nil {
		return fmt.Errorf("make data folder %s: %w", cfg.Data, err)
	}
	id, err := bus.LoadIdentity(cfg.Data)
	if err != nil {
		return err
	}
	if cfg.Cloud != nil {
		// The cloud knows this DJ by the token's account: the laptop must
		// use that DJ id (its JetStream domain is what the cloud sources).
		dj, err := cloudDJ(cfg)
		if err != nil {
			return usageError{err.Error()}
		}
		if id, err = a.adoptDJ(cfg.Data, id, dj); err != nil {
			return err
		}
	}

	srv, err := natsserver.Start(ctx, natsserver.Config{
		StoreDir: filepath.Join(cfg.Data, "jetstream"), Domain: id.DJ,
		Leaf:   cfg.Cloud, // nil: LAN only
		Logger: log.With("part", "nats"),
	})
	if err != nil {
		return fmt.Errorf("start the event store: %w", err)
	}
	defer srv.Shutdown()
	nc, err := srv.Connect("pika-lan")
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("open JetStream: %w", err)
	}
	_, kv, err := bus.EnsureDJ(ctx, js, id.DJ)
	if err != nil {
		return err
	}
	if cfg.Cloud != nil {
		// The consumers the cloud sources are on this laptop's disk: made
		// now, online or not, so every play from now on waits for the link.
		if err := cloud.EnsureDJUplink(ctx, js, id.DJ); err != nil {
			return err
		}
	}

	eng, err := desktop.New(desktop.Config{DJ: id.DJ, DJName: cfg.DJName, JS: js, KV: kv, Logger: log.With("part", "sessions")})
	if err != nil {
		return err
	}
	if err := eng.Start(ctx); err != nil {
		return fmt.Errorf("recover sessions: %w", err)
	}
	// The console link is printed once the listener's port is known; a
	// session that starts later prints its own.
	consoleBase := make(chan string, 1)
	// The source's status line is for the DJ's console: a console that opens
	// gets it at once (OnConsole). The source itself is chosen below.
	lk := newLinks(cfg.Cloud, time.Now())
	reporter := desktop.NewSourceReporter(desktop.SourceReporter{Conn: nc, Engine: eng, Links: lk.list, Logger: log.With("part", "source")})
	owner, err := desktop.NewOwner(ctx, eng, desktop.OwnerConfig{
		OnConsole: func(string) { reporter.Nudge() },
		Conn:      nc, JS: js, SecretDir: filepath.Join(cfg.Data, "secrets"), Logger: log.With("part", "crowd"),
		Cloud: cfg.Cloud != nil,
		OnNewSecret: func(sid, secret string) {
			base := <-consoleBase
			consoleBase <- base
			a.printConsole(base, sid, secret)
		},
	})
	if err != nil {
		return err
	}

	// With PostgreSQL the REST history (journals, profiles, charts) reads
	// it; recaps fall back to the streams while it lacks a session.
	db, err := openDBParts(ctx, cfg.DatabaseURL, log) // none without DATABASE_URL; does not connect yet
	if err != nil {
		return err
	}
	defer db.Close()
	reg.MustRegister(natsserver.NewCollector(srv))
	gw, err := gateway.New(gateway.Config{
		JS: js, Conn: nc, KV: kv, Stream: bus.StreamName(id.DJ), ActionsStream: bus.ActionsStreamName(id.DJ), Assets: web.Assets(),
		PublicURL: cfg.PublicURL, DancerURL: lk.dancerBase, CORSOrigin: cfg.CORSOrigin, History: db.History, Accounts: db.Accounts, Logger: log.With("part", "gateway"),
		ActionsPerIPPerMinute: cfg.ActionsPerIP,
		Metrics:               reg, PublicSentryDSN: cfg.Obs.PublicSentryDSN, Release: version, Environment: cfg.Obs.Environment,
	})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		_ = gw.Shutdown(context.Background())
		return fmt.Errorf("listen on %s: %w (is another pika running? choose another with --addr)", cfg.Addr, err)
	}

	var pprofLn net.Listener
	if cfg.PProf != "" {
		if pprofLn, err = net.Listen("tcp", cfg.PProf); err != nil {
			_ = gw.Shutdown(context.Background())
			ln.Close()
			return fmt.Errorf("listen for the profiler on %s: %w", cfg.PProf, err)
		}
		defer pprofLn.Close()
	}

	src, srcName, srcWhy, err := a.source(cfg, log)
	if err != nil {
		_ = gw.Shutdown(context.Background())
		ln.Close()
		return err
	}

	lk.setVenue(a.banner(cfg, id, ln.Addr().String(), src, time.Since(started), eng))
	linked := srv.LeafLinked() // what the banner says; linkCloud reports changes from here
	lk.setCloud(linked, time.Now())
	if cfg.Cloud != nil {
		fmt.Fprintf(a.stdout, "  cloud link: %s (%s)\n", linkState(linked), cloudName(cfg.Cloud))
	}
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	consoleBase <- "http://" + net.JoinHostPort("127.0.0.1", port)
	if st, ok := eng.State(); ok {
		if secret, ok := owner.Secret(st.ID); ok {
			a.printConsole("http://"+net.JoinHostPort("127.0.0.1", port), st.ID, secret)
		}
	}
	// The terminal follows the bus like any other reader: what it prints
	// is what was stored, whoever recorded it.
	sub, err := nc.Subscribe(bus.AllSessions, func(m *nats.Msg) {
		if e, err := bus.Decode(m.Data); err == nil {
			a.show(e, lk)
		}
	})
	if err != nil {
		return fmt.Errorf("follow the bus: %w", err)
	}
	defer func() { _ = sub.Unsubscribe() }()

	g, gctx := errgroup.WithContext(ctx)
	if err := serveMetrics(gctx, g, cfg.Obs, reg, gw.Ready, log); err != nil {
		_ = gw.Shutdown(context.Background())
		ln.Close()
		return err
	}
	g.Go(func() error { return gw.Serve(ln) })
	g.Go(func() error {
		<-gctx.Done()
		if a.stopSignals != nil {
			a.stopSignals() // a second Ctrl-C ends the process at once
		}
		fmt.Fprintln(a.stdout, "\nStopping: telling phones to reconnect later…")
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return gw.Shutdown(sctx)
	})
	if pprofLn != nil {
		servePProf(gctx, g, pprofLn, log)
		fmt.Fprintf(a.stdout, "  Profiler: http://%s/debug/pprof/ (this laptop only)\n", pprofLn.Addr())
	}
	g.Go(func() error { return eng.Run(gctx) })
	g.Go(func() error { return owner.Run(gctx) })
	if cfg.Demo {
		g.Go(func() error { return desktop.Demo(gctx, eng, cfg.DemoEvery) })
	}
	if src != nil {
		g.Go(func() error { return a.follow(gctx, src, eng, log) })
	}
	if !cfg.Demo {
		reporter.Source, reporter.Name, reporter.Why = src, srcName, srcWhy
		g.Go(func() error { return reporter.Run(gctx) })
	}
	g.Go(func() error { a.manual(gctx, eng, log); return nil })
	if cfg.Cloud != nil {
		g.Go(func() error {
			defer obs.Recover(nil, log, "lan: cloud link")
			a.linkCloud(gctx, srv, js, id.DJ, linked, func(up bool) {
				if lk.setCloud(up, time.Now()) {
					reporter.Nudge()
					if st, ok := eng.State(); ok && up {
						a.printJoin(lk, st.ID)
					}
				}
			}, log.With("part", "cloud"))
			return nil
		})
	}
	if cfg.DatabaseURL != "" {
		// The history in PostgreSQL is an extra: a database that is down or
		// broken never stops the night. The streams keep everything, and
		// the durable consumers pick up where they stopped.
		streams := []string{bus.StreamName(id.DJ), bus.ActionsStreamName(id.DJ)}
		g.Go(func() error {
			// Like its errors, a panic in the history never stops the night.
			defer obs.Recover(nil, log, "lan: PostgreSQL history")
			if err := persister.RunPostgres(gctx, js, cfg.DatabaseURL, streams, nil, log.With("part", "history")); err != nil {
				log.Error("PostgreSQL history stopped; dancers are served as before and the streams keep every event for the next start", "err", err)
			}
			return nil
		})
		fmt.Fprintln(a.stdout, "  Keeping the history in PostgreSQL too (DATABASE_URL).")
	}

	if a.ready != nil {
		r := lanReady{Addr: ln.Addr().String(), DJ: id.DJ, Elapsed: time.Since(started), Engine: eng, Owner: owner}
		if pprofLn != nil {
			r.PProf = pprofLn.Addr().String()
		}
		a.ready(r)
	}
	err = g.Wait()
	if errors.Is(err, context.Canceled) {
		err = nil
	}
	return err
}

// linkState is how the banner and the terminal name the cloud link's state.
func linkState(up bool) string {
	if up {
		return "up"
	}
	return "down, retrying"
}

// cloudName is the cloud URL as the DJ may see it: without the token.
func cloudName(u *url.URL) string { return u.Scheme + "://" + u.Host + u.Path }

// linkCloud follows the leaf link until ctx ends: it tells the DJ when the
// link comes and goes (banner shown with linked), and once the link is up it
// makes this laptop's CROWD_<dj>, retrying with backoff. The night never
// waits for it: plays are stored here and the uplink consumers (made at
// start) hand them over whenever the link is up.
//
// The cloud's streams of this DJ are not made here: the cloud node makes
// them when this DJ's link authenticates (bus/natsauth), and a DJ's
// credentials have no right to the cloud's JetStream API beyond resetting
// their own downlink consumer.
func (a *app) linkCloud(ctx context.Context, srv *natsserver.Server, js jetstream.JetStream, dj string, linked bool, changed func(up bool), log *slog.Logger) {
	const maxBackoff = time.Minute
	backoff, next, ready := time.Second, time.Time{}, false
	linkedAt, checked := time.Now(), time.Time{}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		if up := srv.LeafLinked(); up != linked {
			linked = up
			linkedAt = time.Now()
			fmt.Fprintf(a.stdout, "  cloud link: %s\n", linkState(up))
			log.Info("cloud link", "up", up)
			changed(up)
		}
		// With the link up for a while, a downlink that hears nothing
		// from the cloud is stuck in nats-server's retry wait: restart it.
		if linked && ready && time.Since(linkedAt) > cloud.DownlinkStale && time.Since(checked) >= 5*time.Second {
			checked = time.Now()
			actx, cancel := context.WithTimeout(ctx, 10*time.Second)
			restarted, err := cloud.RestartStalledDownlink(actx, js, dj, cloud.Domain, cloud.DownlinkStale)
			cancel()
			switch {
			case err != nil && ctx.Err() == nil:
				log.Warn("cloud downlink check failed", "err", err)
			case restarted:
				log.Warn("cloud dancers' actions had not arrived for a while with the link up; restarted their sourcing")
				checked = time.Now().Add(cloud.DownlinkStale) // give the new source time to hear from the cloud
			}
		}
		if linked && !ready && !time.Now().Before(next) {
			actx, cancel := context.WithTimeout(ctx, 30*time.Second)
			err := cloud.EnsureDJDownlink(actx, js, dj, cloud.Domain)
			cancel()
			if err != nil {
				if ctx.Err() != nil {
					return
				}
				log.Warn("cloud dancers' actions not followed yet; retrying", "in", backoff, "err", err)
				next, backoff = time.Now().Add(backoff), min(2*backoff, maxBackoff)
			} else {
				ready = true
				log.Info("cloud link set up: plays go up, cloud dancers' actions come down")
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// source picks where plays come from: the program named with --source
// (at --watch, or where it is found), else a history file named with
// --watch, else the DJ program found on this computer that was used last;
// none at all leaves manual entry (and --demo).
func (a *app) source(cfg lanConfig, log *slog.Logger) (src detect.Source, name, why string, err error) {
	if cfg.Demo {
		return nil, "", "", nil
	}
	opt := detect.Options{DataDir: cfg.Data, Import: cfg.Import, Listen: cfg.SourceListen, Logger: log.With("part", "source"),
		Policy: detect.Policy{MinAudible: max(cfg.MinAudible, time.Nanosecond), IgnoreDecks: cfg.IgnoreDecks}} // 0s means at once, not the default
	products := auto.All()
	env := a.env()
	env.DataDir = cfg.Data
	var p detect.Product
	var f detect.Found
	switch {
	case cfg.Source != "":
		p, _ = auto.Find(products, cfg.Source) // parseLAN checked it exists
		f = detect.Found{Product: p.ID, Path: cfg.Watch, Ready: true}
		if f.Path == "" && p.Locate != nil {
			// Nothing found is not the end: a listening source (Traktor's
			// broadcast, Engine DJ players) needs no files, and a file source
			// says in its own words what is missing.
			if found := p.Locate(env); len(found) > 0 {
				f = found[0]
				if !f.Ready {
					fmt.Fprintf(a.stdout, "%s: %s\n", p.Name, f.Why)
				}
			} else if p.Locate != nil {
				fmt.Fprintf(a.stdout, "%s was not found in its usual places on this computer; if it keeps its files elsewhere, say where with --watch.\n", p.Name)
			}
		}
	case cfg.Watch != "":
		p, f = detect.HistoryFileProduct(), detect.Found{Product: detect.SourceM3U, Path: cfg.Watch, Ready: true}
	default:
		r := auto.Detect(env, products, time.Now())
		fmt.Fprintln(a.stdout, r.Why)
		if r.Chosen == nil {
			return nil, "", r.Why, nil
		}
		p, f, why = r.Chosen.Product, r.Chosen.Found, r.Why
	}
	if why == "" {
		why = "Chosen with --source/--watch."
	}
	src, err = p.Open(f, opt)
	if err != nil {
		return nil, "", "", fmt.Errorf("follow %s: %w", p.Name, err)
	}
	return src, p.Name, why, nil
}

// follow turns each detected entry into a play. An entry that cannot be
// stored is not acknowledged, so the watcher offers it again.
func (a *app) follow(ctx context.Context, src detect.Source, eng *desktop.Engine, log *slog.Logger) error {
	return src.Run(ctx, func(ctx context.Context, e detect.Entry) error {
		e = tags.Enrich(e) // BPM, key and the recording's id from the file when the program did not say
		d := desktop.Detected{Track: e.Track(), At: e.PlayedAt, Key: e.ID, Source: e.Source}
		ev, dup, err := eng.Play(ctx, d)
		if errors.Is(err, bus.ErrInvalid) {
			// A program's odd BPM or key must not cost the dancers the
			// track: try once more with the title and artist alone.
			log.Warn("detected play has bad details; sending title and artist only", "title", e.Title, "err", err)
			d.Track = bus.NewTrack(e.Artist, e.Title)
			ev, dup, err = eng.Play(ctx, d)
		}
		if errors.Is(err, bus.ErrInvalid) {
			log.Warn("detected play skipped", "title", e.Title, "err", err)
			return nil // bad data will not get better by retrying
		}
		if err != nil {
			return err
		}
		if dup {
			log.Debug("history entry already played", "title", e.Title, "event", ev.ID)
		}
		return nil
	})
}

// manual reads "Artist - Title" lines typed in the terminal. End of input
// never stops the server.
func (a *app) manual(ctx context.Context, eng *desktop.Engine, log *slog.Logger) {
	if !a.typing() {
		return // not a terminal: nobody is typing
	}
	lines := make(chan string)
	go func() {
		// A blocking read of a terminal cannot be interrupted portably; this
		// goroutine ends with the process or at end of input.
		defer close(lines)
		sc := bufio.NewScanner(a.stdin)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			case <-ctx.Done():
				return
			}
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return
		case line, ok := <-lines:
			if !ok {
				return
			}
			a.manualLine(ctx, eng, strings.TrimSpace(line), log)
		}
	}
}

// typing reports whether standard input is a terminal a DJ can type in.
func (a *app) typing() bool {
	f, ok := a.stdin.(*os.File)
	if !ok || f == nil {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

func (a *app) manualLine(ctx context.Context, eng *desktop.Engine, line string, log *slog.Logger) {
	var err error
	switch line {
	case "":
		return
	case "/stop":
		err = eng.Stop(ctx)
	case "/end":
		err = eng.End(ctx, bus.EndByDJ)
	case "/help":
		fmt.Fprintln(a.stdout, "Type "+desktop.ManualSyntax+" and Enter to record a play; /stop: nothing playing; /end: end the session.")
		return
	default:
		var d desktop.Detected
		if d, err = desktop.ParseManual(line); err == nil {
			_, _, err = eng.Play(ctx, d)
		}
	}
	if err != nil {
		fmt.Fprintln(a.stdout, "Not recorded:", err)
		log.Debug("manual entry refused", "line", line, "err", err)
	}
}

func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}

// printConsole shows the DJ the console link of a session. The secret is
// in the fragment, which browsers never send to a server, and the link is
// on 127.0.0.1: it is for this laptop, not for the room.
func (a *app) printConsole(base, sid, secret string) {
	fmt.Fprintf(a.stdout, "\n  DJ console (keep it to yourself): %s/dj#s=%s&k=%s\n", base, sid, secret)
}

// printJoin prints where dancers join session sid, with a QR code of the
// link the gateway hands out (the cloud's while it is up).
func (a *app) printJoin(lk *links, sid string) {
	w := a.stdout
	for _, line := range lk.joinLines(sid) {
		fmt.Fprintln(w, "  "+line)
	}
	if base := lk.dancerBase(); base != "" {
		if qr, err := qrcode.New(base+"/s/"+sid, qrcode.Medium); err == nil {
			fmt.Fprintln(w, qr.ToSmallString(false))
		}
	}
}

// show prints one stored event for the DJ.
func (a *app) show(e bus.Event, lk *links) {
	w := a.stdout
	switch e.Type {
	case bus.TypeSessionStarted:
		fmt.Fprintln(w, "\nSession started.")
		a.printJoin(lk, e.Session)
	case bus.TypeTrackPlayed:
		t := e.Play.Track
		extra := ""
		if t.BPM > 0 {
			extra = fmt.Sprintf("  (%.0f BPM)", t.BPM)
		}
		fmt.Fprintf(w, "%s ▶ %s — %s%s\n", e.At.Local().Format("15:04"), orDash(t.Artist), t.Title, extra)
	case bus.TypeTrackStopped:
		fmt.Fprintln(w, "■ stopped")
	case bus.TypeSessionEnded:
		fmt.Fprintf(w, "Session ended (%s). The next play starts a new one.\n", e.Ended.Reason)
	}
}

// banner prints where phones join, with a QR code, and returns the base
// URL phones use.
func (a *app) banner(cfg lanConfig, id bus.Identity, bound string, src detect.Source, took time.Duration, eng *desktop.Engine) string {
	host, port, _ := net.SplitHostPort(bound)
	w := a.stdout
	fmt.Fprintf(w, "\nPika! LAN mode — %s (DJ id %s), serving in %d ms\n", cfg.DJName, id.DJ, took.Milliseconds())
	base := cfg.PublicURL
	ip := net.ParseIP(host)
	everywhere := ip == nil || ip.IsUnspecified()
	if base == "" {
		if everywhere {
			if addrs := lanAddresses(); len(addrs) > 0 {
				base = "http://" + net.JoinHostPort(addrs[0].String(), port)
				for _, other := range addrs[1:] {
					fmt.Fprintf(w, "  also reachable at http://%s (choose it with --public-url)\n", net.JoinHostPort(other.String(), port))
				}
			} else {
				base = "http://" + net.JoinHostPort("127.0.0.1", port)
				fmt.Fprintln(w, "  No Wi-Fi or Ethernet address found: phones cannot join until this laptop is on a network.")
			}
		} else {
			base = "http://" + bound
		}
	}
	fmt.Fprintf(w, "  serving on %s\n", bound)
	if everywhere {
		fmt.Fprintln(w, "  Listening on every network interface so phones on this Wi-Fi can join.")
		fmt.Fprintln(w, "  On public Wi-Fi, use --addr 127.0.0.1:3000 instead (then only this laptop can open it).")
	} else if ip.IsLoopback() {
		fmt.Fprintln(w, "  Listening on this laptop only: phones cannot join (use --addr :3000 to let them).")
	}
	join := base + "/"
	if st, ok := eng.State(); ok {
		join = base + "/s/" + st.ID
		fmt.Fprintf(w, "  Continuing session %s (%d plays so far).\n", st.ID, st.Plays)
	}
	fmt.Fprintf(w, "\n  Dancers: %s\n", join)
	if qr, err := qrcode.New(join, qrcode.Medium); err == nil {
		fmt.Fprintln(w, qr.ToSmallString(false))
	}
	switch {
	case cfg.Demo:
		fmt.Fprintf(w, "  Playing the demo list, one track every %s.\n", cfg.DemoEvery)
	case src != nil:
		if path := src.Status().Path; path != "" {
			fmt.Fprintf(w, "  Following %s (%s).\n", path, src.Name())
		} else {
			fmt.Fprintf(w, "  Following %s.\n", src.Name())
		}
	}
	if a.typing() {
		fmt.Fprintln(w, "  Type \"Artist - Title\" and Enter to record a play by hand; /help for more.")
	}
	fmt.Fprintln(w, "  Ctrl-C stops.")
	return base
}

func logLevel(s string) slog.Level {
	var l slog.Level
	_ = l.UnmarshalText([]byte(s))
	return l
}

// servePProf serves net/http/pprof on ln until ctx ends. It uses a mux of
// its own: importing net/http/pprof also registers it on
// http.DefaultServeMux, which nothing in this process serves, and the
// dancers' port is Fiber's, so the profiler is reachable only on ln.
func servePProf(ctx context.Context, g *errgroup.Group, ln net.Listener, log *slog.Logger) {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	// No write timeout: a CPU profile or trace streams for its ?seconds=.
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	g.Go(func() error {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Warn("profiler stopped", "err", err)
		}
		return nil // the profiler is an extra: it never stops the night
	})
	g.Go(func() error {
		<-ctx.Done()
		_ = srv.Close()
		return nil
	})
}

package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// options are one run's settings.
type options struct {
	DatabaseURL string // the server persists here: check every accepted action arrives once
	Dancers     int
	Foreign     int           // dancers following another session (must receive nothing of this one)
	Slow        float64       // fraction of dancers that stop reading
	SlowFill    time.Duration // how long the stopped phones fill their buffers before the plays
	Sources     int           // loopback source addresses
	DialConc    int           // dials at once
	StormConc   int           // reconnects at once in the storm
	BusTracks   int           // plays through the engine
	FileTracks  int           // plays appended to the history file
	Gap         time.Duration // between plays
	PhaseLimit  time.Duration // bound of each phase
	Timeout     time.Duration // one dial, one subscribe
	Settle      time.Duration // idle time before memory is read
	Storm       bool
	Actions     bool
	CPUProfile  string
	Progress    io.Writer // nil: no progress bar
	ProbeWrites bool
}

// Report is what a run measured; --json prints it as is.
type Report struct {
	Start     time.Time      `json:"start"`
	Target    string         `json:"target"`
	Mode      string         `json:"mode"`
	Dancers   int            `json:"dancers"`
	Foreign   int            `json:"foreign"`
	Slow      int            `json:"slow"`
	Sources   int            `json:"sources"`
	Connect   PhaseReport    `json:"connect"`
	Subscribe PhaseReport    `json:"subscribe"`
	JoinSec   float64        `json:"joinSeconds"`
	Idle      *IdleReport    `json:"idle,omitempty"`
	Plays     []PlaysReport  `json:"plays,omitempty"`
	Storm     *PhaseReport   `json:"storm,omitempty"`
	Actions   *ActionsReport `json:"actions,omitempty"`
	SlowPh    *SlowReport    `json:"slowPhones,omitempty"`
	Foreigns  int64          `json:"foreignFrames"` // frames of another session at any phone
	Leaks     int64          `json:"leakedTracks"`  // this session's tracks at the foreign group
	Server    serverStats    `json:"serverEnd"`
	Errors    []string       `json:"errors,omitempty"`
}

// PhaseReport is one bounded phase.
type PhaseReport struct {
	Want     int     `json:"want"`
	OK       int     `json:"ok"`
	Failed   int     `json:"failed"`
	Seconds  float64 `json:"seconds"`
	PerSec   float64 `json:"perSecond"`
	Latency  Dist    `json:"latencyMs"`
	FirstErr string  `json:"firstError,omitempty"`
	CPU      float64 `json:"serverCpuSeconds"`
}

// IdleReport is the server's cost of idle subscribed sockets.
type IdleReport struct {
	Before          serverStats `json:"before"`
	After           serverStats `json:"after"`
	AfterGC         serverStats `json:"afterGC"`
	KBPerSocket     float64     `json:"kbPerSocket"`
	KBPerSocketGC   float64     `json:"kbPerSocketAfterGC"`
	GoroutinesPerSk float64     `json:"goroutinesPerSocket"` // -1 unknown
	StackPerSocket  float64     `json:"stackKBPerSocket,omitempty"`
	HeapPerSocket   float64     `json:"heapKBPerSocket,omitempty"`
}

// PlaysReport is play → track.played frame at every phone, for one drive mode.
type PlaysReport struct {
	Drive         string    `json:"drive"` // "bus" (Engine.Play) or "file" (appended to the watched history)
	Tracks        int       `json:"tracks"`
	Phones        int       `json:"phones"`
	Latency       Dist      `json:"latencyMs"`
	Missed        int       `json:"missed"`
	Duplicates    int64     `json:"duplicates"`
	FramesPerTrk  float64   `json:"framesPerTrackPerPhone"`
	ServerFanout  Dist      `json:"serverFanoutMs"` // play → the server's last write of the frame, per track
	ServerWrites  []int     `json:"serverWrites,omitempty"`
	PerTrackP99   []float64 `json:"perTrackP99Ms"`
	CPU           float64   `json:"serverCpuSeconds"`
	CDF           []float64 `json:"cdfMs"` // latency at 0,1,…,100 %
	SlowReceiving int       `json:"slowPhonesExcluded"`
}

// ActionsReport is crowd actions sent by every phone at once.
type ActionsReport struct {
	Sent     int            `json:"sent"`
	OK       int64          `json:"ok"`
	Dup      int64          `json:"duplicate"`
	Codes    map[string]int `json:"errors"`
	Seconds  float64        `json:"seconds"`
	Accepted float64        `json:"acceptedPerSecond"`
	Answered int64          `json:"answered"`
	// Persisted is filled when the server persists to PostgreSQL.
	Persisted *PersistReport `json:"persisted,omitempty"`
}

// PersistReport compares what PostgreSQL holds with what the phones were
// told was accepted: none lost, none doubled.
type PersistReport struct {
	Expected  map[string]int64 `json:"expected"` // rows the accepted actions must leave, by table
	Found     map[string]int64 `json:"found"`
	Doubled   int64            `json:"doubled"`            // thanks stored more than once for one dancer
	Seconds   float64          `json:"seconds"`            // from the first action sent until every row was there
	PerSecond float64          `json:"persistedPerSecond"` // accepted actions / Seconds
	Complete  bool             `json:"complete"`
}

// SlowReport: phones that never read are dropped, the others not slowed.
type SlowReport struct {
	Slow        int            `json:"slow"`
	Dropped     int            `json:"dropped"`
	CloseCodes  map[string]int `json:"closeCodes"`
	OthersP99   float64        `json:"othersP99Ms"`
	OthersMiss  int            `json:"othersMissed"`
	BaselineP99 float64        `json:"baselineP99Ms"`
}

// Dist summarises samples in milliseconds.
type Dist struct {
	N   int     `json:"n"`
	P50 float64 `json:"p50"`
	P95 float64 `json:"p95"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
}

func dist(ms []float64) Dist {
	if len(ms) == 0 {
		return Dist{}
	}
	slices.Sort(ms)
	q := func(p float64) float64 { return ms[min(len(ms)-1, int(p*float64(len(ms))))] }
	return Dist{N: len(ms), P50: q(.50), P95: q(.95), P99: q(.99), Max: ms[len(ms)-1]}
}

func cdf(ms []float64) []float64 {
	if len(ms) == 0 {
		return nil
	}
	slices.Sort(ms)
	out := make([]float64, 101)
	for i := range out {
		out[i] = ms[min(len(ms)-1, i*len(ms)/100)]
	}
	return out
}

// runner carries one run.
type runner struct {
	o       options
	t       *target
	c       *crowd
	log     *slog.Logger
	rep     *Report
	track   int // next track number
	sid     string
	fanouts []float64
}

// run plays one DJ and the crowd against t, phase by phase.
func run(ctx context.Context, t *target, o options, log *slog.Logger) (*Report, error) {
	r := &runner{o: o, t: t, log: log, rep: &Report{Start: time.Now().UTC(), Target: t.Base, Dancers: o.Dancers, Foreign: o.Foreign, Sources: o.Sources}}
	total := o.Dancers + o.Foreign
	tracks := 2 + o.BusTracks*2 + o.FileTracks + 4 // warm-ups, the slow phase's repeat, a margin
	r.c = newCrowd(ctx, "ws"+strings.TrimPrefix(t.Base, "http")+"/ws", total, tracks, o.Sources, o.Timeout)
	t.crowd = func() *crowd { return r.c }
	defer r.dropAll()
	nslow := int(o.Slow * float64(o.Dancers))
	r.rep.Slow = nslow
	for i := range total {
		d := &dancer{idx: i, client: fmt.Sprintf("load-%06d-%08x", i, rand.Uint32())}
		if i >= o.Dancers {
			d.group = 1
		} else if nslow > 0 && i%max(1, o.Dancers/nslow) == 0 && countSlow(r.c.dancers) < nslow {
			d.slow = true
		}
		r.c.dancers = append(r.c.dancers, d)
	}

	before := t.stats(ctx, true)
	// The foreign group's session: started, followed, then ended; the
	// crowd's session starts with the next play. A socket must only ever
	// receive its own session's events.
	if o.Foreign > 0 {
		sidA, err := r.warmUp(ctx)
		if err != nil {
			return r.rep, err
		}
		group := r.c.dancers[o.Dancers:]
		for _, d := range group {
			d.sid = sidA
		}
		if _, err := r.connectAll(ctx, "foreign connect", group, o.DialConc); err != nil {
			return r.rep, err
		}
		if _, err := r.subscribeAll(ctx, "foreign subscribe", group, false); err != nil {
			return r.rep, err
		}
		if err := t.end(ctx); err != nil {
			return r.rep, err
		}
	}
	sid, err := r.warmUp(ctx)
	if err != nil {
		return r.rep, err
	}
	r.sid = sid
	crowd := r.c.dancers[:o.Dancers]
	for _, d := range crowd {
		d.sid = sid
	}
	if o.Foreign > 0 {
		before = t.stats(ctx, true)
	}

	cpu0 := t.stats(ctx, false).CPUSeconds
	ph, err := r.connectAll(ctx, "connect", crowd, o.DialConc)
	ph.CPU = t.stats(ctx, false).CPUSeconds - cpu0
	r.rep.Connect = ph
	if err != nil {
		return r.rep, err
	}
	cpu0 = t.stats(ctx, false).CPUSeconds
	ph, err = r.subscribeAll(ctx, "subscribe", crowd, false)
	ph.CPU = t.stats(ctx, false).CPUSeconds - cpu0
	r.rep.Subscribe = ph
	r.rep.JoinSec = r.rep.Connect.Seconds + r.rep.Subscribe.Seconds
	if err != nil {
		return r.rep, err
	}

	r.idle(ctx, before)

	if o.CPUProfile != "" {
		if err := t.profile(ctx, o.CPUProfile); err != nil {
			r.fail(err)
		} else {
			defer func() {
				if err := t.profile(context.Background(), ""); err != nil {
					r.fail(err)
				}
			}()
		}
	}
	if o.BusTracks > 0 && t.canPlay() {
		r.rep.Plays = append(r.rep.Plays, r.plays(ctx, "bus", o.BusTracks))
	}
	if o.FileTracks > 0 && t.History != "" {
		r.rep.Plays = append(r.rep.Plays, r.plays(ctx, "file", o.FileTracks))
	}
	if o.CPUProfile != "" {
		if err := t.profile(ctx, ""); err != nil {
			r.fail(err)
		}
	}
	if nslow > 0 {
		r.slowPhase(ctx)
	}
	if o.Actions {
		r.actions(ctx)
	}
	if o.Storm {
		ph := r.storm(ctx, crowd)
		r.rep.Storm = &ph
	}
	r.rep.Foreigns = r.c.foreign.Load()
	r.rep.Leaks = r.c.leaks.Load()
	r.rep.Server = t.stats(ctx, false)
	return r.rep, nil
}

func countSlow(ds []*dancer) int {
	n := 0
	for _, d := range ds {
		if d.slow {
			n++
		}
	}
	return n
}

func (r *runner) fail(err error) {
	r.log.Warn("load run", "err", err)
	r.rep.Errors = append(r.rep.Errors, err.Error())
}

// warmUp plays a track so a session exists, and returns its id.
func (r *runner) warmUp(ctx context.Context) (string, error) {
	k := r.track
	r.track++
	title := titlePrefix + strconv.Itoa(k)
	if r.t.canPlay() {
		return r.t.play(ctx, title)
	}
	if err := r.t.appendPlay(title); err != nil {
		return "", err
	}
	// A DJ program's file: wait for the server to show the session.
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		var list []struct {
			ID           string `json:"id"`
			CurrentTrack *struct {
				Title string `json:"title"`
			} `json:"currentTrack"`
		}
		if err := getJSON(ctx, r.t.Base+"/api/sessions", &list); err == nil {
			for _, s := range list {
				if s.CurrentTrack != nil && s.CurrentTrack.Title == title {
					return s.ID, nil
				}
			}
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("no session playing %q after 30 s: %w", title, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func getJSON(ctx context.Context, u string, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

// connectAll dials ds, conc at a time, within the phase limit.
func (r *runner) connectAll(ctx context.Context, name string, ds []*dancer, conc int) (PhaseReport, error) {
	ctx, cancel := context.WithTimeout(ctx, r.o.PhaseLimit)
	defer cancel()
	ph := PhaseReport{Want: len(ds)}
	var ok, failed atomic.Int64
	var mu sync.Mutex
	lat := make([]float64, 0, len(ds))
	stop := r.progress(name, len(ds), func() int { return int(ok.Load() + failed.Load()) })
	start := time.Now()
	work := make(chan *dancer)
	var wg sync.WaitGroup
	for range max(1, conc) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for d := range work {
				t0 := time.Now()
				if err := r.c.connect(ctx, d); err != nil {
					failed.Add(1)
					mu.Lock()
					if ph.FirstErr == "" {
						ph.FirstErr = err.Error()
					}
					mu.Unlock()
					continue
				}
				ok.Add(1)
				mu.Lock()
				lat = append(lat, ms(time.Since(t0)))
				mu.Unlock()
			}
		}()
	}
feed:
	for _, d := range ds {
		select {
		case work <- d:
		case <-ctx.Done():
			break feed
		}
	}
	close(work)
	wg.Wait()
	stop()
	ph.Seconds = time.Since(start).Seconds()
	ph.OK, ph.Failed = int(ok.Load()), len(ds)-int(ok.Load())
	ph.PerSec = float64(ph.OK) / ph.Seconds
	ph.Latency = dist(lat)
	if ph.OK == 0 {
		return ph, fmt.Errorf("%s: no dancer connected: %s", name, ph.FirstErr)
	}
	return ph, nil
}

// subscribeAll sends every connected dancer's subscribe and waits until
// each has its snapshot.
func (r *runner) subscribeAll(ctx context.Context, name string, ds []*dancer, lastSeq bool) (PhaseReport, error) {
	ctx, cancel := context.WithTimeout(ctx, r.o.PhaseLimit)
	defer cancel()
	ph := PhaseReport{}
	var live []*dancer
	for _, d := range ds {
		if d.ws != nil {
			d.snapAt.Store(0)
			live = append(live, d)
		}
	}
	ph.Want = len(live)
	start := time.Now()
	for _, d := range live {
		if err := d.subscribe(lastSeq); err != nil && ph.FirstErr == "" {
			ph.FirstErr = err.Error()
		}
	}
	got := func() int {
		n := 0
		for _, d := range live {
			if d.snapAt.Load() != 0 {
				n++
			}
		}
		return n
	}
	stop := r.progress(name, len(live), got)
	waitFor(ctx, func() bool { return got() == len(live) })
	stop()
	ph.Seconds = time.Since(start).Seconds()
	lat := make([]float64, 0, len(live))
	for _, d := range live {
		if at := d.snapAt.Load(); at != 0 {
			lat = append(lat, float64(at-d.subAt.Load())/1e6)
		}
	}
	ph.OK = len(lat)
	ph.Failed = len(live) - ph.OK
	ph.PerSec = float64(ph.OK) / ph.Seconds
	ph.Latency = dist(lat)
	if ph.Failed > 0 && ph.FirstErr == "" {
		ph.FirstErr = fmt.Sprintf("%d without a snapshot after %s", ph.Failed, r.o.PhaseLimit)
	}
	return ph, nil
}

// waitFor polls cond every 10 ms until it holds or ctx ends.
func waitFor(ctx context.Context, cond func() bool) bool {
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			return cond()
		case <-tick.C:
		}
	}
	return true
}

// idle lets the sockets settle and reads the server's cost per socket.
func (r *runner) idle(ctx context.Context, before serverStats) {
	select {
	case <-time.After(r.o.Settle):
	case <-ctx.Done():
		return
	}
	n := float64(r.rep.Subscribe.OK + r.o.Foreign)
	if n == 0 {
		return
	}
	ir := &IdleReport{Before: before, After: r.t.stats(ctx, false), AfterGC: r.t.stats(ctx, true), GoroutinesPerSk: -1}
	ir.KBPerSocket = float64(ir.After.RSSKB-before.RSSKB) / n
	ir.KBPerSocketGC = float64(ir.AfterGC.RSSKB-before.RSSKB) / n
	if ir.After.Goroutines >= 0 && before.Goroutines >= 0 {
		ir.GoroutinesPerSk = float64(ir.AfterGC.Goroutines-before.Goroutines) / n
	}
	if ir.AfterGC.StackInuse > 0 {
		ir.StackPerSocket = float64(int64(ir.AfterGC.StackInuse)-int64(before.StackInuse)) / n / 1024
		ir.HeapPerSocket = float64(int64(ir.AfterGC.HeapInuse)-int64(before.HeapInuse)) / n / 1024
	}
	r.rep.Idle = ir
}

// plays drives n plays one way and measures play → frame at every phone
// that reads.
func (r *runner) plays(ctx context.Context, drive string, n int) PlaysReport {
	pr := PlaysReport{Drive: drive, Tracks: n}
	var phones []*dancer
	for _, d := range r.c.dancers[:r.o.Dancers] {
		if d.ws != nil && d.snapAt.Load() != 0 && !d.paused.Load() {
			phones = append(phones, d)
		}
	}
	pr.Phones = len(phones)
	var all []float64
	cpu0 := r.t.stats(ctx, false).CPUSeconds
	for i := range n {
		k := r.track
		r.track++
		if k >= len(r.c.recv) {
			r.fail(errors.New("more tracks than planned"))
			break
		}
		title := titlePrefix + strconv.Itoa(k)
		t0 := time.Now()
		var err error
		if drive == "bus" {
			_, err = r.t.play(ctx, title)
		} else {
			err = r.t.appendPlay(title)
		}
		if err != nil {
			r.fail(err)
			continue
		}
		got := func() int {
			c := 0
			for _, d := range phones {
				if r.c.recv[k][d.idx].Load() != 0 {
					c++
				}
			}
			return c
		}
		pctx, cancel := context.WithTimeout(ctx, r.o.PhaseLimit)
		stop := r.progress(fmt.Sprintf("play %s %d/%d", drive, i+1, n), len(phones), got)
		waitFor(pctx, func() bool { return got() == len(phones) })
		stop()
		cancel()
		lat := make([]float64, 0, len(phones))
		for _, d := range phones {
			if at := r.c.recv[k][d.idx].Load(); at != 0 {
				lat = append(lat, float64(at-t0.UnixNano())/1e6)
			} else {
				pr.Missed++
			}
		}
		all = append(all, lat...)
		pr.PerTrackP99 = append(pr.PerTrackP99, dist(lat).P99)
		pr.Duplicates += r.c.dups[k].Load()
		// A phone can read its frame a moment before the server's write call
		// returns and is counted: wait (briefly) for the server's count to
		// catch up with what the phones received.
		f, ok := r.t.fanout(ctx, k)
		for deadline := time.Now().Add(2 * time.Second); ok && f.Writes < len(lat) && time.Now().Before(deadline); {
			time.Sleep(10 * time.Millisecond)
			f, ok = r.t.fanout(ctx, k)
		}
		if ok && f.Writes > 0 {
			pr.ServerWrites = append(pr.ServerWrites, f.Writes)
			pr.ServerFanout.N++
			all := float64(f.Last-t0.UnixNano()) / 1e6
			pr.ServerFanout.Max = max(pr.ServerFanout.Max, all)
			// ServerFanout holds per-track completion times; p50/p99 below.
			r.fanouts = append(r.fanouts, all)
		}
		if i < n-1 {
			select {
			case <-time.After(r.o.Gap):
			case <-ctx.Done():
			}
		}
	}
	pr.CPU = r.t.stats(ctx, false).CPUSeconds - cpu0
	if len(r.fanouts) > 0 {
		pr.ServerFanout = dist(r.fanouts)
		r.fanouts = nil
	}
	if len(phones) > 0 && n > 0 {
		pr.FramesPerTrk = float64(len(all)+int(pr.Duplicates)) / float64(len(phones)*n)
	}
	pr.CDF = cdf(slices.Clone(all))
	pr.Latency = dist(all)
	return pr
}

func ms(d time.Duration) float64 { return float64(d) / 1e6 }

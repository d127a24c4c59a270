package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
)

// slowPhase: a share of phones stop reading while the DJ keeps playing.
// They are expected to be dropped at their queue bound (close 4000) and
// the others not to be slowed. To fill a stopped phone's buffers within
// seconds rather than hours, each one (with a 4 KB receive buffer) keeps
// asking for snapshots, under the gateway's frame rate limit.
func (r *runner) slowPhase(ctx context.Context) {
	sr := &SlowReport{CloseCodes: map[string]int{}}
	var slow []*dancer
	for _, d := range r.c.dancers[:r.o.Dancers] {
		if d.slow && d.ws != nil {
			d.paused.Store(true)
			slow = append(slow, d)
		}
	}
	sr.Slow = len(slow)
	if len(r.rep.Plays) > 0 {
		sr.BaselineP99 = r.rep.Plays[0].Latency.P99
	}
	fctx, cancel := context.WithCancel(ctx)
	gone := make([]bool, len(slow)) // only the filler goroutine touches it
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(70 * time.Millisecond) // ~14 frames/s, under the 20/s limit
		defer tick.Stop()
		for {
			select {
			case <-fctx.Done():
				return
			case <-tick.C:
			}
			left := 0
			for i, d := range slow {
				if gone[i] || d.closeBy.Load() != 0 {
					continue
				}
				// A write that fails means the gateway dropped this phone:
				// stop filling it, so the filler costs the server no more
				// than the stuck phones themselves would.
				if err := d.subscribe(false); err != nil {
					gone[i] = true
					continue
				}
				left++
			}
			if left == 0 {
				return
			}
		}
	}()
	// Let the stopped phones fill up (and, with a long enough --slow-fill,
	// be dropped), then play.
	select {
	case <-time.After(r.o.SlowFill):
	case <-ctx.Done():
	}
	drive := "bus"
	if !r.t.canPlay() {
		drive = "file"
	}
	pr := r.plays(ctx, drive, max(2, r.o.BusTracks))
	pr.SlowReceiving = len(slow)
	sr.OthersP99, sr.OthersMiss = pr.Latency.P99, pr.Missed
	cancel()
	wg.Wait()
	// Read again: a dropped phone finds its connection closed.
	for _, d := range slow {
		d.unpause()
	}
	sctx, scancel := context.WithTimeout(ctx, 5*time.Second)
	waitFor(sctx, func() bool {
		for _, d := range slow {
			if d.closeBy.Load() == 0 {
				return false
			}
		}
		return true
	})
	scancel()
	for _, d := range slow {
		c := d.closeBy.Load()
		if c != 0 {
			sr.Dropped++
		}
		switch c {
		case 0:
			sr.CloseCodes["open"]++
		case -1:
			sr.CloseCodes["no close frame"]++
		default:
			sr.CloseCodes[strconv.Itoa(int(c))]++
		}
	}
	pr.Drive += " (slow phones stuck)"
	r.rep.Plays = append(r.rep.Plays, pr)
	r.rep.SlowPh = sr
}

// actions: every reading phone likes the last track, votes its tempo,
// says thank you and unlikes it, all at once; answers are counted by code.
func (r *runner) actions(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, r.o.PhaseLimit)
	defer cancel()
	ar := &ActionsReport{}
	playID := ""
	for k := r.track - 1; k >= 0 && playID == ""; k-- {
		if v, ok := r.c.playIDs[k].Load().(string); ok {
			playID = v
		}
	}
	var phones []*dancer
	for _, d := range r.c.dancers[:r.o.Dancers] {
		if d.ws != nil && d.closeBy.Load() == 0 && !d.slow {
			phones = append(phones, d)
		}
	}
	frames := []string{
		`{"type":"like","ref":"a1","playId":"` + playID + `"}`,
		`{"type":"tempo","ref":"a2","playId":"` + playID + `","tempo":"faster"}`,
		`{"type":"thanks","ref":"a3"}`,
		`{"type":"unlike","ref":"a4","playId":"` + playID + `"}`,
	}
	ok0, dup0 := r.c.actOK.Load(), r.c.actDup.Load()
	var by0 [5]int64
	for i := range by0 {
		by0[i] = r.c.actOKBy[i].Load()
	}
	codes0 := r.c.codeCounts()
	answered := func() int64 {
		n := r.c.actOK.Load() - ok0
		for k, v := range r.c.codeCounts() {
			n += int64(v - codes0[k])
		}
		return n
	}
	start := time.Now()
	var sent atomic.Int64
	var wg sync.WaitGroup
	const senders = 4
	for s := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, f := range frames {
				for i := s; i < len(phones); i += senders {
					if ctx.Err() != nil {
						return
					}
					if phones[i].write([]byte(f)) == nil {
						sent.Add(1)
					}
				}
			}
		}()
	}
	stop := r.progress("crowd actions", len(phones)*len(frames), func() int { return int(answered()) })
	wg.Wait()
	waitFor(ctx, func() bool { return answered() >= sent.Load() })
	stop()
	ar.Sent = int(sent.Load())
	ar.OK = r.c.actOK.Load() - ok0
	ar.Dup = r.c.actDup.Load() - dup0
	ar.Codes = map[string]int{}
	for k, v := range r.c.codeCounts() {
		if d := v - codes0[k]; d > 0 && !strings.HasPrefix(k, "subscribe:") {
			ar.Codes[k] = d
		}
	}
	ar.Answered = answered()
	end := time.Unix(0, r.c.lastAns.Load())
	ar.Seconds = end.Sub(start).Seconds()
	if ar.Seconds > 0 {
		ar.Accepted = float64(ar.OK) / ar.Seconds
	}
	if r.o.DatabaseURL != "" {
		var ok [5]int64
		for i := range ok {
			ok[i] = r.c.actOKBy[i].Load() - by0[i]
		}
		ar.Persisted = r.persisted(ctx, playID, ok, ar.OK, start)
	}
	r.rep.Actions = ar
}

// persisted waits until PostgreSQL holds what the accepted actions must
// leave there: a like row turned unliked for each accepted unlike, a tempo
// vote for each accepted vote, and one thank-you row per dancer.
func (r *runner) persisted(ctx context.Context, playID string, ok [5]int64, accepted int64, start time.Time) *PersistReport {
	pr := &PersistReport{
		Expected: map[string]int64{"likes (unliked)": ok[4], "tempo_votes": ok[2], "reactions": ok[3]},
		Found:    map[string]int64{},
	}
	ctx, cancel := context.WithTimeout(ctx, 2*r.o.PhaseLimit)
	defer cancel()
	db, err := pgx.Connect(ctx, r.o.DatabaseURL)
	if err != nil {
		r.log.Warn("read PostgreSQL", "err", err)
		return pr
	}
	defer db.Close(context.Background())
	read := func() error {
		var unliked, votes, thanks, thankers int64
		if err := db.QueryRow(ctx, `SELECT count(*) FILTER (WHERE NOT liked) FROM likes WHERE play_id = $1`, playID).Scan(&unliked); err != nil {
			return err
		}
		if err := db.QueryRow(ctx, `SELECT count(*) FROM tempo_votes WHERE play_id = $1`, playID).Scan(&votes); err != nil {
			return err
		}
		if err := db.QueryRow(ctx, `SELECT count(*), count(DISTINCT client_id) FROM reactions WHERE session_id = $1`, r.sid).Scan(&thanks, &thankers); err != nil {
			return err
		}
		pr.Found["likes (unliked)"], pr.Found["tempo_votes"], pr.Found["reactions"] = unliked, votes, thanks
		pr.Doubled = thanks - thankers
		return nil
	}
	stop := r.progress("persisted", int(ok[2]+ok[3]+ok[4]), func() int {
		return int(pr.Found["likes (unliked)"] + pr.Found["tempo_votes"] + pr.Found["reactions"])
	})
	defer stop()
	for {
		if err := read(); err != nil {
			if ctx.Err() == nil {
				r.log.Warn("read PostgreSQL", "err", err)
			}
			return pr
		}
		done := true
		for k, v := range pr.Expected {
			if pr.Found[k] < v {
				done = false
			}
		}
		if done {
			pr.Complete = true
			pr.Seconds = time.Since(start).Seconds()
			pr.PerSecond = float64(accepted) / pr.Seconds
			return pr
		}
		select {
		case <-ctx.Done():
			return pr
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// storm drops every socket at once and reconnects them all with their
// lastSeq: the time until every phone has its snapshot.
func (r *runner) storm(ctx context.Context, ds []*dancer) PhaseReport {
	ctx, cancel := context.WithTimeout(ctx, r.o.PhaseLimit)
	defer cancel()
	var live []*dancer
	for _, d := range ds {
		if d.ws != nil && !d.slow && d.closeBy.Load() == 0 {
			live = append(live, d)
		}
	}
	ph := PhaseReport{Want: len(live)}
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := i; j < len(live); j += 8 {
				live[j].drop()
			}
		}()
	}
	wg.Wait()
	for _, d := range live {
		d.snapAt.Store(0)
	}
	cpu0 := r.t.stats(ctx, false).CPUSeconds
	start := time.Now()
	sem := make(chan struct{}, max(1, r.o.StormConc))
	var failed atomic.Int64
	var firstErr atomic.Value
	for _, d := range live {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				failed.Add(1)
				return
			}
			defer func() { <-sem }()
			err := r.c.connect(ctx, d)
			if err == nil {
				err = d.subscribe(true)
			}
			if err != nil {
				failed.Add(1)
				firstErr.CompareAndSwap(nil, err.Error())
			}
		}()
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
	stop := r.progress("reconnect storm", len(live), got)
	waitFor(ctx, func() bool { return got() == len(live) })
	end := time.Now()
	stop()
	wg.Wait()
	ph.Seconds = end.Sub(start).Seconds()
	ph.OK = got()
	ph.Failed = len(live) - ph.OK
	ph.PerSec = float64(ph.OK) / ph.Seconds
	ph.CPU = r.t.stats(ctx, false).CPUSeconds - cpu0
	lat := make([]float64, 0, len(live))
	for _, d := range live {
		if at := d.snapAt.Load(); at != 0 {
			lat = append(lat, float64(at-start.UnixNano())/1e6)
		}
	}
	ph.Latency = dist(lat)
	if v, ok := firstErr.Load().(string); ok {
		ph.FirstErr = v
	}
	if f := failed.Load(); f > 0 && ph.FirstErr == "" {
		ph.FirstErr = fmt.Sprintf("%d reconnects failed", f)
	}
	return ph
}

// dropAll closes every socket the run opened and waits for their readers.
func (r *runner) dropAll() {
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := i; j < len(r.c.dancers); j += 8 {
				r.c.dancers[j].drop()
			}
		}()
	}
	wg.Wait()
}

// progress draws a bar on stderr until the returned stop is called.
func (r *runner) progress(name string, total int, done func() int) (stop func()) {
	w := r.o.Progress
	if w == nil {
		return func() {}
	}
	start := time.Now()
	draw := func() {
		n := done()
		const width = 30
		fill := 0
		if total > 0 {
			fill = min(width, n*width/total)
		}
		fmt.Fprintf(w, "\r%-26s [%s%s] %6d/%-6d %5.1fs", name, strings.Repeat("#", fill), strings.Repeat(".", width-fill), n, total, time.Since(start).Seconds())
	}
	quit := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-quit:
				return
			case <-t.C:
				draw()
			}
		}
	}()
	return func() {
		close(quit)
		wg.Wait()
		draw()
		fmt.Fprintln(w)
	}
}

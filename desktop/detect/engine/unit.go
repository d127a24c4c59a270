package engine

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/icedream/go-stagelinq"
)

// ourName is how Pika! announces itself to units.
const (
	ourName     = "pika"
	ourSoftware = "Pika!"
	ourVersion  = "1.0.0"
)

// notPlayers are software names of StagelinQ peers that are not players:
// Engine DJ desktop's analyser, lighting software. Units are otherwise told
// apart by offering a StateMap.
var notPlayers = []string{"OfflineAnalyzer", "SoundSwitch", "Resolume", ourSoftware}

// discover listens for unit announcements until ctx ends, following each
// unit that announces itself. If the port cannot be opened (another program
// holds it) it says so in Status and tries again.
func (s *Source) discover(ctx context.Context, wg *sync.WaitGroup) {
	for {
		pc, err := listenUDP(ctx, s.cfg.Listen)
		if err == nil {
			s.setListErr("")
			s.serve(ctx, pc, wg)
			return
		}
		msg := fmt.Sprintf("cannot listen for Engine DJ players on UDP port %s (is another program using it?): %v", portOf(s.cfg.Listen), err)
		s.log.Warn("cannot listen for StagelinQ announcements", "addr", s.cfg.Listen, "err", err)
		s.setListErr(msg)
		select {
		case <-ctx.Done():
			return
		case <-time.After(s.cfg.Retry):
		}
	}
}

func (s *Source) setListErr(msg string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.listErr = msg
}

// serve reads announcements from pc until ctx ends, and announces Pika!.
func (s *Source) serve(ctx context.Context, pc net.PacketConn, wg *sync.WaitGroup) {
	defer pc.Close()
	if s.cfg.onListen != nil {
		s.cfg.onListen(pc.LocalAddr())
	}
	// The announcer closes pc when ctx ends, after saying goodbye, which
	// also ends the read below.
	wg.Go(func() { s.announce(ctx, pc) })

	buf := make([]byte, 2048) // an announcement is ~100 bytes; longer is not one
	badLogged := false
	for {
		_ = pc.SetReadDeadline(time.Now().Add(time.Second))
		n, from, err := pc.ReadFrom(buf)
		if ctx.Err() != nil {
			return
		}
		s.expire()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			if errors.Is(err, net.ErrClosed) {
				return
			}
			s.log.Debug("reading StagelinQ announcements", "err", err)
			continue
		}
		a, err := parseAnnouncement(buf[:n])
		if err != nil {
			if !badLogged { // another protocol on the port: say it once
				s.log.Info("ignoring a datagram that is not a StagelinQ announcement", "from", from, "err", err)
				badLogged = true
			}
			continue
		}
		if a.Token == s.token {
			continue // our own announcement, looped back
		}
		ua, ok := from.(*net.UDPAddr)
		if !ok {
			continue
		}
		s.seen(ctx, wg, a, ua.IP)
	}
}

// announce tells units Pika! is there, every second; when ctx ends it says
// Pika! leaves and closes pc.
func (s *Source) announce(ctx context.Context, pc net.PacketConn) {
	a := announcement{Token: s.token, Name: ourName, Action: actionHowdy, Software: ourSoftware, Version: ourVersion}
	howdy := a.encode()
	a.Action = actionExit
	exit := a.encode()
	send := func(b []byte) {
		for _, to := range s.cfg.AnnounceTo() {
			_, _ = pc.WriteTo(b, to) // best effort: a unit also accepts clients it has not heard
		}
	}
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		send(howdy)
		select {
		case <-ctx.Done():
			send(exit)
			pc.Close()
			return
		case <-t.C:
		}
	}
}

// broadcastAddrs is the StagelinQ port on the broadcast address of every
// up IPv4 interface.
func broadcastAddrs() []*net.UDPAddr {
	ifaces, err := net.Interfaces()
	if err != nil {
		return nil
	}
	var out []*net.UDPAddr
	for _, ifc := range ifaces {
		if ifc.Flags&net.FlagUp == 0 {
			continue
		}
		addrs, err := ifc.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			ipn, ok := a.(*net.IPNet)
			if !ok {
				continue
			}
			ip4, mask := ipn.IP.To4(), ipn.Mask
			if ip4 == nil {
				continue
			}
			if len(mask) == net.IPv6len {
				mask = mask[12:]
			}
			if len(mask) != net.IPv4len {
				continue
			}
			b := make(net.IP, net.IPv4len)
			for i := range b {
				b[i] = ip4[i] | ^mask[i]
			}
			out = append(out, &net.UDPAddr{IP: b, Port: discoveryPort})
		}
	}
	return out
}

// seen records an announcement and follows a unit not followed yet.
func (s *Source) seen(ctx context.Context, wg *sync.WaitGroup, a announcement, ip net.IP) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.units[a.Token]
	if u == nil && a.Action == actionExit {
		return
	}
	if u == nil {
		u = &unit{ann: a}
		for _, np := range notPlayers {
			u.ignored = u.ignored || strings.HasPrefix(a.Software, np)
		}
		s.units[a.Token] = u
	}
	if a.Action == actionExit {
		s.log.Info("Engine DJ unit left the network", "unit", a.Name, "ip", ip)
		if u.cancel != nil {
			u.cancel()
			u.cancel = nil
		}
		return
	}
	u.ann, u.ip, u.lastSeen = a, ip, time.Now()
	if u.ignored || u.cancel != nil {
		return
	}
	uctx, cancel := context.WithCancel(ctx)
	u.cancel = cancel
	u.gen++
	gen := u.gen
	s.log.Info("Engine DJ unit found", "unit", a.Name, "software", a.Software, "version", a.Version, "ip", ip)
	wg.Go(func() { s.follow(uctx, u, gen) })
}

// expire stops following units that stopped announcing (switched off,
// cable pulled); they are followed again when they announce again.
func (s *Source) expire() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, u := range s.units {
		if u.cancel != nil && time.Since(u.lastSeen) > s.cfg.ExpireAfter {
			s.log.Info("Engine DJ unit stopped announcing", "unit", u.ann.Name, "ip", u.ip)
			u.cancel()
			u.cancel = nil
		}
	}
}

// errNoStateMap: the peer is not a player or mixer Pika! can read.
var errNoStateMap = errors.New("offers no StateMap")

// follow keeps a connection to one unit until ctx ends, reconnecting after
// a drop. gen is u.gen when it started: a unit that went away and came back
// is followed by a new follow, and this one leaves it alone.
func (s *Source) follow(ctx context.Context, u *unit, gen int) {
	for {
		s.mu.Lock()
		a, ip := u.ann, u.ip // where the unit last announced itself
		s.mu.Unlock()
		err := s.session(ctx, u, gen, a, ip)
		s.mu.Lock()
		if u.gen == gen {
			u.connected = false
			if ctx.Err() == nil && err != nil {
				u.err = fmt.Sprintf("%s at %s: %v", a.Name, ip, err)
			}
			if errors.Is(err, errNoStateMap) {
				u.ignored = true
			}
		}
		s.mu.Unlock()
		select {
		case s.changed <- struct{}{}: // its decks are gone
		default:
		}
		if ctx.Err() != nil || errors.Is(err, errNoStateMap) {
			return
		}
		s.log.Warn("lost the Engine DJ unit; reconnecting", "unit", a.Name, "ip", ip, "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(s.cfg.Retry):
		}
	}
}

// session is one connection to a unit: its main connection, kept open with
// keep-alives, and its StateMap, read until either drops or ctx ends.
func (s *Source) session(ctx context.Context, u *unit, gen int, a announcement, ip net.IP) error {
	ctx, cancel := context.WithCancelCause(ctx)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel(nil)

	d := net.Dialer{Timeout: 5 * time.Second}
	main, err := d.DialContext(ctx, "tcp", net.JoinHostPort(ip.String(), strconv.Itoa(int(a.Port))))
	if err != nil {
		return fmt.Errorf("cannot connect: %w", err)
	}
	defer main.Close()
	stopMain := context.AfterFunc(ctx, func() { main.Close() })
	defer stopMain()

	_ = main.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := main.Write(servicesRequest(s.token)); err != nil {
		return fmt.Errorf("ask for its services: %w", err)
	}
	r := bufio.NewReader(main)
	port, err := stateMapPort(r)
	if err != nil {
		return err
	}
	_ = main.SetDeadline(time.Time{})
	wg.Go(func() { // keep-alives out, anything in discarded; a drop ends the session
		for {
			if _, err := readMainMessage(r); err != nil {
				cancel(fmt.Errorf("connection dropped: %w", err))
				return
			}
		}
	})
	wg.Go(func() {
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if _, err := main.Write(reference(s.token, a.Token)); err != nil {
					cancel(fmt.Errorf("connection dropped: %w", err))
					return
				}
			}
		}
	})

	smConn, err := d.DialContext(ctx, "tcp", net.JoinHostPort(ip.String(), strconv.Itoa(int(port))))
	if err != nil {
		return fmt.Errorf("cannot open its StateMap: %w", err)
	}
	defer smConn.Close()
	stopSM := context.AfterFunc(ctx, func() { smConn.Close() })
	defer stopSM()
	sm, err := stagelinq.NewStateMapConnection(smConn, stagelinq.Token(s.token))
	if err != nil {
		return fmt.Errorf("cannot open its StateMap: %w", err)
	}
	// The StateMap's reader goroutine ends when smConn closes, but only
	// once nothing is left to hand over on StateC.
	defer func() {
		smConn.Close()
		for range sm.StateC() {
		}
	}()

	s.mu.Lock()
	if u.gen != gen {
		s.mu.Unlock()
		return context.Canceled // a newer follow has the unit
	}
	u.values = map[string]value{}
	u.connected, u.err = true, ""
	if u.firstConnAt.IsZero() {
		u.firstConnAt = s.cfg.Now()
	}
	s.mu.Unlock()
	s.log.Info("following Engine DJ unit", "unit", a.Name, "ip", ip)

	for _, p := range subscriptions() {
		if err := sm.Subscribe(p); err != nil {
			return fmt.Errorf("subscribe to its state: %w", err)
		}
	}
	for {
		select {
		case <-ctx.Done():
			return context.Cause(ctx)
		case st, ok := <-sm.StateC():
			if !ok {
				select {
				case err := <-sm.ErrorC():
					return fmt.Errorf("state connection dropped: %w", err)
				default:
					return errors.New("state connection dropped")
				}
			}
			s.apply(u, gen, st.Name, st.Value)
		}
	}
}

// stateMapPort reads the unit's service list (ended by a reference message)
// and returns where its StateMap listens.
func stateMapPort(r *bufio.Reader) (uint16, error) {
	var port uint16
	for range 64 { // a unit offers a handful of services
		m, err := readMainMessage(r)
		if err != nil {
			return 0, fmt.Errorf("read its services: %w", err)
		}
		switch {
		case m.ID == msgServiceAnnouncement && m.Service == "StateMap":
			port = m.Port
		case m.ID == msgReference:
			if port == 0 {
				return 0, errNoStateMap
			}
			return port, nil
		}
	}
	return 0, errors.New("read its services: endless service list")
}

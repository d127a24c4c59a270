package gateway

import (
	"errors"
	"log/slog"
	"net"
	"syscall"
	"time"
)

// backoffListener keeps accepting when the process runs out of file
// descriptors. fasthttp treats EMFILE from Accept as permanent and stops
// serving, which would end every dancer's night at the moment the room is
// fullest; instead we wait (5 ms doubling to 1 s) until sockets close and
// try again, logging at most once a minute.
type backoffListener struct {
	net.Listener
	log     *slog.Logger
	lastLog time.Time // only Accept's goroutine touches it
}

func (l *backoffListener) Accept() (net.Conn, error) {
	delay := 5 * time.Millisecond
	for {
		c, err := l.Listener.Accept()
		if err == nil || !resourceExhausted(err) {
			return c, err
		}
		if time.Since(l.lastLog) > time.Minute {
			l.lastLog = time.Now()
			l.log.Warn("out of file descriptors: new connections wait until some close", "err", err)
		}
		time.Sleep(delay)
		delay = min(2*delay, time.Second)
	}
}

// resourceExhausted reports the accept errors that pass once sockets close.
func resourceExhausted(err error) bool {
	return errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) ||
		errors.Is(err, syscall.ENOBUFS) || errors.Is(err, syscall.ENOMEM)
}

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

// sendBuffer caps each dancer socket's kernel send buffer (Linux doubles
// it, so 64 KB in all). Left alone, the kernel grows it to megabytes, and a
// phone that stopped reading takes that much before a write blocks and the
// gateway notices and drops it; until then it costs as much as a phone that
// reads. 64 KB holds a full snapshot (50 plays and the tally) twice over,
// and at a Wi-Fi round trip of 50 ms still moves over 1 MB/s per phone.
const sendBuffer = 32 << 10

func (l *backoffListener) Accept() (net.Conn, error) {
	delay := 5 * time.Millisecond
	for {
		c, err := l.Listener.Accept()
		if err == nil {
			// *net.TCPConn has it; a wrapping conn (a test probe) may pass it on.
			if wb, ok := c.(interface{ SetWriteBuffer(int) error }); ok {
				_ = wb.SetWriteBuffer(sendBuffer) // best effort: the default only delays noticing a stuck phone
			}
			return c, nil
		}
		if !resourceExhausted(err) {
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

package gateway

import (
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

// sendRoom is about how many more bytes the socket's kernel send buffer
// takes before a write blocks: half its size (the kernel doubles what was
// asked, and counts its own overhead against it) less the bytes still
// unsent or unacknowledged (SIOCOUTQ). ok is false when the socket cannot
// be asked. *size caches the buffer's size (0: not read yet): it is fixed
// once accepted, and each write saves a system call.
func sendRoom(nc net.Conn, size *int) (room int, ok bool) {
	// fasthttp hands a hijacked socket over wrapped; UnsafeConn is the
	// socket itself.
	if u, isWrapped := nc.(interface{ UnsafeConn() net.Conn }); isWrapped {
		nc = u.UnsafeConn()
	}
	sc, isSys := nc.(syscall.Conn)
	if !isSys {
		return 0, false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return 0, false
	}
	var queued int
	var qerr, serr error
	if err := rc.Control(func(fd uintptr) {
		queued, qerr = unix.IoctlGetInt(int(fd), unix.SIOCOUTQ)
		if *size == 0 {
			*size, serr = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_SNDBUF)
		}
	}); err != nil || qerr != nil || serr != nil {
		return 0, false
	}
	return *size/2 - queued, true
}

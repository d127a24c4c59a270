package engine

import "syscall"

// shareSocket: on Linux SO_REUSEADDR lets several sockets receive the
// units' broadcasts. (SO_REUSEPORT would instead spread datagrams sent to
// one address between them.)
func shareSocket(_, _ string, c syscall.RawConn) error {
	var err error
	cerr := c.Control(func(fd uintptr) {
		if err = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1); err != nil {
			return
		}
		err = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_BROADCAST, 1)
	})
	if cerr != nil {
		return cerr
	}
	return err
}

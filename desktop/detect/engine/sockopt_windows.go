package engine

import "syscall"

// shareSocket lets Engine DJ desktop or another StagelinQ client on the same
// computer listen on the port too.
func shareSocket(_, _ string, c syscall.RawConn) error {
	var err error
	cerr := c.Control(func(fd uintptr) {
		if err = syscall.SetsockoptInt(syscall.Handle(fd), syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1); err != nil {
			return
		}
		err = syscall.SetsockoptInt(syscall.Handle(fd), syscall.SOL_SOCKET, syscall.SO_BROADCAST, 1)
	})
	if cerr != nil {
		return cerr
	}
	return err
}

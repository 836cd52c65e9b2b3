package loadgen

import (
	"net/netip"
	"os"
	"syscall"
)

// bindSource binds the socket fd to the source address a, if valid,
// before it connects: the event loops' equivalent of net.Dialer's
// LocalAddr. The port is left to the kernel, as for a dial.
func bindSource(fd int, a netip.Addr) error {
	if !a.IsValid() {
		return nil
	}
	var sa syscall.Sockaddr
	if a.Is4() {
		sa = &syscall.SockaddrInet4{Addr: a.As4()}
	} else {
		sa = &syscall.SockaddrInet6{Addr: a.As16()}
	}
	if err := syscall.Bind(fd, sa); err != nil {
		return os.NewSyscallError("bind", err)
	}
	return nil
}

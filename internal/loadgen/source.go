package loadgen

import (
	"net"
)

// localAddr returns the address the plan's connections are made from
// (Plan.SourceAddr) for a net.Dialer, or nil for the system's choice.
func (p *Plan) localAddr() net.Addr {
	if !p.SourceAddr.IsValid() {
		return nil
	}
	return &net.TCPAddr{IP: p.SourceAddr.AsSlice()}
}

package node

import (
	"github.com/peerpath/peerpath/internal/tunnel"
)

// fileServices holds the services this node exposes (internal/tunnel).
const fileServices = "services.json"

// newTunnel builds the service that shares local TCP services with chosen
// peers. A priced service's bytes go to the traffic meter, and peers may be
// named by their contact names, so it comes after newMeter and
// newContacts; the daemon's own API address is never exposed.
func (n *Node) newTunnel() error {
	t, err := tunnel.New(tunnel.Config{
		Host:       n.p2p.Host(),
		Path:       n.home.Path(fileServices),
		Meter:      n.meter,
		PaysPerGiB: n.meter.PricePerGiB(),
		Resolve:    contactPeers{n.contacts}.Resolve,
		Forbidden:  []string{n.apiLn.Addr().String()},
		Logger:     n.log.With("sys", "tunnel"),
	})
	if err != nil {
		return err
	}
	n.tunnel = t
	return nil
}

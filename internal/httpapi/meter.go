package httpapi

import (
	"net/http"

	"github.com/peerpath/peerpath/api"
	"github.com/peerpath/peerpath/internal/meter"
)

// meterRoutes serves GET /api/v1/meter: per-peer usage and receipts, and
// the bytes per shared service and peer when t is not nil.
func meterRoutes(m Meter, t Tunnel) []route {
	return []route{{pattern: "GET /api/v1/meter", fn: func(_ http.ResponseWriter, r *http.Request) (any, error) {
		counts, err := m.Receipts(r.Context())
		if err != nil {
			return nil, err
		}
		out := api.Meter{
			PricePerGiB: credits(m.PricePerGiB()),
			Receipts: map[string]int{"evidence": counts.Evidence, "pending": counts.Pending,
				"settled": counts.Settled, "failed": counts.Failed},
			Peers: []api.PeerUsage{},
		}
		for _, u := range m.Usage() {
			out.Peers = append(out.Peers, api.PeerUsage{
				Peer: u.Peer, Uploaded: u.Uploaded, Downloaded: u.Downloaded,
				UnitsRun: u.UnitsRun, UnitsUsed: u.UnitsUsed,
				ReceiptedIn: u.ReceiptedIn, ReceiptedOut: u.ReceiptedOut,
				PaidIn: credits(u.PaidIn), BilledOut: credits(u.BilledOut),
				Class: className(u.Class),
			})
		}
		if t != nil {
			out.Services = serviceUsage(t)
		}
		return out, nil
	}}}
}

func className(c int) string {
	switch c {
	case meter.ClassPays:
		return "pays"
	case meter.ClassReciprocates:
		return "reciprocates"
	}
	return "other"
}

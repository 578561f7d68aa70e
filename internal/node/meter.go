package node

import (
	"context"
	"fmt"
	"net/http"

	"github.com/peerpath/peerpath/api"
	"github.com/peerpath/peerpath/internal/ledger"
	"github.com/peerpath/peerpath/internal/meter"
)

// newMeter builds the traffic and compute meter. Its payments settle
// through n.ledger, which is built after it (the closure reads the field
// when a payment is due, by which time the node is assembled).
func (n *Node) newMeter(ctx context.Context) error {
	cfg := n.opts.Config
	var price int64
	if cfg.PricePerGiB != "" {
		p, err := ledger.ParseCredits(cfg.PricePerGiB)
		if err != nil || p < 0 {
			return fmt.Errorf("node: price_per_gib %q: want a number of credits, 0 or more", cfg.PricePerGiB)
		}
		price = p
	}
	receiptEvery, settleEvery := cfg.Durations()
	m, err := meter.New(ctx, meter.Config{
		Host:        n.p2p.Host(),
		DB:          n.db,
		Key:         n.p2p.Host().Peerstore().PrivKey(n.ID()),
		PricePerGiB: price,
		Submit: func(ctx context.Context, st ledger.SignedTransfer) (ledger.Receipt, error) {
			return n.ledger.Submit(ctx, st)
		},
		Logger:       n.log.With("sys", "meter"),
		ReceiptEvery: receiptEvery,
		SettleEvery:  settleEvery,
	})
	if err != nil {
		return err
	}
	n.meter = m
	n.api.HandleFunc("GET /api/v1/meter", func(_ http.ResponseWriter, r *http.Request) (any, error) {
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
		return out, nil
	})
	return nil
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

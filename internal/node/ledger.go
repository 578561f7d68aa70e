package node

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/peerpath/peerpath/internal/ledger"
)

func (n *Node) newLedger(ctx context.Context) error {
	cfg := n.opts.Config
	var hints []peer.ID
	for _, s := range cfg.LedgerVoters {
		id, err := peer.Decode(s)
		if err != nil {
			return fmt.Errorf("node: ledger_voters: bad peer ID %q: %w", s, err)
		}
		hints = append(hints, id)
	}
	// A fresh voter told no voters trusts the peers it was told to
	// bootstrap from to invite it into a ledger (see ledger.Invitation).
	var inviters []peer.ID
	for _, s := range cfg.Bootstrap {
		if ai, err := peer.AddrInfoFromString(s); err == nil {
			inviters = append(inviters, ai.ID)
		}
	}
	l, err := ledger.New(ctx, ledger.Config{
		Host:     n.p2p.Host(),
		Dir:      filepath.Join(string(n.home), "ledger"),
		Logger:   n.log.With("sys", "ledger"),
		Voter:    cfg.LedgerVoter,
		Voters:   hints,
		Inviters: inviters,
	})
	if err != nil {
		return err
	}
	n.ledger = l
	if n.wallet, err = ledger.NewWallet(n.p2p.Host().Peerstore().PrivKey(n.ID()), l); err != nil {
		return err
	}
	return nil
}

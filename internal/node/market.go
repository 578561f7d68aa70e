package node

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/peerpath/peerpath/internal/market"
	"github.com/peerpath/peerpath/internal/search"
	"github.com/peerpath/peerpath/internal/share"
	"github.com/peerpath/peerpath/internal/transfer"
)

// marketFiles adapts the share and transfer services to market.Files.
type marketFiles struct {
	share    *share.Service
	transfer *transfer.Service
	search   *search.Service
}

// Share shares path and indexes it before returning, so the node's own
// new listing is found by its next search at once.
func (m marketFiles) Share(ctx context.Context, path string) (string, error) {
	s, err := m.share.Add(ctx, path)
	if err != nil {
		return "", err
	}
	if m.search != nil {
		if err := m.search.Sync(ctx); err != nil {
			return "", err
		}
	}
	return s.CID, nil
}

func (m marketFiles) Unshare(ctx context.Context, path string) error {
	return m.share.Remove(ctx, path)
}

func (m marketFiles) Fetch(ctx context.Context, id, out string) error {
	c, err := cid.Decode(id)
	if err != nil {
		return fmt.Errorf("node: market: bad content id %q: %w", id, err)
	}
	_, err = m.transfer.Get(ctx, c, transfer.GetOptions{Output: out, Timeout: 20 * time.Second})
	return err
}

// marketFinder adapts the search service to market.Finder.
type marketFinder struct{ s *search.Service }

func (m marketFinder) Find(ctx context.Context, query string, emit func(market.Hit)) error {
	return m.s.Search(ctx, query, search.Options{}, func(r search.Result) {
		emit(market.Hit{CID: r.CID, Name: r.Name, Score: r.Score, Providers: r.Providers})
	})
}

// newMarket builds the market service; call it after newFiles, newLedger
// and newSearch. Its Serve settles escrowed orders when
// this node is a ledger voter.
func (n *Node) newMarket(ctx context.Context) (*market.Service, error) {
	m, err := market.New(market.Config{
		Key:    n.p2p.Host().Peerstore().PrivKey(n.ID()),
		Dir:    n.marketDir(),
		Ledger: n.ledger,
		Files:  marketFiles{n.share, n.transfer, n.search},
		Finder: marketFinder{n.search},
		Logger: n.log.With("sys", "market"),
	})
	if err != nil {
		return nil, err
	}
	return m, nil
}

// marketDir is HOME/market, where the market keeps its goods, listings and
// cache.
func (n *Node) marketDir() string { return filepath.Join(string(n.home), "market") }

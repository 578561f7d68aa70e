package node

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/peerpath/peerpath/internal/compute/computecontent"
	"github.com/peerpath/peerpath/internal/market"
	"github.com/peerpath/peerpath/internal/share"
	"github.com/peerpath/peerpath/internal/transfer"
)

// computeDir is HOME/compute, absolute (as the share catalog keeps paths).
func (n *Node) computeDir() string {
	dir := filepath.Join(string(n.home), "compute")
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs
	}
	return dir
}

// newComputeContent builds compute's content over the share and transfer
// services.
func newComputeContent(n *Node) (*computecontent.Content, error) {
	return computecontent.New(computecontent.Config{
		Dir:     n.computeDir(),
		Self:    n.ID(),
		Shares:  computeShares{n.share},
		Fetcher: computeFetcher{n.transfer},
	})
}

// computeShares adapts the share service to computecontent.Shares.
type computeShares struct{ s *share.Service }

func (c computeShares) Share(ctx context.Context, path string) (string, error) {
	sh, err := c.s.Add(ctx, path)
	return sh.CID, err
}

func (c computeShares) Unshare(ctx context.Context, path string) error {
	if err := c.s.Remove(ctx, path); err != nil && !errors.Is(err, share.ErrNotShared) {
		return err
	}
	return nil
}

func (c computeShares) Manifest(ctx context.Context, id cid.Cid) ([]byte, error) {
	return c.s.Manifest(ctx, id)
}

func (c computeShares) Chunk(ctx context.Context, id cid.Cid, buf []byte) ([]byte, error) {
	return c.s.Chunk(ctx, id, buf)
}

// computeFetcher adapts the transfer service to computecontent.Fetcher.
type computeFetcher struct{ t *transfer.Service }

func (c computeFetcher) FetchManifestAny(ctx context.Context, id cid.Cid, first peer.ID) ([]byte, error) {
	return c.t.FetchManifestAny(ctx, id, first)
}

func (c computeFetcher) Fetch(ctx context.Context, id cid.Cid, out string, timeout time.Duration) error {
	_, err := c.t.Get(ctx, id, transfer.GetOptions{Output: out, Timeout: timeout})
	if errors.Is(err, transfer.ErrExists) {
		return fmt.Errorf("%w: %w", computecontent.ErrExists, err)
	}
	return err
}

// publicCatalog is the share catalog without the node's compute content
// and market goods: job modules, inputs and outputs, and the encrypted
// goods, are shared for the peers that name them by id, not offered to
// searches. The market's listing documents stay: the market finds
// listings through the search (the user-facing search hides them, see
// httpapi).
type publicCatalog struct {
	share  *share.Service
	dir    string // HOME/compute
	market string // HOME/market (empty: none)
}

func (p publicCatalog) Files(ctx context.Context) ([]share.FileEntry, error) {
	all, err := p.share.Files(ctx)
	if err != nil {
		return nil, err
	}
	prefix := p.dir + string(filepath.Separator)
	mprefix := p.market + string(filepath.Separator)
	return slices.DeleteFunc(all, func(e share.FileEntry) bool {
		if strings.HasPrefix(e.Share, prefix) {
			return true
		}
		return p.market != "" && strings.HasPrefix(e.Share, mprefix) && !strings.HasSuffix(e.Name, market.ListingSuffix)
	}), nil
}

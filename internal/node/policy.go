package node

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/ipfs/go-cid"

	"github.com/peerpath/peerpath/internal/policy"
	"github.com/peerpath/peerpath/internal/share"
	"github.com/peerpath/peerpath/internal/transfer"
)

// newPolicy loads the content policy's lists from HOME/policy. It comes
// before the services that consult it (transfer, search).
func (n *Node) newPolicy() error {
	p, err := policy.Open(policy.Config{
		Dir:    filepath.Join(string(n.home), "policy"),
		Logger: n.log.With("sys", "policy"),
	})
	if err != nil {
		return err
	}
	n.policy = p
	return nil
}

// policySource serves share's blocks under the content policy: a manifest
// the policy refuses is refused (transfer checks ids itself too), and so
// is a chunk found only in files the policy refuses. A chunk that is also
// part of a file the policy allows is served: the same bytes belong to
// content nobody refused.
type policySource struct {
	src    transfer.BlockSource
	share  *share.Service
	policy *policy.Policy
}

func (p policySource) Manifest(ctx context.Context, id cid.Cid) ([]byte, error) {
	if p.policy.Refuses(id) {
		return nil, fmt.Errorf("%w: %s", transfer.ErrRefused, id)
	}
	return p.src.Manifest(ctx, id)
}

func (p policySource) Chunk(ctx context.Context, id cid.Cid, buf []byte) ([]byte, error) {
	if !p.policy.Empty() {
		files, err := p.share.ChunkFiles(ctx, id)
		if err == nil && len(files) > 0 {
			refused := 0
			for _, f := range files {
				if p.policy.Refuses(f) {
					refused++
				}
			}
			if refused == len(files) {
				return nil, fmt.Errorf("%w: chunk %s of %s", transfer.ErrRefused, id, files[0])
			}
		}
	}
	return p.src.Chunk(ctx, id, buf)
}

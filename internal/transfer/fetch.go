package transfer

import (
	"context"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
)

// FetchManifest asks peer p for the manifest named id and returns its
// bytes once they hash to id and decode as a valid manifest. Search uses it
// to check a peer's claims against what it really serves.
func (s *Service) FetchManifest(ctx context.Context, p peer.ID, id cid.Cid) ([]byte, error) {
	ss := s.newSession(id, GetOptions{Timeout: 10 * time.Second})
	raw, _, err := ss.manifestFrom(ctx, peer.AddrInfo{ID: p}, id)
	return raw, err
}

package transfer

import (
	"context"
	"errors"
	"fmt"
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

// maxManifestTries bounds how many providers FetchManifestAny asks.
const maxManifestTries = 8

// FetchManifestAny returns the manifest named id from first, or, when first
// cannot give it (gone, or lying), from the other providers the finder
// knows, up to maxManifestTries of them in all. The bytes are verified as
// FetchManifest's are.
func (s *Service) FetchManifestAny(ctx context.Context, id cid.Cid, first peer.ID) ([]byte, error) {
	var errs []error
	tried := map[peer.ID]bool{s.cfg.Host.ID(): true}
	try := func(ai peer.AddrInfo) ([]byte, bool) {
		if tried[ai.ID] || len(tried) > maxManifestTries {
			return nil, false
		}
		tried[ai.ID] = true
		ss := s.newSession(id, GetOptions{Timeout: 10 * time.Second})
		raw, _, err := ss.manifestFrom(ctx, ai, id)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", ai.ID, err))
			return nil, false
		}
		return raw, true
	}
	if first != "" {
		if raw, ok := try(peer.AddrInfo{ID: first}); ok {
			return raw, nil
		}
	}
	if f := s.cfg.Finder; f != nil && ctx.Err() == nil {
		fctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		ais, err := f.FindProviders(fctx, id)
		cancel()
		if err != nil {
			errs = append(errs, fmt.Errorf("finding providers: %w", err))
		}
		for _, ai := range ais {
			if raw, ok := try(ai); ok {
				return raw, nil
			}
		}
	}
	if len(errs) == 0 {
		return nil, fmt.Errorf("%w: no provider of manifest %s", ErrNoProviders, id)
	}
	return nil, fmt.Errorf("manifest %s: %w", id, errors.Join(errs...))
}

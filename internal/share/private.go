package share

import (
	"context"
	"path/filepath"
	"strings"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/peerpath/peerpath/internal/p2p"
)

// Private shares are the files a node sends to one peer (HOME/outbox):
// shared so that peer can fetch them, but outside the public catalogue.
// A share whose path lies in one of [Config.Private]'s folders is never
// announced, never listed ([Service.List], [Service.Files], so never in
// the search index), and its manifests and chunks are served only to a
// remote peer that [Config.MayServe] allows for the share's root id (the
// serving layer puts the stream's authenticated peer in the context with
// [p2p.WithRemotePeer]). A local read (no remote peer in the context) is
// served. Content that is also in a public share is public anyway.

// isPrivate reports whether path lies in one of Config.Private's folders.
func (s *Service) isPrivate(path string) bool {
	return inAny(s.cfg.Private, path)
}

func inAny(dirs []string, path string) bool {
	for _, dir := range dirs {
		if dir == "" {
			continue
		}
		if rel, err := filepath.Rel(dir, path); err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
			return true
		}
	}
	return false
}

// mayRead reports whether the peer serving ctx (if any) may read content
// of the share at rootPath whose root id is rootCID.
func (s *Service) mayRead(ctx context.Context, rootPath, rootCID string) bool {
	if !s.isPrivate(rootPath) {
		return true
	}
	p, ok := p2p.RemotePeer(ctx)
	if !ok {
		return true
	}
	return s.cfg.MayServe != nil && s.cfg.MayServe(p, rootCID)
}

// manifestAllowed reports whether the peer serving ctx may read manifest
// id: it is in a public share, or in a private one that peer may read.
func (s *Service) manifestAllowed(ctx context.Context, id string) bool {
	if len(s.cfg.Private) == 0 || !s.privateRoots.Load() {
		return true
	}
	if _, ok := p2p.RemotePeer(ctx); !ok {
		return true
	}
	st, err := s.db.Prepared(ctx, `SELECT r.path, r.root_cid FROM share_files f JOIN share_roots r ON r.id = f.share_id
		WHERE f.cid = ? UNION SELECT path, root_cid FROM share_roots WHERE root_cid = ?`)
	if err != nil {
		return false
	}
	rows, err := st.QueryContext(ctx, id, id)
	if err != nil {
		return false
	}
	defer rows.Close()
	found := false
	for rows.Next() {
		var path, root string
		if rows.Scan(&path, &root) != nil {
			return false
		}
		found = true
		if s.mayRead(ctx, path, root) {
			return true
		}
	}
	// A manifest in no share (a leftover of a removed one) is served as
	// before: it names no private share.
	return !found && rows.Err() == nil
}

// mayServeFunc is Config.MayServe's type.
type mayServeFunc = func(p peer.ID, rootCID string) bool

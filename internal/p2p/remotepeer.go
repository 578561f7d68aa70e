package p2p

import (
	"context"

	"github.com/libp2p/go-libp2p/core/peer"
)

type remotePeerKey struct{}

// WithRemotePeer returns ctx carrying p, the authenticated remote peer of
// the stream being served, so that a lower layer (a block source) can
// decide what p may read without a peer argument in its interface.
func WithRemotePeer(ctx context.Context, p peer.ID) context.Context {
	return context.WithValue(ctx, remotePeerKey{}, p)
}

// RemotePeer returns the peer [WithRemotePeer] put in ctx; ok is false for
// a context that serves no remote peer (a local read).
func RemotePeer(ctx context.Context) (p peer.ID, ok bool) {
	p, ok = ctx.Value(remotePeerKey{}).(peer.ID)
	return p, ok && p != ""
}

package node

import (
	"context"
	"path/filepath"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/peerpath/peerpath/internal/publish"
	"github.com/peerpath/peerpath/internal/storage"
)

// newPublish builds the publishing service over the storage layer (built
// before it, in newStorage).
func (n *Node) newPublish(ctx context.Context) error {
	p, err := publish.New(ctx, publish.Config{
		Host:      n.p2p.Host(),
		DB:        n.db,
		Store:     publishStore{n.storage},
		Routing:   storageRouting{n.p2p},
		Logger:    n.log.With("sys", "publish"),
		Downloads: filepath.Join(string(n.home), "downloads"),
		Policy:    n.policy,
	})
	if err != nil {
		return err
	}
	n.publish = p
	return nil
}

// publishStore gives the publishing service the storage layer, with
// references as strings and the holders a put chose.
type publishStore struct{ s *storage.Service }

func (p publishStore) Put(ctx context.Context, plain []byte, k, n int, secret []byte) (string, []peer.ID, error) {
	ref, err := p.s.Put(ctx, plain, storage.PutOptions{K: k, N: n, Secret: secret})
	if err != nil {
		return "", nil, err
	}
	var hs []peer.ID
	for _, h := range ref.Holders {
		if id, err := peer.Decode(h); err == nil {
			hs = append(hs, id)
		}
	}
	return ref.String(), hs, nil
}

func (p publishStore) Get(ctx context.Context, ref string) ([]byte, error) {
	r, err := storage.ParseRef(ref)
	if err != nil {
		return nil, err
	}
	return p.s.Get(ctx, r)
}

func (p publishStore) Delete(ctx context.Context, ref string, secret []byte) (int, error) {
	r, err := storage.ParseRef(ref)
	if err != nil {
		return 0, err
	}
	return p.s.Delete(ctx, r, secret)
}

func (p publishStore) Offering(ctx context.Context) bool {
	st, err := p.s.Status(ctx)
	return err == nil && st.Offer.Bytes > 0
}

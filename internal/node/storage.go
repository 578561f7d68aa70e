package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/peerpath/peerpath/internal/backup"
	"github.com/peerpath/peerpath/internal/ledger"
	"github.com/peerpath/peerpath/internal/p2p"
	"github.com/peerpath/peerpath/internal/storage"
)

// newStorage builds the storage layer (after the ledger, which pays its
// leases) and the backup service over it.
func (n *Node) newStorage(ctx context.Context) error {
	s, err := storage.New(ctx, storage.Config{
		Host:     n.p2p.Host(),
		DB:       n.db,
		Dir:      filepath.Join(string(n.home), "storage"),
		Routing:  storageRouting{n.p2p},
		Payments: leasePayments{w: n.wallet, l: n.ledger, self: n.ID()},
		Logger:   n.log.With("sys", "storage"),
	})
	if err != nil {
		return err
	}
	n.storage = s
	n.backup, err = backup.New(ctx, backup.Config{DB: n.db, Store: backupStore{s}, Logger: n.log.With("sys", "backup")})
	return err
}

// storageRouting gives the storage layer the DHT: provider records of
// offers and shares, and peer lookups.
type storageRouting struct{ p *p2p.Node }

func (r storageRouting) Provide(ctx context.Context, id cid.Cid) error { return r.p.Provide(ctx, id) }
func (r storageRouting) FindProviders(ctx context.Context, id cid.Cid) ([]peer.AddrInfo, error) {
	return r.p.FindProviders(ctx, id)
}
func (r storageRouting) FindPeer(ctx context.Context, id peer.ID) (peer.AddrInfo, error) {
	return r.p.DHT().FindPeer(ctx, id)
}

// leasePayments pays and collects storage leases through the ledger, the
// way the meter settles traffic: the payer signs a transfer to the storing
// peer, which submits it and counts it only with a matching receipt.
type leasePayments struct {
	w    *ledger.Wallet
	l    *ledger.Service
	self peer.ID
}

func (p leasePayments) Pay(_ context.Context, payee peer.ID, amount int64, memo string) ([]byte, error) {
	st, err := p.w.Sign(ledger.Transfer{Kind: ledger.KindTransfer, To: payee.String(), Amount: amount, Memo: memo})
	if err != nil {
		return nil, err
	}
	return json.Marshal(st)
}

func (p leasePayments) Collect(ctx context.Context, payer peer.ID, payment []byte, amount int64) (string, int64, error) {
	var st ledger.SignedTransfer
	if err := json.Unmarshal(payment, &st); err != nil {
		return "", 0, fmt.Errorf("node: lease payment: %w", err)
	}
	if st.Kind != ledger.KindTransfer || st.From != payer.String() || st.To != p.self.String() || st.Amount < amount {
		return "", 0, errors.New("node: lease payment: not a transfer of enough credits from the client to this node")
	}
	rc, err := p.l.Submit(ctx, st)
	if err != nil {
		return "", 0, err
	}
	if !rc.Matches(&st.Transfer) {
		return "", 0, errors.New("node: lease payment: the ledger's receipt is for another transfer")
	}
	return st.ID, st.Amount, nil
}

// backupStore gives the backup service the storage layer, with references
// as strings.
type backupStore struct{ s *storage.Service }

func (b backupStore) Put(ctx context.Context, plain []byte, k, n int) (string, error) {
	ref, err := b.s.Put(ctx, plain, storage.PutOptions{K: k, N: n})
	if err != nil {
		return "", err
	}
	return ref.String(), nil
}

func (b backupStore) Get(ctx context.Context, ref string) ([]byte, error) {
	r, err := storage.ParseRef(ref)
	if err != nil {
		return nil, err
	}
	return b.s.Get(ctx, r)
}

func (b backupStore) Delete(ctx context.Context, ref string) error {
	r, err := storage.ParseRef(ref)
	if err != nil {
		return err
	}
	_, err = b.s.Delete(ctx, r, nil)
	return err
}

func (b backupStore) Check(ctx context.Context, ref string) (int, int, int, error) {
	r, err := storage.ParseRef(ref)
	if err != nil {
		return 0, 0, 0, err
	}
	h, err := b.s.Check(ctx, r.ObjectID())
	return h.Healthy, r.N, h.Repairs, err
}

package ledger

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

// Submitter submits a signed transfer and returns the ledger's receipt;
// *Service implements it.
type Submitter interface {
	Submit(ctx context.Context, t SignedTransfer) (Receipt, error)
}

// Wallet builds, signs and submits the ledger operations of one account:
// the one place a node turns "pay X" or "settle order Y" into a signed
// transfer. It holds the account's key; create it with [NewWallet]. A
// Wallet is safe for concurrent use.
type Wallet struct {
	key     crypto.PrivKey
	account string
	ledger  Submitter
}

// ErrNoSubmitter is returned by [Wallet.Submit] and [Wallet.Pay] of a
// wallet made without a Submitter (one that only signs).
var ErrNoSubmitter = errors.New("ledger: wallet has no ledger to submit to")

// NewWallet returns the wallet of key's account (its peer ID), which
// submits through l. l may be nil for a wallet that only signs.
func NewWallet(key crypto.PrivKey, l Submitter) (*Wallet, error) {
	if key == nil {
		return nil, errors.New("ledger: wallet: no key")
	}
	id, err := peer.IDFromPrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("ledger: wallet: %w", err)
	}
	return &Wallet{key: key, account: id.String(), ledger: l}, nil
}

// Account returns the wallet's account: its key's peer ID string.
func (w *Wallet) Account() string { return w.account }

// Sign completes t for the wallet's account and signs it: the signer
// (From, or To for a KindGrant) becomes the account, an empty ID a fresh
// one ([NewID]), a zero Time now. It returns an error wrapping ErrInvalid
// for a transfer of the wrong shape.
func (w *Wallet) Sign(t Transfer) (SignedTransfer, error) {
	if t.Kind == KindGrant {
		t.To = w.account
	} else {
		t.From = w.account
	}
	if t.ID == "" {
		t.ID = NewID()
	}
	if t.Time == 0 {
		t.Time = time.Now().UnixNano()
	}
	return Sign(w.key, t)
}

// Submit signs t as [Wallet.Sign] does and submits it, returning the
// ledger's receipt and errors as the Submitter does. The receipt is
// returned as the ledger gave it: a caller that must know it is the
// receipt of this very transfer checks [Receipt.Matches].
func (w *Wallet) Submit(ctx context.Context, t Transfer) (Receipt, error) {
	if w.ledger == nil {
		return Receipt{}, ErrNoSubmitter
	}
	st, err := w.Sign(t)
	if err != nil {
		return Receipt{}, err
	}
	return w.ledger.Submit(ctx, st)
}

// Pay pays amount micro-credits from the wallet's account to the account
// to (a KindTransfer with memo and ref). id names the payment; empty means
// a fresh one. A payment retried with the same id and content applies once
// (within the ledger's ID window) and returns the first receipt.
func (w *Wallet) Pay(ctx context.Context, id, to string, amount int64, memo, ref string) (Receipt, error) {
	return w.Submit(ctx, Transfer{ID: id, Kind: KindTransfer, To: to, Amount: amount, Memo: memo, Ref: ref})
}

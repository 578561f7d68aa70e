package meter

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"strconv"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/peerpath/peerpath/internal/ledger"
)

// GiB is the unit traffic is priced in: 2^30 bytes.
const GiB = 1 << 30

// MaxReceiptSize bounds an encoded TrafficReceipt; a larger one is refused
// before it is read.
const MaxReceiptSize = 4 << 10

// Field limits of a receipt: those of the ledger transfer it pays with.
const (
	maxAccountLen = 128 // a peer ID string
	maxIDLen      = 64
	maxSigLen     = 256
)

// ErrBadReceipt is returned (wrapped) by [DecodeReceipt] and
// [TrafficReceipt.Check] for a traffic receipt that is malformed, not signed
// by its payer, or whose payment does not match it.
var ErrBadReceipt = errors.New("meter: bad traffic receipt")

// TrafficReceipt is a downloader's signed statement that it received, and
// verified, content bytes from a provider. Receipts are cumulative: the
// payer counts the verified bytes it received from the payee since Epoch
// began (a random id of the payer's meter record), and a receipt covers the
// range (Start, End] of that count, so consecutive receipts chain.
//
// With traffic billing on, Payment is a ledger transfer from the payer to
// the payee of Owed(End, Price) - Owed(Start, Price) micro-credits, signed
// by the payer, with an ID derived from the receipt (so it applies once,
// whoever submits it). The payee settles it by submitting it to the ledger.
type TrafficReceipt struct {
	Payer string `json:"payer"`
	Payee string `json:"payee"`
	Epoch string `json:"epoch"`
	Start int64  `json:"start"`
	End   int64  `json:"end"`
	// Price is in micro-credits per GiB; 0 when the payer's billing is off
	// (the receipt is then evidence only, with no payment).
	Price   int64                  `json:"price_per_gib"`
	Time    int64                  `json:"time"`
	Payment *ledger.SignedTransfer `json:"payment,omitempty"`
	Sig     []byte                 `json:"sig"`
}

const receiptDomain = "peerpath/ledger/traffic-receipt/v1\n"

// signingBytes is the canonical encoding the payer signs; it binds the
// payment's ID and amount, so neither can be swapped.
func (r *TrafficReceipt) signingBytes() []byte {
	b := append([]byte(nil), receiptDomain...)
	b = appendString(b, r.Payer)
	b = appendString(b, r.Payee)
	b = appendString(b, r.Epoch)
	b = binary.BigEndian.AppendUint64(b, uint64(r.Start))
	b = binary.BigEndian.AppendUint64(b, uint64(r.End))
	b = binary.BigEndian.AppendUint64(b, uint64(r.Price))
	b = binary.BigEndian.AppendUint64(b, uint64(r.Time))
	if r.Payment != nil {
		b = append(b, 1)
		b = appendString(b, r.Payment.ID)
		b = binary.BigEndian.AppendUint64(b, uint64(r.Payment.Amount))
	} else {
		b = append(b, 0)
	}
	return b
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// Bytes returns the number of bytes the receipt covers.
func (r *TrafficReceipt) Bytes() int64 { return r.End - r.Start }

// Owed returns the micro-credits owed for n bytes at price micro-credits
// per GiB, rounded down; it saturates at math.MaxInt64.
func Owed(n, price int64) int64 {
	if n <= 0 || price <= 0 {
		return 0
	}
	hi, lo := bits.Mul64(uint64(n), uint64(price))
	if hi>>30 != 0 {
		return math.MaxInt64
	}
	v := hi<<34 | lo>>30
	if v > math.MaxInt64 {
		return math.MaxInt64
	}
	return int64(v)
}

// receiptPaymentID derives the ID of a receipt's payment: the same receipt
// range always yields the same ID, so a payment submitted twice applies
// once.
func receiptPaymentID(payer, payee, epoch string, end int64) string {
	h := sha256.New()
	h.Write([]byte("peerpath-traffic\x00" + payer + "\x00" + payee + "\x00" + epoch + "\x00" + strconv.FormatInt(end, 10)))
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// NewTrafficReceipt builds and signs, with the payer's key, a receipt for
// the bytes (start, end] received from payee at price micro-credits per GiB
// (0: no payment), stamped now (Unix nanoseconds).
func NewTrafficReceipt(key crypto.PrivKey, payee, epoch string, start, end, price, now int64) (TrafficReceipt, error) {
	w, err := ledger.NewWallet(key, nil)
	if err != nil {
		return TrafficReceipt{}, fmt.Errorf("meter: receipt: %w", err)
	}
	r := TrafficReceipt{Payer: w.Account(), Payee: payee, Epoch: epoch, Start: start, End: end, Price: price, Time: now}
	if amount := Owed(end, price) - Owed(start, price); amount > 0 {
		pay, err := w.Sign(ledger.Transfer{
			ID:     receiptPaymentID(r.Payer, payee, epoch, end),
			Kind:   ledger.KindTransfer,
			To:     payee,
			Amount: amount,
			Memo:   fmt.Sprintf("traffic: %d bytes at %s/GiB", end-start, ledger.FormatCredits(price)),
			Ref:    "traffic/" + epoch + "/" + strconv.FormatInt(end, 10),
			Time:   now,
		})
		if err != nil {
			return TrafficReceipt{}, err
		}
		r.Payment = &pay
	}
	if err := r.checkShape(); err != nil {
		return TrafficReceipt{}, err
	}
	sig, err := key.Sign(r.signingBytes())
	if err != nil {
		return TrafficReceipt{}, fmt.Errorf("meter: receipt: %w", err)
	}
	r.Sig = sig
	return r, nil
}

// checkShape checks sizes, ranges and that the payment, if any, is exactly
// the one the receipt implies.
func (r *TrafficReceipt) checkShape() error {
	switch {
	case len(r.Payer) == 0 || len(r.Payer) > maxAccountLen || len(r.Payee) == 0 || len(r.Payee) > maxAccountLen:
		return fmt.Errorf("%w: account", ErrBadReceipt)
	case r.Payer == r.Payee:
		return fmt.Errorf("%w: payer is the payee", ErrBadReceipt)
	case len(r.Epoch) == 0 || len(r.Epoch) > maxIDLen:
		return fmt.Errorf("%w: epoch length %d", ErrBadReceipt, len(r.Epoch))
	case r.Start < 0 || r.End <= r.Start:
		return fmt.Errorf("%w: range (%d, %d]", ErrBadReceipt, r.Start, r.End)
	case r.Price < 0:
		return fmt.Errorf("%w: negative price", ErrBadReceipt)
	}
	want := Owed(r.End, r.Price) - Owed(r.Start, r.Price)
	if r.Payment == nil {
		if want != 0 {
			return fmt.Errorf("%w: %d micro-credits owed but no payment", ErrBadReceipt, want)
		}
		return nil
	}
	p := r.Payment
	switch {
	case p.Kind != ledger.KindTransfer || p.From != r.Payer || p.To != r.Payee:
		return fmt.Errorf("%w: payment is not from the payer to the payee", ErrBadReceipt)
	case p.Amount != want:
		return fmt.Errorf("%w: payment of %d, receipt owes %d", ErrBadReceipt, p.Amount, want)
	case p.ID != receiptPaymentID(r.Payer, r.Payee, r.Epoch, r.End):
		return fmt.Errorf("%w: payment id does not match the receipt", ErrBadReceipt)
	}
	return nil
}

// Check verifies the receipt completely: its shape, the payer's signature
// over it and over its payment. It returns an error wrapping ErrBadReceipt.
func (r *TrafficReceipt) Check() error {
	if err := r.checkShape(); err != nil {
		return err
	}
	if len(r.Sig) == 0 || len(r.Sig) > maxSigLen {
		return fmt.Errorf("%w: signature length %d", ErrBadReceipt, len(r.Sig))
	}
	id, err := peer.Decode(r.Payer)
	if err != nil {
		return fmt.Errorf("%w: payer %q is not a peer id", ErrBadReceipt, r.Payer)
	}
	pk, err := id.ExtractPublicKey()
	if err != nil {
		return fmt.Errorf("%w: no public key in payer %s", ErrBadReceipt, id)
	}
	if ok, err := pk.Verify(r.signingBytes(), r.Sig); err != nil || !ok {
		return fmt.Errorf("%w: signature", ErrBadReceipt)
	}
	if r.Payment != nil {
		if err := r.Payment.Verify(); err != nil {
			return fmt.Errorf("%w: payment: %v", ErrBadReceipt, err)
		}
	}
	return nil
}

// Encode returns the receipt's wire form (JSON).
func (r *TrafficReceipt) Encode() ([]byte, error) {
	b, err := json.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("meter: receipt: %w", err)
	}
	if len(b) > MaxReceiptSize {
		return nil, fmt.Errorf("%w: %d bytes encoded", ErrBadReceipt, len(b))
	}
	return b, nil
}

// DecodeReceipt parses and fully checks a receipt from a remote peer.
func DecodeReceipt(b []byte) (TrafficReceipt, error) {
	if len(b) > MaxReceiptSize {
		return TrafficReceipt{}, fmt.Errorf("%w: %d bytes", ErrBadReceipt, len(b))
	}
	var r TrafficReceipt
	if err := json.Unmarshal(b, &r); err != nil {
		return TrafficReceipt{}, fmt.Errorf("%w: %v", ErrBadReceipt, err)
	}
	if err := r.Check(); err != nil {
		return TrafficReceipt{}, err
	}
	return r, nil
}

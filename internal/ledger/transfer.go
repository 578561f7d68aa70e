package ledger

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

// Kind says what a SignedTransfer asks the ledger to do.
type Kind uint8

const (
	// KindTransfer moves Amount from From to To (plus the operator fee,
	// paid by From). It is signed by From.
	KindTransfer Kind = 0
	// KindGrant asks for the configured one-time grant of new credits to To
	// (issuance: the supply grows). From is empty, Amount is zero in the
	// request, and it is signed by To.
	KindGrant Kind = 1
	// Market kinds (escrow.go): listing keys held by the voters, escrowed
	// purchases, their settlement, ratings and sponsorship. Their signed
	// bytes and binary form carry Data; the older kinds' do not.
	KindList    Kind = 2
	KindUnlist  Kind = 3
	KindBuy     Kind = 4
	KindRelease Kind = 5
	KindRefund  Kind = 6
	KindRate    Kind = 7
	KindSponsor Kind = 8
)

// Field limits, checked before a transfer is signed, decoded or applied.
const (
	maxIDLen      = 64
	maxAccountLen = 128
	maxMemoLen    = 256
	maxRefLen     = 256
	maxSigLen     = 256
	maxDataLen    = 16 << 10
)

// Transfer is the signed content of a ledger operation. Accounts are peer ID
// strings; Amount is in micro-credits. Time is the payer's clock in Unix
// nanoseconds; it bounds how long the ledger remembers the ID (see
// Genesis.IDWindow).
type Transfer struct {
	ID     string `json:"id"`
	Kind   Kind   `json:"kind,omitempty"`
	From   string `json:"from,omitempty"`
	To     string `json:"to"`
	Amount int64  `json:"amount"`
	Memo   string `json:"memo,omitempty"`
	Ref    string `json:"ref,omitempty"`
	Time   int64  `json:"time"`
	// Data is the payload of a market kind (see escrow.go); empty for
	// KindTransfer and KindGrant, whose encodings do not include it.
	Data []byte `json:"data,omitempty"`
	// Fee is set by the ledger in an account's history only: the operator
	// fee the payer of a transfer or a purchase paid on top of Amount
	// (a payment that opens an account includes [OpenFee]). It is not
	// signed, and what a submitter puts here is ignored.
	Fee int64 `json:"fee,omitempty"`
}

// SignedTransfer is a Transfer with the signer's signature over
// Transfer.SigningBytes. The signer is From for KindTransfer and To for
// KindGrant; the public key is extracted from that peer ID, so only
// identities that embed their key (Ed25519) can sign.
type SignedTransfer struct {
	Transfer
	Sig []byte `json:"sig"`
}

// Receipt is the outcome of an applied transfer.
type Receipt struct {
	ID string `json:"id"`
	// Index is the raft log index of the entry that applied the transfer.
	Index uint64 `json:"index"`
	// Amount credited to the receiver (for a grant: the amount issued).
	Amount int64 `json:"amount"`
	// Fee paid by the payer to the operator on top of Amount.
	Fee int64 `json:"fee"`
	// Time is the ledger's clock (leader time stamped on the entry) in Unix
	// nanoseconds when the transfer applied.
	Time int64 `json:"time"`
	// Replay is true when this receipt answers a retry of an ID that had
	// already applied; nothing was applied a second time.
	Replay bool `json:"replay,omitempty"`
	// Kind, From and To are those of the transfer that applied, so a
	// caller can check the receipt is for the transfer it submitted.
	Kind Kind   `json:"kind,omitempty"`
	From string `json:"from,omitempty"`
	To   string `json:"to,omitempty"`
}

// Matches reports whether r is the receipt of t (same ID, kind, accounts
// and, for a plain transfer, amount): a caller that submitted t checks it
// before it counts t as applied.
func (r *Receipt) Matches(t *Transfer) bool {
	if r.ID != t.ID || r.Kind != t.Kind || r.From != t.From || r.To != t.To {
		return false
	}
	return t.Kind != KindTransfer || r.Amount == t.Amount
}

const signingDomain = "peerpath/ledger/transfer/v1\n"

// SigningBytes is the canonical, deterministic encoding that is signed:
// a domain string, the kind, each string length-prefixed (uvarint), the
// amount and time as big-endian int64.
func (t *Transfer) SigningBytes() []byte {
	b := make([]byte, 0, len(signingDomain)+64+len(t.ID)+len(t.From)+len(t.To)+len(t.Memo)+len(t.Ref))
	b = append(b, signingDomain...)
	return t.appendBody(b)
}

func (t *Transfer) appendBody(b []byte) []byte {
	b = append(b, byte(t.Kind))
	b = appendString(b, t.ID)
	b = appendString(b, t.From)
	b = appendString(b, t.To)
	b = binary.BigEndian.AppendUint64(b, uint64(t.Amount))
	b = appendString(b, t.Memo)
	b = appendString(b, t.Ref)
	b = binary.BigEndian.AppendUint64(b, uint64(t.Time))
	if t.Kind.hasData() {
		b = binary.AppendUvarint(b, uint64(len(t.Data)))
		b = append(b, t.Data...)
	}
	return b
}

// hasData reports whether the kind's encodings carry Data.
func (k Kind) hasData() bool { return k >= KindList }

// Signer returns the account whose key must sign t.
func (t *Transfer) Signer() string {
	if t.Kind == KindGrant {
		return t.To
	}
	return t.From
}

// Validate checks the static shape of a transfer: sizes, kind, a positive
// amount for a transfer, zero for a grant, distinct accounts. It returns an
// error wrapping ErrInvalid.
func (t *Transfer) Validate() error {
	switch {
	case t.ID == "" || len(t.ID) > maxIDLen:
		return fmt.Errorf("%w: id length %d", ErrInvalid, len(t.ID))
	case len(t.From) > maxAccountLen || len(t.To) > maxAccountLen || t.To == "":
		return fmt.Errorf("%w: account", ErrInvalid)
	case len(t.Memo) > maxMemoLen || len(t.Ref) > maxRefLen:
		return fmt.Errorf("%w: memo or ref too long", ErrInvalid)
	case len(t.Data) > maxDataLen || (len(t.Data) > 0 && !t.Kind.hasData()):
		return fmt.Errorf("%w: data", ErrInvalid)
	}
	switch t.Kind {
	case KindTransfer:
		if t.Amount <= 0 {
			return fmt.Errorf("%w: amount %d must be positive", ErrInvalid, t.Amount)
		}
		if t.From == "" || t.From == t.To {
			return fmt.Errorf("%w: from %q to %q", ErrInvalid, t.From, t.To)
		}
	case KindGrant:
		if t.From != "" || t.Amount != 0 {
			return fmt.Errorf("%w: a grant has no payer and no amount", ErrInvalid)
		}
	default:
		return t.validateMarket()
	}
	return nil
}

// Verify checks the static shape and the signer's signature. It returns an
// error wrapping ErrInvalid or ErrBadSignature.
func (st *SignedTransfer) Verify() error {
	if err := st.Validate(); err != nil {
		return err
	}
	if len(st.Sig) == 0 || len(st.Sig) > maxSigLen {
		return fmt.Errorf("%w: signature length %d", ErrBadSignature, len(st.Sig))
	}
	pk, err := signerKey(st.Signer())
	if err != nil {
		return err
	}
	ok, err := pk.Verify(st.SigningBytes(), st.Sig)
	if err != nil || !ok {
		return fmt.Errorf("%w: transfer %s", ErrBadSignature, st.ID)
	}
	return nil
}

// keyCache maps signer peer ID strings to their public keys, so a busy
// account's key is decoded once. It is a cache of a pure function, so it
// cannot change any outcome; it is dropped whole when it grows too big.
var keyCache struct {
	sync.Mutex
	m map[string]crypto.PubKey
}

const keyCacheMax = 1 << 16

func signerKey(signer string) (crypto.PubKey, error) {
	keyCache.Lock()
	pk, ok := keyCache.m[signer]
	keyCache.Unlock()
	if ok {
		return pk, nil
	}
	id, err := peer.Decode(signer)
	if err != nil {
		return nil, fmt.Errorf("%w: signer %q is not a peer id", ErrBadSignature, signer)
	}
	pk, err = id.ExtractPublicKey()
	if err != nil {
		return nil, fmt.Errorf("%w: no public key in peer id %s", ErrBadSignature, id)
	}
	keyCache.Lock()
	if keyCache.m == nil || len(keyCache.m) >= keyCacheMax {
		keyCache.m = make(map[string]crypto.PubKey)
	}
	keyCache.m[signer] = pk
	keyCache.Unlock()
	return pk, nil
}

// NewID returns a fresh transfer ID: 16 random bytes, hex.
func NewID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("ledger: crypto/rand failed: " + err.Error())
	}
	return hex.EncodeToString(b[:])
}

// Sign signs t with key, which must be the key of t.Signer().
func Sign(key crypto.PrivKey, t Transfer) (SignedTransfer, error) {
	id, err := peer.IDFromPrivateKey(key)
	if err != nil {
		return SignedTransfer{}, fmt.Errorf("ledger: sign: %w", err)
	}
	if id.String() != t.Signer() {
		return SignedTransfer{}, fmt.Errorf("ledger: sign: key %s is not the signer %s", id, t.Signer())
	}
	if err := t.Validate(); err != nil {
		return SignedTransfer{}, err
	}
	sig, err := key.Sign(t.SigningBytes())
	if err != nil {
		return SignedTransfer{}, fmt.Errorf("ledger: sign: %w", err)
	}
	return SignedTransfer{Transfer: t, Sig: sig}, nil
}

// NewTransfer builds and signs a transfer of amount micro-credits from the
// key's peer ID to the account to, with a fresh ID and the current time.
func NewTransfer(key crypto.PrivKey, to string, amount int64, memo, ref string) (SignedTransfer, error) {
	w, err := NewWallet(key, nil)
	if err != nil {
		return SignedTransfer{}, err
	}
	return w.Sign(Transfer{Kind: KindTransfer, To: to, Amount: amount, Memo: memo, Ref: ref})
}

// NewGrantRequest builds and signs a request for the configured one-time
// grant of new credits to the key's own account.
func NewGrantRequest(key crypto.PrivKey) (SignedTransfer, error) {
	w, err := NewWallet(key, nil)
	if err != nil {
		return SignedTransfer{}, err
	}
	return w.Sign(Transfer{Kind: KindGrant})
}

// --- compact binary codec, used in raft log entries and on the client protocol ---

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendSigned(b []byte, st *SignedTransfer) []byte {
	b = st.appendBody(b)
	b = binary.AppendUvarint(b, uint64(len(st.Sig)))
	return append(b, st.Sig...)
}

var errShort = errors.New("ledger: truncated data")

// reader decodes the compact binary form; every length is bounded before use.
type reader struct {
	b   []byte
	err error
}

func (r *reader) fail(err error) {
	if r.err == nil {
		r.err = err
	}
}

func (r *reader) byte() byte {
	if r.err != nil || len(r.b) < 1 {
		r.fail(errShort)
		return 0
	}
	v := r.b[0]
	r.b = r.b[1:]
	return v
}

func (r *reader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail(errShort)
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) u64() uint64 {
	if r.err != nil || len(r.b) < 8 {
		r.fail(errShort)
		return 0
	}
	v := binary.BigEndian.Uint64(r.b)
	r.b = r.b[8:]
	return v
}

func (r *reader) bytes(max int) []byte {
	n := r.uvarint()
	if r.err != nil {
		return nil
	}
	if n > uint64(max) {
		r.fail(fmt.Errorf("ledger: field length %d over limit %d", n, max))
		return nil
	}
	if uint64(len(r.b)) < n {
		r.fail(errShort)
		return nil
	}
	v := r.b[:n:n]
	r.b = r.b[n:]
	return v
}

func (r *reader) string(max int) string { return string(r.bytes(max)) }

func (r *reader) signed() SignedTransfer {
	var st SignedTransfer
	st.Kind = Kind(r.byte())
	st.ID = r.string(maxIDLen)
	st.From = r.string(maxAccountLen)
	st.To = r.string(maxAccountLen)
	st.Amount = int64(r.u64())
	st.Memo = r.string(maxMemoLen)
	st.Ref = r.string(maxRefLen)
	st.Time = int64(r.u64())
	if st.Kind.hasData() {
		if d := r.bytes(maxDataLen); len(d) > 0 {
			st.Data = append([]byte(nil), d...)
		}
	}
	st.Sig = append([]byte(nil), r.bytes(maxSigLen)...)
	return st
}

// MarshalBinary encodes st in the compact binary form.
func (st *SignedTransfer) MarshalBinary() ([]byte, error) {
	return appendSigned(nil, st), nil
}

// UnmarshalSignedTransfer decodes the compact binary form of a signed
// transfer. It checks sizes, not the signature.
func UnmarshalSignedTransfer(b []byte) (SignedTransfer, error) {
	r := reader{b: b}
	st := r.signed()
	if r.err != nil {
		return SignedTransfer{}, r.err
	}
	if len(r.b) != 0 {
		return SignedTransfer{}, fmt.Errorf("ledger: %d trailing bytes after transfer", len(r.b))
	}
	return st, nil
}

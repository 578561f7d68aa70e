package market

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

// Sentinel errors.
var (
	// ErrBadSignature is returned by Listing.Verify (and so dropped from
	// Search, refused by Buy) for a listing not signed by its seller.
	ErrBadSignature = errors.New("market: bad listing signature")
	// ErrExpired is returned by Listing.Verify for an expired listing.
	ErrExpired = errors.New("market: listing expired")
	// ErrInvalid is returned for a malformed listing or request (sizes,
	// price, stars).
	ErrInvalid = errors.New("market: invalid")
	// ErrMismatch is returned when a listing document does not match the
	// listing the ledger holds (seller, price, ciphertext or commitment), or
	// the ledger holds none or it was withdrawn: a forged or stale listing.
	ErrMismatch = errors.New("market: listing does not match the ledger")
	// ErrWrongKey is returned when a content key does not open, does not
	// decrypt the goods or does not match the listing's commitment.
	ErrWrongKey = errors.New("market: wrong content key")
	// ErrNotFound is returned for a listing or order this node does not
	// know.
	ErrNotFound = errors.New("market: not found")
	// ErrRefunded is returned by Buy when the order was refunded instead
	// of released (the seller's key did not match its commitment).
	ErrRefunded = errors.New("market: order refunded")
	// ErrPending is returned by Buy when no key arrived before its context
	// ended; the order stays in escrow and is refunded to the buyer if the
	// voters never release it (see Service.Refund).
	ErrPending = errors.New("market: order still pending")
)

// Listing limits, checked before a listing is signed, decoded or verified.
const (
	MaxListingBytes = 64 << 10
	maxTitle        = 200
	maxDescription  = 4000
	maxTags         = 16
	maxTag          = 32
	listingDomain   = "peerpath/market/listing/v1\n"
	// ListingSuffix ends the name of every shared listing document, so
	// search results that are listings can be told apart.
	ListingSuffix = ".pplisting"
)

// Listing is a seller's signed offer. Its ID is derived from its signed
// content; the ledger holds the matching escrow record (price, seller,
// ciphertext, commitment, the key sealed to the voters) under that ID.
type Listing struct {
	Version     int      `json:"v"`
	Title       string   `json:"title"`
	Description string   `json:"description,omitempty"`
	Tags        []string `json:"tags,omitempty"`
	// Price in micro-credits.
	Price int64 `json:"price"`
	// CID and Size of the ciphertext.
	CID  string `json:"cid"`
	Size int64  `json:"size"`
	// Commit is the hex SHA-256 of the content key.
	Commit string `json:"commit"`
	Seller string `json:"seller"`
	// Preview is the CID of an unencrypted preview file, if any.
	Preview string `json:"preview,omitempty"`
	Created int64  `json:"created"`
	Expiry  int64  `json:"expiry"`
	Sig     []byte `json:"sig,omitempty"`
}

func (l *Listing) signingBytes() []byte {
	c := *l
	c.Sig = nil
	b, _ := json.Marshal(c) // plain fields: cannot fail; deterministic
	return append([]byte(listingDomain), b...)
}

// ID is the listing's identifier: hex of the first 16 bytes of the
// SHA-256 of its signed content.
func (l *Listing) ID() string {
	sum := sha256.Sum256(l.signingBytes())
	return hex.EncodeToString(sum[:16])
}

// validate checks sizes and shape, not the signature.
func (l *Listing) validate() error {
	bad := func(f string, a ...any) error {
		return fmt.Errorf("%w: listing: "+f, append([]any{ErrInvalid}, a...)...)
	}
	switch {
	case l.Version != 1:
		return bad("version %d", l.Version)
	case strings.TrimSpace(l.Title) == "" || len(l.Title) > maxTitle || !utf8.ValidString(l.Title):
		return bad("title")
	case len(l.Description) > maxDescription || !utf8.ValidString(l.Description):
		return bad("description")
	case len(l.Tags) > maxTags:
		return bad("%d tags", len(l.Tags))
	case l.Price <= 0:
		return bad("price must be positive")
	case l.CID == "" || len(l.CID) > 128 || len(l.Preview) > 128:
		return bad("cid")
	case l.Size < 0:
		return bad("size")
	case len(l.Commit) != 64:
		return bad("commitment")
	case l.Seller == "" || len(l.Seller) > 128:
		return bad("seller")
	case len(l.Sig) > 256:
		return bad("signature")
	}
	if _, err := hex.DecodeString(l.Commit); err != nil {
		return bad("commitment")
	}
	for _, t := range l.Tags {
		if t == "" || len(t) > maxTag || !utf8.ValidString(t) {
			return bad("tag %q", t)
		}
	}
	return nil
}

// Sign signs l with the seller's key; l.Seller must be that key's peer ID.
func Sign(key crypto.PrivKey, l Listing) (Listing, error) {
	id, err := peer.IDFromPrivateKey(key)
	if err != nil {
		return Listing{}, fmt.Errorf("market: sign: %w", err)
	}
	if id.String() != l.Seller {
		return Listing{}, fmt.Errorf("%w: key %s is not the seller %s", ErrInvalid, id, l.Seller)
	}
	l.Sig = nil
	if err := l.validate(); err != nil {
		return Listing{}, err
	}
	sig, err := key.Sign(l.signingBytes())
	if err != nil {
		return Listing{}, fmt.Errorf("market: sign: %w", err)
	}
	l.Sig = sig
	return l, nil
}

// Verify checks the listing's shape, its seller's signature and that it
// has not expired at now. It returns an error wrapping ErrInvalid,
// ErrBadSignature or ErrExpired.
func (l *Listing) Verify(now time.Time) error {
	if err := l.validate(); err != nil {
		return err
	}
	pid, err := peer.Decode(l.Seller)
	if err != nil {
		return fmt.Errorf("%w: seller %q is not a peer id", ErrBadSignature, l.Seller)
	}
	pk, err := pid.ExtractPublicKey()
	if err != nil {
		return fmt.Errorf("%w: seller %s has no public key", ErrBadSignature, l.Seller)
	}
	if len(l.Sig) == 0 {
		return fmt.Errorf("%w: unsigned", ErrBadSignature)
	}
	if ok, err := pk.Verify(l.signingBytes(), l.Sig); err != nil || !ok {
		return fmt.Errorf("%w: listing %q is not signed by %s", ErrBadSignature, l.Title, l.Seller)
	}
	if now.UnixNano() >= l.Expiry {
		return fmt.Errorf("%w: %q expired %s", ErrExpired, l.Title, time.Unix(0, l.Expiry).UTC().Format(time.RFC3339))
	}
	return nil
}

// Encode returns the listing document (JSON).
func (l *Listing) Encode() []byte {
	b, _ := json.MarshalIndent(l, "", "  ")
	return append(b, '\n')
}

// DecodeListing parses a listing document from a remote peer, bounding
// its size and checking its shape (not its signature: see Verify).
func DecodeListing(b []byte) (Listing, error) {
	if len(b) > MaxListingBytes {
		return Listing{}, fmt.Errorf("%w: listing of %d bytes", ErrInvalid, len(b))
	}
	var l Listing
	if err := json.Unmarshal(b, &l); err != nil {
		return Listing{}, fmt.Errorf("%w: listing: %w", ErrInvalid, err)
	}
	if err := l.validate(); err != nil {
		return Listing{}, err
	}
	return l, nil
}

// docName is the file name of a listing document: the title and tags (so
// the search layer indexes their words), the ID, and ListingSuffix.
func docName(l *Listing, id string) string {
	words := l.Title
	if len(l.Tags) > 0 {
		words += " - " + strings.Join(l.Tags, " ")
	}
	var b strings.Builder
	for _, r := range words {
		switch {
		case r == '/' || r == '\\' || r == 0 || r < ' ' || r == '.':
			b.WriteRune(' ')
		default:
			b.WriteRune(r)
		}
		if b.Len() > 150 {
			break
		}
	}
	return strings.TrimSpace(b.String()) + " " + id + ListingSuffix
}

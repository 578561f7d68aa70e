package publish

import (
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/multiformats/go-multihash"
	"github.com/zeebo/blake3"
)

// URLPrefix starts every document URL.
const URLPrefix = "peerpath://doc/"

// Limits of a URL.
const (
	// MaxURLLen bounds a URL a user pastes or a peer hands over.
	MaxURLLen = 1024
	// MaxHints is how many peers a URL names as where to ask first.
	MaxHints = 4
)

// ErrBadURL is returned for a string that is not a document URL.
var ErrBadURL = errors.New("publish: not a document URL (peerpath://doc/KEY#SECRET)")

// Locator names a document: the public half of its signing key pair.
// Storing peers keep its record under it; it says nothing of the content.
type Locator [ed25519.PublicKeySize]byte

// String is the locator in unpadded base64url.
func (l Locator) String() string { return base64.RawURLEncoding.EncodeToString(l[:]) }

// CID is the DHT key under which the peers holding the document's record
// announce it: a hash of the locator, so the DHT sees neither the key nor
// the content.
func (l Locator) CID() cid.Cid {
	h := blake3.New()
	h.Write([]byte("peerpath-publish-locator-v1"))
	h.Write(l[:])
	mh, _ := multihash.Encode(h.Sum(nil), multihash.BLAKE3)
	return cid.NewCidV1(cid.Raw, mh)
}

// URL is a published document's address: its locator, the key that
// decrypts its record (the fragment, so a browser never sends it to a
// server), and peers to ask first (hints; the DHT finds the rest).
type URL struct {
	Locator Locator
	Key     [32]byte
	Hints   []peer.ID
}

// String encodes u as peerpath://doc/LOCATOR[?via=PEER,PEER]#KEY.
func (u URL) String() string {
	var b strings.Builder
	b.WriteString(URLPrefix)
	b.WriteString(u.Locator.String())
	for i, h := range u.Hints {
		if i == 0 {
			b.WriteString("?via=")
		} else {
			b.WriteByte(',')
		}
		b.WriteString(h.String())
	}
	b.WriteByte('#')
	b.WriteString(base64.RawURLEncoding.EncodeToString(u.Key[:]))
	return b.String()
}

// ParseURL decodes what [URL.String] made. It is the edge where a URL
// from anyone enters: its length, every part and every hint are checked.
func ParseURL(s string) (URL, error) {
	var u URL
	s = strings.TrimSpace(s)
	if len(s) > MaxURLLen {
		return u, fmt.Errorf("%w: longer than %d bytes", ErrBadURL, MaxURLLen)
	}
	rest, ok := strings.CutPrefix(s, URLPrefix)
	if !ok {
		return u, ErrBadURL
	}
	rest, frag, ok := strings.Cut(rest, "#")
	if !ok {
		return u, fmt.Errorf("%w: no key (the part after #)", ErrBadURL)
	}
	if err := decode32(frag, u.Key[:]); err != nil {
		return u, fmt.Errorf("%w: key: %w", ErrBadURL, err)
	}
	loc, query, hasQuery := strings.Cut(rest, "?")
	if err := decode32(loc, u.Locator[:]); err != nil {
		return URL{}, fmt.Errorf("%w: locator: %w", ErrBadURL, err)
	}
	if hasQuery {
		via, ok := strings.CutPrefix(query, "via=")
		if !ok || via == "" {
			return URL{}, fmt.Errorf("%w: query %q", ErrBadURL, query)
		}
		parts := strings.Split(via, ",")
		if len(parts) > MaxHints {
			return URL{}, fmt.Errorf("%w: more than %d hints", ErrBadURL, MaxHints)
		}
		for _, p := range parts {
			id, err := peer.Decode(p)
			if err != nil {
				return URL{}, fmt.Errorf("%w: hint %q: %w", ErrBadURL, p, err)
			}
			u.Hints = append(u.Hints, id)
		}
	}
	return u, nil
}

// IsURL reports whether s looks like a document URL (to route a `get`).
func IsURL(s string) bool { return strings.HasPrefix(strings.TrimSpace(s), URLPrefix) }

func decode32(s string, out []byte) error {
	if len(s) != base64.RawURLEncoding.EncodedLen(32) {
		return fmt.Errorf("%d characters, want %d", len(s), base64.RawURLEncoding.EncodedLen(32))
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(s)
	if err != nil {
		return err
	}
	copy(out, b)
	return nil
}

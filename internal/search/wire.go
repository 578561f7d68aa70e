package search

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/peerpath/peerpath/internal/content"
)

// ProtocolID is the search protocol: one request and one signed response per
// stream, each framed by p2p.WriteMsg.
const ProtocolID = "/peerpath/search/1.0.0"

// Wire limits, checked before a message is read (by p2p.ReadMsg) and again
// after it is decoded.
const (
	maxRequestBytes  = 2 << 10
	maxResponseBytes = 128 << 10
	maxQueriesPerReq = 2  // the query, and possibly a canary
	maxWireResults   = 50 // per query
	maxNameBytes     = 255
	nonceLen         = 16
)

// errBadMessage is wrapped by the decoders for anything malformed.
var errBadMessage = errors.New("search: bad message")

// errBadSignature is returned by openResponse for a response whose signature
// does not verify against the answering peer's key.
var errBadSignature = errors.New("search: bad signature")

// request asks a peer to match its index against each query.
type request struct {
	Nonce   []byte   `json:"n"`
	Queries []string `json:"q"`
	Limit   int      `json:"l"`
}

func decodeRequest(b []byte) (request, error) {
	var r request
	if len(b) > maxRequestBytes {
		return r, fmt.Errorf("%w: request of %d bytes", errBadMessage, len(b))
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		return r, fmt.Errorf("%w: %v", errBadMessage, err)
	}
	if len(r.Nonce) != nonceLen || len(r.Queries) == 0 || len(r.Queries) > maxQueriesPerReq ||
		r.Limit < 1 || r.Limit > maxWireResults {
		return r, fmt.Errorf("%w: bad request fields", errBadMessage)
	}
	for _, q := range r.Queries {
		if len(q) > MaxQueryBytes || !utf8.ValidString(q) {
			return r, fmt.Errorf("%w: %w", errBadMessage, ErrQueryTooLarge)
		}
	}
	return r, nil
}

// answer is the signed body of a response.
type answer struct {
	Nonce []byte  `json:"n"`
	Peer  string  `json:"p"`
	Hits  [][]hit `json:"r"`           // one list per request query, same order
	Err   string  `json:"e,omitempty"` // "throttled", "blocked", "bad request"
}

// envelope carries the answer's exact signed bytes and the signature.
type envelope struct {
	Body []byte `json:"b"`
	Sig  []byte `json:"s"`
}

const sigDomain = "peerpath-search-answer\x00"

// sealAnswer encodes and signs a.
func sealAnswer(key crypto.PrivKey, a answer) ([]byte, error) {
	body, err := json.Marshal(a)
	if err != nil {
		return nil, fmt.Errorf("search: encode answer: %w", err)
	}
	sig, err := key.Sign(append([]byte(sigDomain), body...))
	if err != nil {
		return nil, fmt.Errorf("search: sign answer: %w", err)
	}
	return json.Marshal(envelope{Body: body, Sig: sig})
}

// openResponse decodes a response from p to the request with nonce, checks
// its signature against p's key and validates every field. nq is the number
// of queries asked.
//
// pub is p's public key as the connection's security handshake proved it
// (nil to take it from p itself, which works for Ed25519 ids).
func openResponse(b []byte, p peer.ID, pub crypto.PubKey, nonce []byte, nq int) (answer, error) {
	var a answer
	if len(b) > maxResponseBytes {
		return a, fmt.Errorf("%w: response of %d bytes", errBadMessage, len(b))
	}
	var env envelope
	if err := json.Unmarshal(b, &env); err != nil {
		return a, fmt.Errorf("%w: %v", errBadMessage, err)
	}
	if pub == nil {
		k, err := p.ExtractPublicKey()
		if err != nil {
			return a, fmt.Errorf("%w: no key for %s: %v", errBadSignature, p, err)
		}
		pub = k
	}
	if !p.MatchesPublicKey(pub) {
		return a, fmt.Errorf("%w: key is not %s's", errBadSignature, p)
	}
	ok, err := pub.Verify(append([]byte(sigDomain), env.Body...), env.Sig)
	if err != nil || !ok {
		return a, errBadSignature
	}
	if err := json.Unmarshal(env.Body, &a); err != nil {
		return a, fmt.Errorf("%w: %v", errBadMessage, err)
	}
	if a.Peer != p.String() || !bytes.Equal(a.Nonce, nonce) {
		return a, fmt.Errorf("%w: answer for another peer or request", errBadMessage)
	}
	if a.Err != "" {
		return a, nil
	}
	if len(a.Hits) != nq {
		return a, fmt.Errorf("%w: %d result lists for %d queries", errBadMessage, len(a.Hits), nq)
	}
	for _, hs := range a.Hits {
		if len(hs) > maxWireResults {
			return a, fmt.Errorf("%w: too many results", errBadMessage)
		}
		for _, h := range hs {
			if err := validHit(h); err != nil {
				return a, err
			}
		}
	}
	return a, nil
}

func validHit(h hit) error {
	id, err := cid.Parse(h.CID)
	if err != nil || !(content.IsFile(id) || content.IsDir(id)) || id.String() != h.CID {
		return fmt.Errorf("%w: bad cid %q", errBadMessage, h.CID)
	}
	if h.Name == "" || len(h.Name) > maxNameBytes || !utf8.ValidString(h.Name) {
		return fmt.Errorf("%w: bad name", errBadMessage)
	}
	if h.Size < 0 || !validTypes[h.Type] || h.Score != h.Score || h.Score < 0 || h.Score > MaxRelevance {
		return fmt.Errorf("%w: bad result fields", errBadMessage)
	}
	return nil
}

func jsonMarshal(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("search: encode: %w", err)
	}
	return b, nil
}

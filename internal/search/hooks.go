package search

import (
	"context"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"

	"github.com/peerpath/peerpath/internal/p2p"
)

// This file holds the few exported hooks the search simulation
// (internal/search/searchsim) needs from outside the package; the daemon
// uses none of them except through Service itself. They are kept small so
// the harness can live in its own package and the daemon does not link it.

// Keywords returns the routable, distinct words of texts, in order: the
// words a peer announces in the DHT for its file names and looks up for a
// query (lower case, without diacritics, no stop words).
func Keywords(texts ...string) []string { return keywords(texts...) }

// Tokenize splits s into lower-case words without diacritics, the way the
// index's full-text tokenizer does.
func Tokenize(s string) []string { return tokenize(s) }

// SyncIndex brings the index in line with the catalog now and returns when
// it is done. Serve does the same on its own (at start, every SyncInterval
// and on Refresh); SyncIndex is for callers that must know the index is
// complete before they Serve, such as a simulation building many peers.
// Call it before Serve, not concurrently with it.
func (s *Service) SyncIndex(ctx context.Context) error { return s.syncIndex(ctx) }

// Hit is one match as a peer sends it in an answer.
type Hit struct {
	CID   string
	Name  string
	Size  int64
	Type  string  // one of the Type constants
	Score float64 // relevance, in [0, MaxRelevance]
}

// AnswerFunc returns the hits a peer answers for one query of a request
// that asked for at most limit.
type AnswerFunc func(query string, limit int) []Hit

// HandleAnswers makes h answer the search protocol with whatever answer
// returns, signed with h's key, under the same framing, request limits and
// deadline as a Service. It replaces any handler h had for ProtocolID.
//
// The daemon never calls it: a Service answers from its index. It exists
// so a harness can play peers that answer what they like (the spammers of
// internal/search/searchsim) against real Services, over the real wire
// format, without the harness reaching into the package.
func HandleAnswers(h host.Host, respond AnswerFunc) {
	h.SetStreamHandler(ProtocolID, func(st network.Stream) {
		defer st.Close()
		_ = st.SetDeadline(time.Now().Add(10 * time.Second))
		msg, err := p2p.ReadMsg(st, maxRequestBytes)
		if err != nil {
			_ = st.Reset()
			return
		}
		req, err := decodeRequest(msg)
		if err != nil {
			_ = st.Reset()
			return
		}
		a := answer{Nonce: req.Nonce, Peer: h.ID().String()}
		for _, q := range req.Queries {
			hits := []hit{}
			for _, x := range respond(q, req.Limit) {
				hits = append(hits, hit(x))
			}
			a.Hits = append(a.Hits, hits)
		}
		b, err := sealAnswer(h.Peerstore().PrivKey(h.ID()), a)
		if err != nil {
			_ = st.Reset()
			return
		}
		_ = p2p.WriteMsg(st, b)
	})
}

package meter

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

// FuzzDecodeReceipt checks the traffic receipt decoder (receipts come from
// any peer this node served) and its framing.
func FuzzDecodeReceipt(f *testing.F) {
	k, _, _ := crypto.GenerateEd25519Key(nil)
	other, _, _ := crypto.GenerateEd25519Key(nil)
	payee, _ := peer.IDFromPrivateKey(other)
	r, _ := NewTrafficReceipt(k, payee.String(), "e", 10, 1<<31, 1_000_000, 1)
	b, _ := r.Encode()
	f.Add(b)
	f.Add(append(binary.AppendUvarint(nil, uint64(len(b))), b...))
	f.Add([]byte(`{"payer":"","end":-1}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		if r, err := DecodeReceipt(data); err == nil {
			if r.End <= r.Start || r.Start < 0 || r.Check() != nil {
				t.Fatalf("accepted a bad receipt %+v", r)
			}
		} else if !errors.Is(err, ErrBadReceipt) {
			t.Fatalf("error %v does not wrap ErrBadReceipt", err)
		}
		if b, err := readReceipt(bytes.NewReader(data)); err == nil && len(b) > MaxReceiptSize {
			t.Fatalf("read %d bytes", len(b))
		}
	})
}

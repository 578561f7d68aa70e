package market

import (
	"bytes"
	"crypto/ecdh"
	"testing"
	"time"
)

// FuzzDecodeListing feeds arbitrary listing documents (they come from any
// peer that shares one): decoding and verifying must never panic, and a
// decoded listing respects the limits.
func FuzzDecodeListing(f *testing.F) {
	f.Add([]byte(`{"v":1,"title":"t","price":1,"cid":"c","commit":"` + string(bytes.Repeat([]byte("ab"), 32)) + `","seller":"s","expiry":1}`))
	f.Add([]byte(`{"v":1}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		l, err := DecodeListing(data)
		if err != nil {
			return
		}
		if len(l.Title) > maxTitle || len(l.Description) > maxDescription || len(l.Tags) > maxTags || l.Price <= 0 {
			t.Fatalf("limits not enforced: %+v", l)
		}
		_ = l.Verify(time.Now()) // must not panic
		_ = l.ID()
	})
}

// FuzzOpen feeds arbitrary sealed keys (they come through the ledger from
// a seller or a voter) to open: never a panic, never a success without
// the key.
func FuzzOpen(f *testing.F) {
	priv, _ := ecdh.X25519().NewPrivateKey(bytes.Repeat([]byte{9}, 32))
	box, _ := seal(priv.PublicKey(), []byte("AGE-SECRET-KEY-1"))
	f.Add(box)
	f.Add([]byte{})
	f.Add(bytes.Repeat([]byte{0}, 80))
	f.Fuzz(func(t *testing.T, data []byte) {
		msg, err := open(priv, data)
		if err == nil && len(data) != len(box) {
			// Only a box sealed to priv opens; its length is fixed by the
			// message, so an arbitrary other length cannot.
			t.Fatalf("opened %d bytes into %q", len(data), msg)
		}
	})
}

package storage

import (
	"bytes"
	"testing"
)

// FuzzUnmarshalRef: a capability pasted by anyone.
func FuzzUnmarshalRef(f *testing.F) {
	ref, _, _ := EncodeObject([]byte("seed"), 3, 5)
	b, _ := ref.MarshalBinary()
	f.Add(b)
	f.Add([]byte{1, 3, 5})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := UnmarshalRef(b)
		if err != nil {
			return
		}
		again, err := r.MarshalBinary()
		if err != nil {
			t.Fatalf("decoded ref does not encode: %v", err)
		}
		if _, err := UnmarshalRef(again); err != nil {
			t.Fatalf("re-encoded ref does not decode: %v", err)
		}
	})
}

// FuzzDecodeRequest: what a storing peer reads from any peer.
func FuzzDecodeRequest(f *testing.F) {
	f.Add((&request{Op: opPut, Size: 100, Lease: 60, Payment: []byte("pay")}).encode())
	f.Add((&request{Op: opChallenge, Segments: []uint32{0, 3}}).encode())
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := decodeRequest(b)
		if err != nil {
			return
		}
		if len(r.Segments) > MaxChallengeSegments || len(r.Payment) > MaxPayment {
			t.Fatalf("bounds not enforced: %d segments, %d payment", len(r.Segments), len(r.Payment))
		}
		if !bytes.Equal(r.encode(), b) {
			t.Fatalf("request does not re-encode to its bytes")
		}
	})
}

// FuzzDecodeResponse: what a client reads from a storing peer.
func FuzzDecodeResponse(f *testing.F) {
	f.Add((&response{Status: statusRefused, Msg: "no", Free: 5}).encode())
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := decodeResponse(b)
		if err != nil {
			return
		}
		if len(r.Msg) > maxMsgText {
			t.Fatalf("message of %d bytes", len(r.Msg))
		}
	})
}

// FuzzChallengeAnswer: segment hashes and a segment from a holder.
func FuzzChallengeAnswer(f *testing.F) {
	share := bytes.Repeat([]byte{7}, SegmentSize+10)
	id := HashShare(share)
	hs := SegmentHashes(share)
	flat := append(hs[0][:], hs[1][:]...)
	f.Add(flat, share[SegmentSize:], 1)
	f.Fuzz(func(t *testing.T, hb, seg []byte, idx int) {
		hashes, err := decodeHashes(hb)
		if err != nil {
			return
		}
		if VerifySegment(id, len(share), hashes, idx, seg) == nil {
			lo := idx * SegmentSize
			if !bytes.Equal(seg, share[lo:min(lo+SegmentSize, len(share))]) {
				t.Fatalf("a wrong segment passed")
			}
		}
	})
}

// FuzzDecodeObject: shares fetched from peers, any bytes.
func FuzzDecodeObject(f *testing.F) {
	plain := []byte("fuzzed object")
	ref, shares, _ := EncodeObject(plain, 2, 3)
	f.Add(shares[0], shares[1], shares[2])
	f.Fuzz(func(t *testing.T, a, b, c []byte) {
		got, err := DecodeObject(ref, [][]byte{a, b, c})
		if err == nil && !bytes.Equal(got, plain) {
			t.Fatalf("decoded to other bytes")
		}
	})
}

// FuzzDecodeFetch: a get request on a session, from any peer.
func FuzzDecodeFetch(f *testing.F) {
	f.Add(encodeFetch(ShareID{1, 2, 3}))
	f.Add([]byte{fetchGet})
	f.Add(append([]byte{9}, make([]byte, 32)...))
	f.Fuzz(func(t *testing.T, b []byte) {
		id, err := decodeFetch(b)
		if err != nil {
			return
		}
		if !bytes.Equal(encodeFetch(id), b) {
			t.Fatalf("decoded %x from %x, which encodes differently", id, b)
		}
	})
}

// FuzzReadFetchReply: a holder's reply on a get session, read into a
// buffer of the size the client expects.
func FuzzReadFetchReply(f *testing.F) {
	share := bytes.Repeat([]byte{7}, 100)
	buf := make([]byte, fetchHeader+len(share))
	copy(buf[fetchHeader:], share)
	f.Add(fetchReply(buf, statusOK), uint16(100))
	f.Add(fetchError(statusNotFound, "no such share"), uint16(100))
	f.Add(fetchError(statusBusy, string(bytes.Repeat([]byte{'x'}, 300))), uint16(10))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 0}, uint16(4))
	f.Add([]byte{5, 0, 1, 2}, uint16(4))
	f.Fuzz(func(t *testing.T, b []byte, size uint16) {
		r := bytes.NewReader(b)
		into := make([]byte, size)
		status, msg, err := readFetchReply(r, into)
		if err != nil {
			return
		}
		used := len(b) - r.Len()
		switch {
		case status > statusBad:
			t.Fatalf("status %d accepted", status)
		case status == statusOK && (msg != "" || !bytes.Equal(into, b[used-int(size):used])):
			t.Fatalf("share not read in place")
		case status != statusOK && len(msg) > maxMsgText:
			t.Fatalf("reason of %d bytes accepted", len(msg))
		}
	})
}

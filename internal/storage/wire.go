package storage

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// ProtocolID is the storage protocol: one request per stream.
const ProtocolID = "/peerpath/storage/1.0.0"

// Requests.
const (
	opOffer     byte = 1 // what do you offer? → response
	opPut       byte = 2 // store this share → response (go ahead), share bytes, response
	opGet       byte = 3 // send this share → response, share bytes
	opChallenge byte = 4 // prove you hold these segments → response, segment hashes, segments
	opDelete    byte = 5 // drop this share (its client, or the holder of its secret) → response
	opRenew     byte = 6 // extend this share's lease → response
)

// Limits of the wire, chosen by the receiver of each message.
const (
	// MaxChallengeSegments is how many segments one challenge may ask for.
	MaxChallengeSegments = 8
	// MaxPayment bounds the opaque payment a put or renewal carries.
	MaxPayment = 2048
	// maxMsgText bounds a response's message.
	maxMsgText = 256

	maxRequest  = 1 + 32 + 4 + 4 + 32 + 32 + 1 + 4*MaxChallengeSegments + 2 + MaxPayment
	maxResponse = 1 + 2 + maxMsgText + 8 + 8 + 4 + 8
)

// request is one request on a storage stream. Which fields count depends
// on Op; the encoding always carries all of them (they are small).
type request struct {
	Op       byte
	ID       ShareID
	Size     uint32   // put: the share's size
	Lease    uint32   // put, renew: seconds of lease asked for
	Auth     [32]byte // put: BLAKE3 of a secret that may delete the share (zero: none)
	Secret   [32]byte // delete: the secret (zero: delete as the share's client)
	Segments []uint32 // challenge
	Payment  []byte   // put, renew: a payment the node's Payments understands
}

func (r *request) encode() []byte {
	b := make([]byte, 0, 128+len(r.Payment))
	b = append(b, r.Op)
	b = append(b, r.ID[:]...)
	b = binary.BigEndian.AppendUint32(b, r.Size)
	b = binary.BigEndian.AppendUint32(b, r.Lease)
	b = append(b, r.Auth[:]...)
	b = append(b, r.Secret[:]...)
	b = append(b, byte(len(r.Segments)))
	for _, s := range r.Segments {
		b = binary.BigEndian.AppendUint32(b, s)
	}
	b = binary.BigEndian.AppendUint16(b, uint16(len(r.Payment)))
	return append(b, r.Payment...)
}

// errWire is wrapped by every decoding error.
var errWire = errors.New("storage: malformed message")

// decodeRequest decodes a request read from a peer.
func decodeRequest(b []byte) (request, error) {
	var r request
	const fixed = 1 + 32 + 4 + 4 + 32 + 32 + 1
	if len(b) < fixed || len(b) > maxRequest {
		return r, fmt.Errorf("%w: request of %d bytes", errWire, len(b))
	}
	r.Op = b[0]
	if r.Op < opOffer || r.Op > opRenew {
		return r, fmt.Errorf("%w: unknown op %d", errWire, r.Op)
	}
	copy(r.ID[:], b[1:])
	r.Size = binary.BigEndian.Uint32(b[33:])
	r.Lease = binary.BigEndian.Uint32(b[37:])
	copy(r.Auth[:], b[41:])
	copy(r.Secret[:], b[73:])
	nseg := int(b[105])
	b = b[fixed:]
	if nseg > MaxChallengeSegments || len(b) < 4*nseg+2 {
		return request{}, fmt.Errorf("%w: %d segments", errWire, nseg)
	}
	if nseg > 0 {
		r.Segments = make([]uint32, nseg)
		for i := range r.Segments {
			r.Segments[i] = binary.BigEndian.Uint32(b[4*i:])
		}
	}
	b = b[4*nseg:]
	np := int(binary.BigEndian.Uint16(b))
	b = b[2:]
	if np > MaxPayment || len(b) != np {
		return request{}, fmt.Errorf("%w: payment of %d bytes, %d left", errWire, np, len(b))
	}
	if np > 0 {
		r.Payment = append([]byte(nil), b...)
	}
	return r, nil
}

// Response statuses.
const (
	statusOK       byte = 0
	statusRefused  byte = 1 // not allowed: no offer, over quota, unpaid, not yours
	statusNotFound byte = 2
	statusCorrupt  byte = 3 // the share on disk no longer matches its id
	statusBusy     byte = 4 // try later
	statusBad      byte = 5 // malformed request
)

// response answers a request.
type response struct {
	Status   byte
	Msg      string
	Free     uint64 // offer: bytes this peer would still store for the asker
	Price    uint64 // offer: micro-credits per GiB-month
	MaxLease uint32 // offer: longest lease in seconds
	Expires  uint64 // put, renew: the lease's end, unix seconds
}

func (r *response) encode() []byte {
	msg := r.Msg
	if len(msg) > maxMsgText {
		msg = msg[:maxMsgText]
	}
	b := make([]byte, 0, 40+len(msg))
	b = append(b, r.Status)
	b = binary.BigEndian.AppendUint16(b, uint16(len(msg)))
	b = append(b, msg...)
	b = binary.BigEndian.AppendUint64(b, r.Free)
	b = binary.BigEndian.AppendUint64(b, r.Price)
	b = binary.BigEndian.AppendUint32(b, r.MaxLease)
	return binary.BigEndian.AppendUint64(b, r.Expires)
}

// decodeResponse decodes a response read from a peer.
func decodeResponse(b []byte) (response, error) {
	var r response
	if len(b) < 3 || len(b) > maxResponse {
		return r, fmt.Errorf("%w: response of %d bytes", errWire, len(b))
	}
	r.Status = b[0]
	if r.Status > statusBad {
		return r, fmt.Errorf("%w: status %d", errWire, r.Status)
	}
	n := int(binary.BigEndian.Uint16(b[1:]))
	b = b[3:]
	if n > maxMsgText || len(b) != n+28 {
		return response{}, fmt.Errorf("%w: message of %d bytes", errWire, n)
	}
	r.Msg = string(b[:n])
	b = b[n:]
	r.Free = binary.BigEndian.Uint64(b)
	r.Price = binary.BigEndian.Uint64(b[8:])
	r.MaxLease = binary.BigEndian.Uint32(b[16:])
	r.Expires = binary.BigEndian.Uint64(b[20:])
	return r, nil
}

// decodeHashes decodes a challenge answer's list of segment hashes; the
// caller read it against the size it expects.
func decodeHashes(b []byte) ([][32]byte, error) {
	if len(b)%32 != 0 || len(b) == 0 {
		return nil, fmt.Errorf("%w: %d bytes of hashes", errWire, len(b))
	}
	out := make([][32]byte, len(b)/32)
	for i := range out {
		copy(out[i][:], b[32*i:])
	}
	return out, nil
}

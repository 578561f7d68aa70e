package publish

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// ProtocolID is the records protocol: one request per stream.
const ProtocolID = "/peerpath/publish/1.0.0"

// Requests.
const (
	reqStore byte = 1 // keep this record (publish, update, renew or delete) → response
	reqFetch byte = 2 // send the record of this locator → response with the record
)

// Response statuses.
const (
	statusOK       byte = 0
	statusRefused  byte = 1 // bad signature, stale version, deleted, no offer, over a bound
	statusNotFound byte = 2
	statusBusy     byte = 3
	statusBad      byte = 4 // malformed request
)

const (
	maxMsgText  = 256
	maxRequest  = 1 + MaxRecord
	maxResponse = 1 + 2 + maxMsgText + MaxRecord
)

var errWire = errors.New("publish: malformed message")

type request struct {
	Op     byte
	Loc    Locator // fetch
	Record []byte  // store
}

func (r *request) encode() []byte {
	if r.Op == reqFetch {
		return append([]byte{r.Op}, r.Loc[:]...)
	}
	return append([]byte{r.Op}, r.Record...)
}

// decodeRequest decodes a request a storing peer read from any peer.
func decodeRequest(b []byte) (request, error) {
	var r request
	if len(b) < 1 || len(b) > maxRequest {
		return r, fmt.Errorf("%w: request of %d bytes", errWire, len(b))
	}
	r.Op = b[0]
	switch r.Op {
	case reqFetch:
		if len(b) != 1+len(r.Loc) {
			return request{}, fmt.Errorf("%w: fetch of %d bytes", errWire, len(b))
		}
		copy(r.Loc[:], b[1:])
	case reqStore:
		r.Record = append([]byte(nil), b[1:]...)
	default:
		return request{}, fmt.Errorf("%w: op %d", errWire, r.Op)
	}
	return r, nil
}

type response struct {
	Status byte
	Msg    string
	Record []byte
}

func (r *response) encode() []byte {
	msg := r.Msg
	if len(msg) > maxMsgText {
		msg = msg[:maxMsgText]
	}
	b := make([]byte, 0, 3+len(msg)+len(r.Record))
	b = append(b, r.Status)
	b = binary.BigEndian.AppendUint16(b, uint16(len(msg)))
	b = append(b, msg...)
	return append(b, r.Record...)
}

// decodeResponse decodes a storing peer's answer.
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
	if n > maxMsgText || len(b) < n || len(b)-n > MaxRecord {
		return response{}, fmt.Errorf("%w: message of %d bytes", errWire, n)
	}
	r.Msg = string(b[:n])
	if len(b) > n {
		r.Record = append([]byte(nil), b[n:]...)
	}
	return r, nil
}

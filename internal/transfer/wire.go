package transfer

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/ipfs/go-cid"
)

// Wire format of ProtocolID. One stream carries any number of requests, each
// answered in order, so a client may pipeline several requests before reading
// the first response.
//
// Request (client → server), 2+L bytes:
//
//	op     1 byte   opManifest (1) or opChunk (2)
//	L      1 byte   length of the binary CID, 1..MaxCIDLen
//	cid    L bytes  binary CIDv1
//
// Response (server → client), 5+N bytes:
//
//	status 1 byte   statusOK (0), statusNotFound (1), statusError (2), statusBusy (3),
//	                statusRefused (4: the server's content policy refuses it)
//	N      4 bytes  big-endian length of the body
//	body   N bytes  the manifest or chunk bytes (statusOK), or a short UTF-8
//	                message of at most maxMessageLen bytes (other statuses)
//
// The bulk chunk bytes follow the 5-byte header directly: no per-chunk
// protobuf encoding and no extra copies. A client checks N against the size it
// expects (the exact chunk size from the manifest, or MaxManifestSize) before
// reading the body.

// Request opcodes.
const (
	opManifest byte = 1
	opChunk    byte = 2
)

// Response statuses.
const (
	statusOK       byte = 0
	statusNotFound byte = 1
	statusError    byte = 2
	statusBusy     byte = 3
	statusRefused  byte = 4
)

// MaxCIDLen bounds the binary length of a CID in a request. A CIDv1 with a
// BLAKE3-256 multihash takes 36 bytes; the slack leaves room for other hashes.
const MaxCIDLen = 128

// maxMessageLen bounds the message body of a non-OK response.
const maxMessageLen = 256

// respHeaderLen is the size of a response header.
const respHeaderLen = 5

// ErrProtocol is returned (wrapped, with details) when a peer sends a
// malformed request or response: an unknown opcode or status, a bad CID, a
// length beyond the limit, or a body of the wrong size. Getters drop a source
// that triggers it for the rest of the download.
var ErrProtocol = errors.New("transfer: protocol violation")

// request is one decoded request.
type request struct {
	op byte
	id cid.Cid
}

// appendRequest appends the encoding of a request to b.
func appendRequest(b []byte, op byte, id cid.Cid) []byte {
	raw := id.Bytes()
	b = append(b, op, byte(len(raw)))
	return append(b, raw...)
}

// readRequest reads one request from r. It returns io.EOF (unwrapped) when r
// ends cleanly between requests.
func readRequest(r io.Reader) (request, error) {
	var hdr [2]byte
	if _, err := io.ReadFull(r, hdr[:1]); err != nil {
		if errors.Is(err, io.EOF) {
			return request{}, io.EOF
		}
		return request{}, fmt.Errorf("transfer: read request: %w", err)
	}
	if _, err := io.ReadFull(r, hdr[1:]); err != nil {
		return request{}, fmt.Errorf("transfer: read request: %w", unexpected(err))
	}
	op, n := hdr[0], int(hdr[1])
	if op != opManifest && op != opChunk {
		return request{}, fmt.Errorf("%w: unknown request op %d", ErrProtocol, op)
	}
	if n == 0 || n > MaxCIDLen {
		return request{}, fmt.Errorf("%w: cid length %d", ErrProtocol, n)
	}
	var buf [MaxCIDLen]byte
	if _, err := io.ReadFull(r, buf[:n]); err != nil {
		return request{}, fmt.Errorf("transfer: read request cid: %w", unexpected(err))
	}
	id, err := cid.Cast(buf[:n])
	if err != nil {
		return request{}, fmt.Errorf("%w: bad cid: %v", ErrProtocol, err)
	}
	return request{op: op, id: id}, nil
}

// putRespHeader fills a response header.
func putRespHeader(h *[respHeaderLen]byte, status byte, n int) {
	h[0] = status
	binary.BigEndian.PutUint32(h[1:], uint32(n))
}

// writeMessage writes a non-OK response with a short message.
func writeMessage(w io.Writer, status byte, msg string) error {
	if len(msg) > maxMessageLen {
		msg = msg[:maxMessageLen]
	}
	b := make([]byte, respHeaderLen, respHeaderLen+len(msg))
	putRespHeader((*[respHeaderLen]byte)(b), status, len(msg))
	b = append(b, msg...)
	_, err := w.Write(b)
	return err
}

// RemoteError is returned (wrapped) by a getter when a peer answers a request
// with a non-OK status. NotFound reports whether the peer said it does not
// have the block; Busy whether it refused for load.
type RemoteError struct {
	Status  byte
	Message string
}

// Error implements error.
func (e *RemoteError) Error() string {
	switch e.Status {
	case statusNotFound:
		return "transfer: peer does not have it: " + e.Message
	case statusBusy:
		return "transfer: peer busy: " + e.Message
	case statusRefused:
		return ErrRefusedByPeer.Error() + ": " + e.Message
	default:
		return "transfer: peer error: " + e.Message
	}
}

// NotFound reports whether the peer answered not-found.
func (e *RemoteError) NotFound() bool { return e.Status == statusNotFound }

// Busy reports whether the peer refused because of load.
func (e *RemoteError) Busy() bool { return e.Status == statusBusy }

// Refused reports whether the peer refused by its content policy.
func (e *RemoteError) Refused() bool { return e.Status == statusRefused }

// readResponseHeader reads a response header. For statusOK it returns the body
// length, checked against [min, max]; for other statuses it reads the message
// and returns it as a *RemoteError. An out-of-bounds length wraps ErrProtocol,
// and is detected before any of the body is read.
func readResponseHeader(r io.Reader, min, max int) (int, error) {
	var h [respHeaderLen]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return 0, fmt.Errorf("transfer: read response: %w", unexpected(err))
	}
	n := binary.BigEndian.Uint32(h[1:])
	switch h[0] {
	case statusOK:
		if int64(n) < int64(min) || int64(n) > int64(max) {
			if min == max {
				return 0, fmt.Errorf("%w: response of %d bytes, want %d", ErrProtocol, n, max)
			}
			return 0, fmt.Errorf("%w: response of %d bytes, want %d..%d", ErrProtocol, n, min, max)
		}
		return int(n), nil
	case statusNotFound, statusError, statusBusy, statusRefused:
		if n > maxMessageLen {
			return 0, fmt.Errorf("%w: error message of %d bytes", ErrProtocol, n)
		}
		var buf [maxMessageLen]byte
		if _, err := io.ReadFull(r, buf[:n]); err != nil {
			return 0, fmt.Errorf("transfer: read response message: %w", unexpected(err))
		}
		return 0, &RemoteError{Status: h[0], Message: sanitize(buf[:n])}
	default:
		return 0, fmt.Errorf("%w: unknown response status %d", ErrProtocol, h[0])
	}
}

// sanitize turns a remote message into printable ASCII, so a hostile peer
// cannot inject control sequences into logs or terminals.
func sanitize(b []byte) string {
	out := make([]byte, len(b))
	for i, c := range b {
		if c < 0x20 || c > 0x7e {
			c = '?'
		}
		out[i] = c
	}
	return string(out)
}

// deadlineStream renews a read or write deadline of d before every Read and
// Write, so a transfer may take as long as it needs while it progresses, but
// a peer that stops reading or sending for d is cut off.
type deadlineStream struct {
	st interface {
		io.ReadWriter
		SetReadDeadline(time.Time) error
		SetWriteDeadline(time.Time) error
	}
	d time.Duration
}

func (s deadlineStream) Read(b []byte) (int, error) {
	s.st.SetReadDeadline(time.Now().Add(s.d))
	return s.st.Read(b)
}

func (s deadlineStream) Write(b []byte) (int, error) {
	s.st.SetWriteDeadline(time.Now().Add(s.d))
	return s.st.Write(b)
}

// unexpected turns io.EOF inside a message into io.ErrUnexpectedEOF.
func unexpected(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

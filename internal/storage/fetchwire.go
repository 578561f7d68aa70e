package storage

import (
	"encoding/binary"
	"fmt"
	"io"
	"time"

	"github.com/peerpath/peerpath/internal/p2p"
)

// FetchProtocolID is the storage protocol's get session: many gets on one
// long-lived stream, pipelined. A restore asks each holder for a share of
// one object after another; on [ProtocolID] every share cost a new stream
// (its set-up, and a yamux window that starts small again each time), so a
// restore was bound by round trips, not by bytes.
//
// The client writes requests (framed by p2p.WriteMsg: fetchGet and a share
// id, [fetchRequestSize] bytes) without waiting for the replies, at most
// [FetchWindow] ahead; the server answers them in order, one at a time,
// each reply one frame: a status byte, then the share (status OK) or a
// reason of at most maxMsgText bytes. The server reads the next request
// only after it wrote a reply, so one stream holds at most one request in
// service and what it has not read stays in the stream's flow-control
// window. A stream serves at most [MaxFetchesPerStream] gets and accepts
// none after [fetchStreamLife]; each request must come within fetchIdle of
// the previous reply and each reply is written within requestDeadline.
const FetchProtocolID = "/peerpath/storage/fetch/1.0.0"

// Limits of a get session.
const (
	// MaxFetchesPerStream is how many gets a server answers on one stream
	// before it closes it.
	MaxFetchesPerStream = 256
	// FetchWindow is how many gets a client has outstanding on one stream.
	FetchWindow = 8

	fetchGet         byte = 1
	fetchRequestSize      = 1 + 32
	// fetchStreamLife is how long a server accepts new gets on one stream.
	fetchStreamLife = 60 * time.Second
	// fetchIdle is how long a server waits for the next get.
	fetchIdle = p2p.FirstRequestTimeout
	// fetchHeader is room for a reply's length and status before its body.
	fetchHeader = binary.MaxVarintLen64 + 1
)

// encodeFetch is the request for share id.
func encodeFetch(id ShareID) []byte {
	b := make([]byte, fetchRequestSize)
	b[0] = fetchGet
	copy(b[1:], id[:])
	return b
}

// decodeFetch decodes a get request read from a peer.
func decodeFetch(b []byte) (ShareID, error) {
	var id ShareID
	if len(b) != fetchRequestSize || b[0] != fetchGet {
		return id, fmt.Errorf("%w: get request of %d bytes", errWire, len(b))
	}
	copy(id[:], b[1:])
	return id, nil
}

// fetchReply frames a reply whose body already sits in buf[fetchHeader:]:
// it writes the length and status just in front of the body and returns
// the bytes to send, so a share leaves in one write.
func fetchReply(buf []byte, status byte) []byte {
	body := len(buf) - fetchHeader
	var hdr [binary.MaxVarintLen64]byte
	n := binary.PutUvarint(hdr[:], uint64(body+1))
	start := fetchHeader - 1 - n
	copy(buf[start:], hdr[:n])
	buf[fetchHeader-1] = status
	return buf[start:]
}

// fetchError is a reply that refuses a get: status and a reason.
func fetchError(status byte, msg string) []byte {
	if len(msg) > maxMsgText {
		msg = msg[:maxMsgText]
	}
	buf := make([]byte, fetchHeader+len(msg))
	copy(buf[fetchHeader:], msg)
	return fetchReply(buf, status)
}

// readFetchReply reads one reply from r. A share (status OK) must be
// exactly len(buf) bytes, the size the client expects, and is read into
// buf; a refusal's reason is at most maxMsgText bytes. A length other than
// these is refused before its body is read (the stream is then out of
// step: the caller resets it).
func readFetchReply(r io.Reader, buf []byte) (status byte, msg string, err error) {
	var b [1]byte
	var size uint64
	for i := 0; ; i++ {
		if i == binary.MaxVarintLen64 {
			return 0, "", fmt.Errorf("%w: reply length", errWire)
		}
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return 0, "", fmt.Errorf("storage: read reply: %w", err)
		}
		if i == binary.MaxVarintLen64-1 && b[0] > 1 {
			return 0, "", fmt.Errorf("%w: reply length", errWire)
		}
		size |= uint64(b[0]&0x7f) << (7 * i)
		if b[0] < 0x80 {
			break
		}
	}
	if size == 0 || size > uint64(1+max(len(buf), maxMsgText)) {
		return 0, "", fmt.Errorf("%w: reply of %d bytes", errWire, size)
	}
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return 0, "", fmt.Errorf("storage: read reply: %w", io.ErrUnexpectedEOF)
	}
	status, size = b[0], size-1
	switch {
	case status > statusBad:
		return 0, "", fmt.Errorf("%w: status %d", errWire, status)
	case status == statusOK:
		if size != uint64(len(buf)) {
			return 0, "", fmt.Errorf("%w: share of %d bytes, want %d", errWire, size, len(buf))
		}
		if _, err := io.ReadFull(r, buf); err != nil {
			return 0, "", fmt.Errorf("storage: read share: %w", noEOF(err))
		}
		return statusOK, "", nil
	case size > maxMsgText:
		return 0, "", fmt.Errorf("%w: reason of %d bytes", errWire, size)
	}
	text := make([]byte, size)
	if _, err := io.ReadFull(r, text); err != nil {
		return 0, "", fmt.Errorf("storage: read reply: %w", noEOF(err))
	}
	return status, string(text), nil
}

func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

package p2p

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"
)

// ErrMsgTooLarge is returned by [ReadMsg] when a message's length prefix
// exceeds the caller's limit. The body is not read: the caller should reset
// the stream, because its read position is now inside the oversized body.
var ErrMsgTooLarge = errors.New("p2p: message too large")

// ErrBadLength is returned by [ReadMsg] when a length prefix is not a valid
// uvarint (longer than binary.MaxVarintLen64 bytes or overflowing 64 bits).
var ErrBadLength = errors.New("p2p: malformed message length")

// FirstRequestTimeout is how long a stream handler waits for the first
// request on a stream a peer opened before it closes the stream. Every
// peerpath client writes its request as it opens the stream (libp2p sends
// the protocol negotiation with it), so only a peer that opens streams to
// hold them idle ever waits this long; the bound keeps such peers from
// tying up a node's handlers.
const FirstRequestTimeout = 5 * time.Second

// smallMsg is the size below which WriteMsg copies prefix and body into one
// buffer so that the pair leaves in a single Write (one yamux frame).
const smallMsg = 4 << 10

// WriteMsg writes msg to w preceded by its length as an unsigned varint.
// Messages of up to a few KiB go out in a single Write call.
func WriteMsg(w io.Writer, msg []byte) error {
	var hdr [binary.MaxVarintLen64]byte
	n := binary.PutUvarint(hdr[:], uint64(len(msg)))
	if len(msg) <= smallMsg {
		buf := make([]byte, 0, n+len(msg))
		buf = append(buf, hdr[:n]...)
		buf = append(buf, msg...)
		if _, err := w.Write(buf); err != nil {
			return fmt.Errorf("p2p: write message: %w", err)
		}
		return nil
	}
	if _, err := w.Write(hdr[:n]); err != nil {
		return fmt.Errorf("p2p: write message header: %w", err)
	}
	if _, err := w.Write(msg); err != nil {
		return fmt.Errorf("p2p: write message body: %w", err)
	}
	return nil
}

// ReadMsg reads one message written by [WriteMsg]. The length prefix is
// checked against max before anything is allocated or read past it: a longer
// message gives [ErrMsgTooLarge]. A negative max is treated as 0.
//
// It returns io.EOF (unwrapped) when r ends cleanly before a message starts,
// io.ErrUnexpectedEOF (wrapped) when r ends inside one, and [ErrBadLength]
// for a malformed prefix. The header is read one byte at a time, so ReadMsg
// never consumes bytes beyond the message it returns.
func ReadMsg(r io.Reader, max int) ([]byte, error) {
	if max < 0 {
		max = 0
	}
	size, err := readUvarint(r)
	if err != nil {
		return nil, err
	}
	if size > uint64(max) {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrMsgTooLarge, size, max)
	}
	if size <= eagerAlloc {
		buf := make([]byte, size)
		if _, err := io.ReadFull(r, buf); err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return nil, fmt.Errorf("p2p: read message body: %w", err)
		}
		return buf, nil
	}
	// A large length is only a claim: grow the buffer as bytes arrive, so a
	// peer that sends a big header and then stalls costs us little memory.
	buf, err := io.ReadAll(io.LimitReader(r, int64(size)))
	if err != nil {
		return nil, fmt.Errorf("p2p: read message body: %w", err)
	}
	if uint64(len(buf)) != size {
		return nil, fmt.Errorf("p2p: read message body: %w", io.ErrUnexpectedEOF)
	}
	return buf, nil
}

// eagerAlloc is the largest body ReadMsg allocates in full before reading.
const eagerAlloc = 64 << 10

// readUvarint reads a uvarint one byte at a time from r.
func readUvarint(r io.Reader) (uint64, error) {
	var (
		x     uint64
		shift uint
		b     [1]byte
	)
	for i := 0; i < binary.MaxVarintLen64; i++ {
		if _, err := io.ReadFull(r, b[:]); err != nil {
			if i == 0 && errors.Is(err, io.EOF) {
				return 0, io.EOF
			}
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return 0, fmt.Errorf("p2p: read message header: %w", err)
		}
		c := b[0]
		if c < 0x80 {
			if i == binary.MaxVarintLen64-1 && c > 1 {
				return 0, ErrBadLength
			}
			return x | uint64(c)<<shift, nil
		}
		x |= uint64(c&0x7f) << shift
		shift += 7
	}
	return 0, ErrBadLength
}

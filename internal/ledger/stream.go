package ledger

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/raft"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
)

// RaftProtocol carries raft RPCs between voters over libp2p streams
// (authenticated and encrypted by the libp2p connection).
const RaftProtocol protocol.ID = "/peerpath/ledger/raft/1.0.0"

// StreamLayer is a raft.StreamLayer over a libp2p host: a raft
// ServerAddress is a peer ID string, Dial opens a RaftProtocol stream to
// that peer, and Accept returns incoming streams. An incoming stream from a
// peer that allow rejects is reset before raft sees it.
type StreamLayer struct {
	host  host.Host
	allow func(peer.ID) bool
	log   *slog.Logger

	conns     chan net.Conn
	done      chan struct{}
	closeOnce sync.Once
}

var _ raft.StreamLayer = (*StreamLayer)(nil)

// NewStreamLayer registers the RaftProtocol handler on h. allow decides,
// per incoming stream, whether the remote peer may speak raft to us (the
// ledger passes "is a voter in the current configuration").
func NewStreamLayer(h host.Host, allow func(peer.ID) bool, log *slog.Logger) *StreamLayer {
	sl := &StreamLayer{
		host:  h,
		allow: allow,
		log:   log,
		conns: make(chan net.Conn),
		done:  make(chan struct{}),
	}
	h.SetStreamHandler(RaftProtocol, sl.handle)
	return sl
}

func (sl *StreamLayer) handle(s network.Stream) {
	remote := s.Conn().RemotePeer()
	if !sl.allow(remote) {
		sl.log.Warn("ledger: raft stream from a non-voter reset", "peer", remote)
		_ = s.Reset()
		return
	}
	select {
	case sl.conns <- &streamConn{Stream: s}:
	case <-sl.done:
		_ = s.Reset()
	}
}

// Accept waits for the next allowed incoming raft stream.
func (sl *StreamLayer) Accept() (net.Conn, error) {
	select {
	case c := <-sl.conns:
		return c, nil
	case <-sl.done:
		return nil, fmt.Errorf("ledger: stream layer: %w", net.ErrClosed)
	}
}

// Close stops accepting streams and removes the protocol handler. Streams
// already handed to raft are closed by raft.
func (sl *StreamLayer) Close() error {
	sl.closeOnce.Do(func() {
		sl.host.RemoveStreamHandler(RaftProtocol)
		close(sl.done)
	})
	return nil
}

// Addr returns this host's peer ID as a net.Addr.
func (sl *StreamLayer) Addr() net.Addr { return peerAddr(sl.host.ID()) }

// Dial opens a raft stream to the peer whose ID is address.
func (sl *StreamLayer) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	id, err := peer.Decode(string(address))
	if err != nil {
		return nil, fmt.Errorf("ledger: dial %q: %w", address, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	go func() { // Dial has no ctx: stop waiting when the layer closes
		select {
		case <-sl.done:
			cancel()
		case <-ctx.Done():
		}
	}()
	s, err := sl.host.NewStream(ctx, id, RaftProtocol)
	if err != nil {
		return nil, fmt.Errorf("ledger: dial %s: %w", id, err)
	}
	return &streamConn{Stream: s}, nil
}

// peerAddr is a peer ID as a net.Addr.
type peerAddr peer.ID

// Network is "libp2p".
func (a peerAddr) Network() string { return "libp2p" }

// String is the peer ID.
func (a peerAddr) String() string { return peer.ID(a).String() }

// streamConn is a libp2p stream as a net.Conn.
type streamConn struct {
	network.Stream
}

// LocalAddr is our peer ID.
func (c *streamConn) LocalAddr() net.Addr { return peerAddr(c.Conn().LocalPeer()) }

// RemoteAddr is the remote peer ID.
func (c *streamConn) RemoteAddr() net.Addr { return peerAddr(c.Conn().RemotePeer()) }

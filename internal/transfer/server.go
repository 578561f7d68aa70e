package transfer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/peerpath/peerpath/internal/content"
	"github.com/peerpath/peerpath/internal/p2p"
	"github.com/peerpath/peerpath/internal/peerlimit"
)

// Serve registers the stream handler for ProtocolID and serves requests until
// ctx is done; it then removes the handler, resets the streams in service,
// waits for their handlers to return and returns nil. It returns ErrServing
// if the Service is already serving.
func (s *Service) Serve(ctx context.Context) error {
	s.serveMu.Lock()
	if s.serving {
		s.serveMu.Unlock()
		return ErrServing
	}
	s.serving = true
	s.serveMu.Unlock()
	defer func() {
		s.serveMu.Lock()
		s.serving = false
		s.serveMu.Unlock()
	}()

	// Handlers join wg only while the server is not stopped, under mu, so
	// no Add can race with the final Wait.
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		stopped bool
	)
	h := s.cfg.Host
	h.SetStreamHandler(ProtocolID, func(st network.Stream) {
		mu.Lock()
		if stopped {
			mu.Unlock()
			st.Reset()
			return
		}
		wg.Add(1)
		mu.Unlock()
		defer wg.Done()
		s.handle(ctx, st)
	})
	<-ctx.Done()
	h.RemoveStreamHandler(ProtocolID)
	mu.Lock()
	stopped = true
	mu.Unlock()
	wg.Wait()
	return nil
}

// Serving limits. A stream costs the server little while it waits for a
// request (a goroutine), and a request in service costs a chunk buffer and
// the disk: so open streams are bounded generously and only against one
// peer, connection or address flooding the node, while requests in service
// are bounded tightly and in all, and a stream holds a service slot only
// while it is being answered. An idle stream therefore keeps nobody else
// out, and one that sends no request within firstRequestTimeout is closed.
func newServeSlots() (streams, serving *peerlimit.Slots) {
	streams = peerlimit.NewSlots(peerlimit.SlotLimits{
		PerPeer: MaxStreamsPerPeer,
		PerConn: MaxStreamsPerPeer,
		PerIP:   maxStreamsPerIP,
	})
	serving = peerlimit.NewSlots(peerlimit.SlotLimits{
		PerPeer: MaxServingPerPeer,
		PerConn: MaxServingPerPeer,
		PerIP:   maxServingPerIP,
		Total:   MaxServing,
	})
	return streams, serving
}

// refuse answers a stream busy, saying which limit was reached, and closes
// it.
func (s *Service) refuse(st network.Stream, why error) {
	s.log.Debug("transfer: busy", "peer", st.Conn().RemotePeer(), "err", why)
	st.SetWriteDeadline(time.Now().Add(5 * time.Second))
	writeMessage(st, statusBusy, why.Error())
	st.Close()
}

// handle serves one stream: requests in order, one at a time.
func (s *Service) handle(ctx context.Context, st network.Stream) {
	p := st.Conn().RemotePeer()
	log := s.log.With("peer", p)
	release, err := s.streams.Acquire(st.Conn())
	if err != nil {
		s.refuse(st, fmt.Errorf("too many streams: %w", err))
		return
	}
	defer release()
	ctx, cancel := context.WithCancel(p2p.WithRemotePeer(ctx, p))
	defer cancel()
	stop := context.AfterFunc(ctx, func() { st.Reset() })
	defer stop()

	wait := firstRequestTimeout
	for {
		st.SetReadDeadline(time.Now().Add(wait))
		req, err := readRequest(st)
		if err != nil {
			if errors.Is(err, io.EOF) {
				st.Close()
				return
			}
			if errors.Is(err, ErrProtocol) {
				log.Debug("transfer: bad request", "err", err)
				s.addScore(p, scoreProtocol)
			}
			st.Reset()
			return
		}
		wait = idleTimeout
		st.SetReadDeadline(time.Time{})
		done, err := s.inServe.Acquire(st.Conn())
		if err != nil {
			s.refuse(st, fmt.Errorf("too many requests in service: %w", err))
			return
		}
		err = s.serveOne(ctx, deadlineStream{st: st, d: idleTimeout}, p, req)
		done()
		if err != nil {
			log.Debug("transfer: serving failed", "id", req.id, "err", err)
			st.Reset()
			return
		}
	}
}

// serveOne answers one request. It returns an error only when the stream is
// no longer usable.
func (s *Service) serveOne(ctx context.Context, st io.Writer, p peer.ID, req request) error {
	src := s.cfg.Source
	if src == nil {
		return writeMessage(st, statusNotFound, req.id.String())
	}
	var hdr [respHeaderLen]byte
	if s.refuses(req.id) {
		s.log.Debug("transfer: refused by content policy", "peer", p, "id", req.id)
		return writeMessage(st, statusRefused, "content policy: "+req.id.String())
	}
	switch req.op {
	case opManifest:
		if !content.IsFile(req.id) && !content.IsDir(req.id) {
			return writeMessage(st, statusNotFound, "not a manifest id")
		}
		m, err := src.Manifest(ctx, req.id)
		if err != nil {
			return s.sourceError(st, req, err)
		}
		if len(m) > content.MaxManifestSize {
			return writeMessage(st, statusError, "manifest too large")
		}
		putRespHeader(&hdr, statusOK, len(m))
		if _, err := st.Write(hdr[:]); err != nil {
			return err
		}
		return s.up.Load().write(ctx, st, p, m)
	default: // opChunk
		if !content.IsChunk(req.id) {
			return writeMessage(st, statusNotFound, "not a chunk id")
		}
		buf := s.getBuf(defaultBuf)
		defer s.putBuf(buf)
		data, err := src.Chunk(ctx, req.id, (*buf)[:cap(*buf)])
		if err != nil {
			return s.sourceError(st, req, err)
		}
		if len(data) > MaxChunkSize {
			return writeMessage(st, statusError, "chunk too large")
		}
		putRespHeader(&hdr, statusOK, len(data))
		if _, err := st.Write(hdr[:]); err != nil {
			return err
		}
		if err := s.up.Load().write(ctx, st, p, data); err != nil {
			return err
		}
		if s.cfg.Meter != nil {
			s.cfg.Meter.Sent(p, len(data))
		}
		return nil
	}
}

// sourceError answers a request the BlockSource could not satisfy.
func (s *Service) sourceError(st io.Writer, req request, err error) error {
	if errors.Is(err, ErrRefused) {
		return writeMessage(st, statusRefused, "content policy: "+req.id.String())
	}
	if isNotFound(err) {
		return writeMessage(st, statusNotFound, req.id.String())
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	s.log.Warn("transfer: block source failed", "id", req.id, "err", err)
	return writeMessage(st, statusError, "internal error")
}

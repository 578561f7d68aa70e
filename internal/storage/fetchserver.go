package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"golang.org/x/time/rate"

	"github.com/peerpath/peerpath/internal/p2p"
	"github.com/peerpath/peerpath/internal/peerlimit"
)

// newFetchAdmission admits get sessions: a session holds a slot for up to
// fetchStreamLife (plus its last reply), so their number is bounded in
// all, per peer and per address, apart from the one-request protocol's.
// Every get, not only every stream, counts against a peer's rate.
func newFetchAdmission() *p2p.Admission {
	return p2p.NewAdmission(p2p.AdmitConfig{
		Rate: rate.Limit(400), Burst: 800,
		Concurrent: 32,
		Slots:      &peerlimit.SlotLimits{PerPeer: 4, PerIP: 8},
		Deadline:   fetchStreamLife + requestDeadline,
		MaxRequest: fetchRequestSize,
		Busy:       append([]byte{statusBusy}, "busy"...), // framed by Admit: a reply
	})
}

// replyBufs are the buffers replies are read from disk into.
var replyBufs sync.Pool

// handleFetch serves a get session (see [FetchProtocolID]): one get at a
// time, in order, each reply checked against its id before it is sent.
func (s *Service) handleFetch(st network.Stream) {
	defer st.Close()
	req, release, ok := s.fetchAdmit.Admit(st)
	if !ok {
		return
	}
	defer release()
	s.sessions.Add(1)
	from := st.Conn().RemotePeer()
	last := time.Now().Add(fetchStreamLife)
	bp, _ := replyBufs.Get().(*[]byte)
	if bp == nil {
		bp = new([]byte)
	}
	defer replyBufs.Put(bp)
	for n := 1; ; n++ {
		_ = st.SetWriteDeadline(time.Now().Add(requestDeadline))
		out := s.serveGet(st, req, bp)
		s.sessionGets.Add(1)
		if _, err := st.Write(out); err != nil {
			_ = st.Reset()
			return
		}
		if n >= MaxFetchesPerStream || time.Now().After(last) {
			return
		}
		_ = st.SetReadDeadline(time.Now().Add(fetchIdle))
		var err error
		if req, err = p2p.ReadMsg(st, fetchRequestSize); err != nil {
			if !errors.Is(err, io.EOF) {
				_ = st.Reset()
			}
			return
		}
		if !s.fetchAdmit.Allow(from) {
			_, _ = st.Write(fetchError(statusBusy, "storage: too many requests"))
			return
		}
	}
}

// serveGet returns the reply to one get request: the share framed in
// *bp's memory, or a refusal.
func (s *Service) serveGet(st network.Stream, req []byte, bp *[]byte) []byte {
	id, err := decodeFetch(req)
	if err != nil {
		return fetchError(statusBad, err.Error())
	}
	ctx, cancel := context.WithTimeout(context.Background(), requestDeadline)
	defer cancel()
	buf, err := s.held.readInto(ctx, id, *bp, fetchHeader)
	if err != nil {
		return fetchError(errResponse(err).Status, err.Error())
	}
	*bp = buf
	if HashShare(buf[fetchHeader:]) != id {
		// Never serve bytes that no longer match their name.
		s.log.Warn("storage: held share corrupt on disk", "share", id, "peer", st.Conn().RemotePeer())
		return fetchError(statusCorrupt, fmt.Sprintf("%v: held share %s", ErrCorrupt, id))
	}
	return fetchReply(buf, statusOK)
}

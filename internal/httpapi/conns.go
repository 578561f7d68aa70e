package httpapi

import (
	"net"
	"net/http"
	"sync"
)

// connLimiter is a listener that keeps at most max connections open. When
// a new connection would exceed it, the oldest connection that is not
// serving a request (one still waiting for its header, or idle between
// requests) is closed to make room; when every connection is serving a
// request, the new one is closed instead. So idle connections, however
// many a client opens, cost the daemon at most max descriptors, and a
// client that sends its request promptly is served.
type connLimiter struct {
	net.Listener
	max int

	mu    sync.Mutex
	seq   uint64
	conns map[net.Conn]*connEntry
}

type connEntry struct {
	busy  bool   // serving a request (http.StateActive)
	since uint64 // order of the last change to idle or new
}

func newConnLimiter(ln net.Listener, max int) *connLimiter {
	return &connLimiter{Listener: ln, max: max, conns: make(map[net.Conn]*connEntry, max)}
}

// Accept accepts a connection, making room for it first if needed.
func (l *connLimiter) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		var evict net.Conn
		l.mu.Lock()
		if len(l.conns) >= l.max {
			var oldest *connEntry
			for oc, e := range l.conns {
				if !e.busy && (oldest == nil || e.since < oldest.since) {
					evict, oldest = oc, e
				}
			}
			if evict == nil {
				l.mu.Unlock()
				c.Close() // every slot serves a request
				continue
			}
			delete(l.conns, evict)
		}
		l.seq++
		l.conns[c] = &connEntry{since: l.seq}
		l.mu.Unlock()
		if evict != nil {
			evict.Close()
		}
		return c, nil
	}
}

// setState is the server's ConnState hook.
func (l *connLimiter) setState(c net.Conn, st http.ConnState) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.conns[c]
	if e == nil {
		return // evicted
	}
	switch st {
	case http.StateActive:
		e.busy = true
	case http.StateIdle:
		l.seq++
		e.busy, e.since = false, l.seq
	case http.StateClosed, http.StateHijacked:
		delete(l.conns, c)
	}
}

// open returns the number of connections counted.
func (l *connLimiter) open() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.conns)
}

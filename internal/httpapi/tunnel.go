package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/peerpath/peerpath/api"
	"github.com/peerpath/peerpath/internal/ledger"
	"github.com/peerpath/peerpath/internal/tunnel"
)

// Tunnel shares local TCP services with chosen peers and forwards local
// ports to other peers' services (*tunnel.Service). Peers are given as the
// user typed them; the service resolves them in one place.
//
// None of these routes carries a service's bytes: the API configures
// exposures and forwards, and a forward's bytes flow only through the
// loopback listener it opens. So the API's gate (Host, Origin, token)
// protects who may expose, allow or connect, and no request to the API
// ever reaches an exposed service.
type Tunnel interface {
	Expose(ctx context.Context, name, addr string, allow []string, pricePerGiB int64) (tunnel.Exposure, error)
	List() []tunnel.Exposure
	SetIdleTimeout(ctx context.Context, name string, d time.Duration) (tunnel.Exposure, error)
	Remove(ctx context.Context, name string) error
	Allow(ctx context.Context, name, who string) (tunnel.Exposure, error)
	Deny(ctx context.Context, name, who string) (tunnel.Exposure, int, error)
	Offers(ctx context.Context, who string) (peer.ID, []tunnel.Offer, error)
	Connect(ctx context.Context, who, name, listen string) (tunnel.Forward, error)
	Forwards() []tunnel.Forward
	Disconnect(ctx context.Context, target string) ([]tunnel.Forward, error)
}

func apiService(e tunnel.Exposure) api.Service {
	out := api.Service{Name: e.Name, Addr: e.Addr, Allow: []string{}, PricePerGiB: credits(e.PricePerGiB),
		Created: e.Created, Peers: []api.ServicePeer{}}
	if e.IdleTimeout > 0 {
		out.IdleTimeout = e.IdleTimeout.String()
	}
	allowed := map[peer.ID]bool{}
	for _, p := range e.Allow {
		out.Allow = append(out.Allow, p.String())
		allowed[p] = true
	}
	seen := map[peer.ID]bool{}
	for _, u := range e.Peers {
		seen[u.Peer] = true
		out.Peers = append(out.Peers, api.ServicePeer{Peer: u.Peer.String(), Allowed: allowed[u.Peer], Conns: u.Conns,
			BytesIn: u.BytesIn, BytesOut: u.BytesOut})
	}
	for _, p := range e.Allow {
		if !seen[p] {
			out.Peers = append(out.Peers, api.ServicePeer{Peer: p.String(), Allowed: true})
		}
	}
	return out
}

func apiForward(f tunnel.Forward) api.Forward {
	return api.Forward{Peer: f.Peer.String(), Service: f.Service, Listen: f.Listen, PricePerGiB: credits(f.PricePerGiB),
		Opened: f.Opened, Conns: f.Conns, BytesIn: f.BytesIn, BytesOut: f.BytesOut, LastError: f.LastError}
}

// serviceUsage lists the bytes per service and peer for the meter.
func serviceUsage(t Tunnel) []api.ServiceUsage {
	out := []api.ServiceUsage{}
	for _, e := range t.List() {
		for _, u := range e.Peers {
			out = append(out, api.ServiceUsage{Service: e.Name, Peer: u.Peer.String(), Role: "exposed", BytesIn: u.BytesIn, BytesOut: u.BytesOut})
		}
	}
	for _, f := range t.Forwards() {
		out = append(out, api.ServiceUsage{Service: f.Service, Peer: f.Peer.String(), Role: "used", BytesIn: f.BytesIn, BytesOut: f.BytesOut})
	}
	return out
}

// tunnelRoutes serves /api/v1/services (what this node exposes, and what
// a peer offers it) and /api/v1/forwards (local listeners to peers'
// services).
func tunnelRoutes(t Tunnel) []route {
	return []route{
		{pattern: "GET /api/v1/services", fn: func(http.ResponseWriter, *http.Request) (any, error) {
			out := []api.Service{}
			for _, e := range t.List() {
				out = append(out, apiService(e))
			}
			return out, nil
		}},
		{pattern: "POST /api/v1/services", fn: func(_ http.ResponseWriter, r *http.Request) (any, error) {
			var req api.ServiceExposeRequest
			if err := DecodeJSON(r, &req); err != nil {
				return nil, err
			}
			var price int64
			if req.PricePerGiB != "" {
				p, err := ledger.ParseCredits(req.PricePerGiB)
				if err != nil || p < 0 {
					return nil, BadRequest(fmt.Errorf("bad price_per_gib %q: want a number of credits, 0 or more", req.PricePerGiB))
				}
				price = p
			}
			var idle time.Duration
			if req.IdleTimeout != "" {
				d, err := time.ParseDuration(req.IdleTimeout)
				if err != nil || d < 0 {
					return nil, BadRequest(fmt.Errorf("bad idle_timeout %q: want a duration such as 30m, or 0 for never", req.IdleTimeout))
				}
				idle = d
			}
			if len(req.Allow) == 0 {
				return nil, BadRequest(errors.New("allow names no peer: a service is offered to chosen peers only (--allow PEER[,PEER…])"))
			}
			e, err := t.Expose(r.Context(), req.Name, req.Addr, req.Allow, price)
			if err != nil {
				return nil, err
			}
			if idle > 0 {
				if e, err = t.SetIdleTimeout(r.Context(), req.Name, idle); err != nil {
					return nil, err
				}
			}
			return apiService(e), nil
		}},
		{pattern: "DELETE /api/v1/services/{name}", fn: func(_ http.ResponseWriter, r *http.Request) (any, error) {
			name := r.PathValue("name")
			if err := t.Remove(r.Context(), name); err != nil {
				return nil, err
			}
			return api.ServiceRemoved{Removed: name}, nil
		}},
		{pattern: "POST /api/v1/services/{name}/allow", fn: func(_ http.ResponseWriter, r *http.Request) (any, error) {
			var req api.ServicePeerRequest
			if err := DecodeJSON(r, &req); err != nil {
				return nil, err
			}
			e, err := t.Allow(r.Context(), r.PathValue("name"), req.Peer)
			if err != nil {
				return nil, err
			}
			return apiService(e), nil
		}},
		{pattern: "POST /api/v1/services/{name}/deny", fn: func(_ http.ResponseWriter, r *http.Request) (any, error) {
			var req api.ServicePeerRequest
			if err := DecodeJSON(r, &req); err != nil {
				return nil, err
			}
			e, n, err := t.Deny(r.Context(), r.PathValue("name"), req.Peer)
			if err != nil {
				return nil, err
			}
			return api.ServiceDenied{Service: apiService(e), Closed: n}, nil
		}},
		{pattern: "GET /api/v1/services/offered/{peer}", fn: func(_ http.ResponseWriter, r *http.Request) (any, error) {
			p, offers, err := t.Offers(r.Context(), r.PathValue("peer"))
			if err != nil {
				return nil, err
			}
			out := api.ServiceOffers{Peer: p.String(), Services: []api.ServiceOffer{}}
			for _, o := range offers {
				out.Services = append(out.Services, api.ServiceOffer{Name: o.Name, PricePerGiB: credits(o.PricePerGiB)})
			}
			return out, nil
		}},
		{pattern: "GET /api/v1/forwards", fn: func(http.ResponseWriter, *http.Request) (any, error) {
			out := []api.Forward{}
			for _, f := range t.Forwards() {
				out = append(out, apiForward(f))
			}
			return out, nil
		}},
		{pattern: "POST /api/v1/forwards", fn: func(_ http.ResponseWriter, r *http.Request) (any, error) {
			var req api.ForwardRequest
			if err := DecodeJSON(r, &req); err != nil {
				return nil, err
			}
			f, err := t.Connect(r.Context(), req.Peer, req.Service, req.Listen)
			if err != nil {
				return nil, err
			}
			return apiForward(f), nil
		}},
		{pattern: "POST /api/v1/forwards/close", fn: func(_ http.ResponseWriter, r *http.Request) (any, error) {
			var req api.ForwardCloseRequest
			if err := DecodeJSON(r, &req); err != nil {
				return nil, err
			}
			fs, err := t.Disconnect(r.Context(), req.Target)
			if err != nil {
				return nil, err
			}
			out := api.ForwardsClosed{Closed: []api.Forward{}}
			for _, f := range fs {
				out.Closed = append(out.Closed, apiForward(f))
			}
			return out, nil
		}},
	}
}

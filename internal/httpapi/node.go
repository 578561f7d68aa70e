package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/peerpath/peerpath/api"
)

// nodeRoutes serves the node itself: identity, peers, status, connect.
// /status also reports the shares' announcing, the bandwidth limits and
// the downloads folder when those services run.
func nodeRoutes(svc Services) []route {
	self := svc.Self
	return []route{
		{pattern: "GET /api/v1/id", fn: func(w http.ResponseWriter, r *http.Request) (any, error) {
			return api.Identity{ID: self.ID().String(), Addrs: nonNil(self.Addrs())}, nil
		}},
		{pattern: "GET /api/v1/peers", fn: func(w http.ResponseWriter, r *http.Request) (any, error) {
			ps := self.Peers()
			out := make([]api.Peer, 0, len(ps))
			names, _ := r.Context().Value(resolverKey{}).(Contacts)
			for _, p := range ps {
				ap := api.Peer{ID: p.ID, Addrs: nonNil(p.Addrs), LatencyMS: p.LatencyMS, LAN: p.LAN}
				if id, err := peer.Decode(p.ID); err == nil && names != nil {
					ap.Label = names.Label(id).Text
				}
				out = append(out, ap)
			}
			return out, nil
		}},
		{pattern: "GET /api/v1/status", fn: func(w http.ResponseWriter, r *http.Request) (any, error) {
			st := self.Status()
			out := api.Status{
				Seeding:       svc.Info.Seeding,
				ID:            self.ID().String(),
				Version:       svc.Info.Version,
				UptimeSeconds: time.Since(svc.Info.Started).Seconds(),
				Peers:         st.Peers,
				RoutingTable:  st.RoutingTable,
				Reachability:  st.Reachability,
				BytesIn:       st.BytesIn,
				BytesOut:      st.BytesOut,
				RateIn:        st.RateIn,
				RateOut:       st.RateOut,
				Private:       svc.Info.Private,
			}
			// Status is the one route that reports on several services;
			// it leaves out the parts of those the node lacks.
			if svc.Shares != nil {
				out.Announced, out.ToAnnounce = svc.Shares.AnnounceProgress()
			}
			if svc.Limits != nil {
				out.MaxUpload, out.MaxDownload = svc.Limits.Limits()
			}
			if svc.Downloads != nil {
				out.DownloadsDir = svc.Downloads.Dir()
			}
			return out, nil
		}},
		{pattern: "POST /api/v1/connect", fn: func(w http.ResponseWriter, r *http.Request) (any, error) {
			var req api.ConnectRequest
			if err := DecodeJSON(r, &req); err != nil {
				return nil, err
			}
			if req.Addr == "" {
				return nil, BadRequest(errors.New("addr is required"))
			}
			ctx, cancel := context.WithTimeout(r.Context(), 15*time.Second)
			defer cancel()
			if _, err := peer.AddrInfoFromString(req.Addr); err != nil {
				return nil, BadRequest(fmt.Errorf("bad multiaddr %q: %w", req.Addr, err))
			}
			if err := self.Connect(ctx, req.Addr); err != nil {
				return nil, &StatusError{Status: http.StatusBadGateway, Err: err}
			}
			return api.Connected{Connected: req.Addr}, nil
		}},
	}
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// peerFromBody reads a {"id": PEERID} body (api.VoterRequest,
// api.BlockRequest) and resolves the peer ID or contact name.
func peerFromBody(r *http.Request) (peer.ID, error) {
	var req struct {
		ID string `json:"id"`
	}
	if err := DecodeJSON(r, &req); err != nil {
		return "", err
	}
	return parsePeer(r, req.ID)
}

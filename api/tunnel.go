package api

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"time"
)

// ServiceExposeRequest is the body of POST /api/v1/services: offer the TCP
// service at Addr (loopback or a LAN address) under Name to the peers in
// Allow (peer ids or contact names).
type ServiceExposeRequest struct {
	Name  string   `json:"name"`
	Addr  string   `json:"addr"`
	Allow []string `json:"allow"`
	// PricePerGiB, in credits, is what each GiB through the service costs
	// its users ("" or "0": free).
	PricePerGiB string `json:"price_per_gib,omitempty"`
	// IdleTimeout (a Go duration, e.g. "30m") closes a connection that
	// moved no byte for that long; "" or "0": never.
	IdleTimeout string `json:"idle_timeout,omitempty"`
}

// ServicePeer is one peer's use of an exposed service.
type ServicePeer struct {
	Peer    string `json:"peer"`
	Allowed bool   `json:"allowed"`
	Conns   int    `json:"conns"`
	// BytesIn went from the peer to the service, BytesOut back.
	BytesIn  int64 `json:"bytes_in"`
	BytesOut int64 `json:"bytes_out"`
}

// Service is one service this node exposes.
type Service struct {
	Name        string        `json:"name"`
	Addr        string        `json:"addr"`
	Allow       []string      `json:"allow"`
	PricePerGiB json.Number   `json:"price_per_gib"`
	IdleTimeout string        `json:"idle_timeout,omitempty"`
	Created     time.Time     `json:"created"`
	Peers       []ServicePeer `json:"peers"`
}

// ServiceRemoved answers DELETE /api/v1/services/{name}.
type ServiceRemoved struct {
	Removed string `json:"removed"`
}

// ServicePeerRequest is the body of POST /api/v1/services/{name}/allow and
// …/deny.
type ServicePeerRequest struct {
	Peer string `json:"peer"`
}

// ServiceDenied answers POST /api/v1/services/{name}/deny: the service
// after the change and how many of the peer's open connections were
// closed.
type ServiceDenied struct {
	Service Service `json:"service"`
	Closed  int     `json:"closed"`
}

// ServiceOffer is one service a peer offers to this node.
type ServiceOffer struct {
	Name        string      `json:"name"`
	PricePerGiB json.Number `json:"price_per_gib"`
}

// ServiceOffers answers GET /api/v1/services/offered/{peer}.
type ServiceOffers struct {
	Peer     string         `json:"peer"`
	Services []ServiceOffer `json:"services"`
}

// ForwardRequest is the body of POST /api/v1/forwards: listen on Listen (a
// loopback address; "" picks a free port) and forward each connection to
// Peer's service Service.
type ForwardRequest struct {
	Peer    string `json:"peer"`
	Service string `json:"service"`
	Listen  string `json:"listen,omitempty"`
}

// Forward is one local listener forwarding to a peer's service.
type Forward struct {
	Peer        string      `json:"peer"`
	Service     string      `json:"service"`
	Listen      string      `json:"listen"`
	PricePerGiB json.Number `json:"price_per_gib"`
	Opened      time.Time   `json:"opened"`
	Conns       int         `json:"conns"`
	// BytesIn came from the service, BytesOut went to it.
	BytesIn   int64  `json:"bytes_in"`
	BytesOut  int64  `json:"bytes_out"`
	LastError string `json:"last_error,omitempty"`
}

// ForwardCloseRequest is the body of POST /api/v1/forwards/close: Target
// is a listen address or PEER/NAME.
type ForwardCloseRequest struct {
	Target string `json:"target"`
}

// ForwardsClosed answers POST /api/v1/forwards/close.
type ForwardsClosed struct {
	Closed []Forward `json:"closed"`
}

// ServiceUsage is the bytes one peer moved through one service, as the
// meter shows them: Role "exposed" for a service of this node, "used" for a
// peer's service this node forwards to.
type ServiceUsage struct {
	Service  string `json:"service"`
	Peer     string `json:"peer"`
	Role     string `json:"role"`
	BytesIn  int64  `json:"bytes_in"`
	BytesOut int64  `json:"bytes_out"`
}

// Services returns the services this node exposes.
func (c *Client) Services(ctx context.Context) ([]Service, error) {
	var v []Service
	return v, c.Do(ctx, http.MethodGet, Prefix+"/services", nil, &v)
}

// ExposeService offers a local TCP service to chosen peers.
func (c *Client) ExposeService(ctx context.Context, req ServiceExposeRequest) (Service, error) {
	var v Service
	return v, c.Do(ctx, http.MethodPost, Prefix+"/services", req, &v)
}

// RemoveService stops exposing a service and closes its connections.
func (c *Client) RemoveService(ctx context.Context, name string) (ServiceRemoved, error) {
	var v ServiceRemoved
	return v, c.Do(ctx, http.MethodDelete, Prefix+"/services/"+url.PathEscape(name), nil, &v)
}

// AllowService lets a peer use a service.
func (c *Client) AllowService(ctx context.Context, name, peer string) (Service, error) {
	var v Service
	return v, c.Do(ctx, http.MethodPost, Prefix+"/services/"+url.PathEscape(name)+"/allow", ServicePeerRequest{Peer: peer}, &v)
}

// DenyService stops a peer from using a service and closes its open
// connections to it.
func (c *Client) DenyService(ctx context.Context, name, peer string) (ServiceDenied, error) {
	var v ServiceDenied
	return v, c.Do(ctx, http.MethodPost, Prefix+"/services/"+url.PathEscape(name)+"/deny", ServicePeerRequest{Peer: peer}, &v)
}

// ServicesOf asks a peer which services it offers to this node.
func (c *Client) ServicesOf(ctx context.Context, peer string) (ServiceOffers, error) {
	var v ServiceOffers
	return v, c.Do(ctx, http.MethodGet, Prefix+"/services/offered/"+url.PathEscape(peer), nil, &v)
}

// ConnectService opens a local listener forwarding to a peer's service.
func (c *Client) ConnectService(ctx context.Context, req ForwardRequest) (Forward, error) {
	var v Forward
	return v, c.Do(ctx, http.MethodPost, Prefix+"/forwards", req, &v)
}

// Forwards returns the open forwards.
func (c *Client) Forwards(ctx context.Context) ([]Forward, error) {
	var v []Forward
	return v, c.Do(ctx, http.MethodGet, Prefix+"/forwards", nil, &v)
}

// DisconnectService closes the forwards a target names (a listen address or
// PEER/NAME).
func (c *Client) DisconnectService(ctx context.Context, target string) (ForwardsClosed, error) {
	var v ForwardsClosed
	return v, c.Do(ctx, http.MethodPost, Prefix+"/forwards/close", ForwardCloseRequest{Target: target}, &v)
}

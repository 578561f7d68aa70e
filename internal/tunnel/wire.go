package tunnel

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// Protocol is the libp2p protocol of the tunnel: one request, one answer,
// then (for "open") the connection's bytes.
const Protocol = "/peerpath/tunnel/1.0.0"

// Wire limits.
const (
	// MaxRequest bounds a request message; it is checked before reading.
	MaxRequest = 1 << 10
	// MaxResponse bounds an answer message (a "list" of MaxServices
	// entries fits).
	MaxResponse = 64 << 10
	// MaxServices bounds the services a node exposes.
	MaxServices = 256
	// MaxAllow bounds the peers allowed to use one service.
	MaxAllow = 1024
	// maxNameLen bounds a service name.
	maxNameLen = 64
)

// Request operations.
const (
	OpList = "list"
	OpOpen = "open"
)

// Request is the first message of a tunnel stream. Service names the
// service to open, or, in a list, the one the asker means to connect to
// (optional).
type Request struct {
	Op      string `json:"op"`
	Service string `json:"service,omitempty"`
}

// Offer is one service offered to the asking peer.
type Offer struct {
	Name string `json:"name"`
	// PricePerGiB is the service's price in micro-credits per GiB (0:
	// free).
	PricePerGiB int64 `json:"price_per_gib,omitempty"`
}

// Response answers a Request. An empty Error means yes.
type Response struct {
	Error string `json:"error,omitempty"`
	// Busy marks a refusal for lack of capacity (try again later), not of
	// permission.
	Busy bool `json:"busy,omitempty"`
	// Offers answers "list".
	Offers []Offer `json:"offers,omitempty"`
	// PricePerGiB answers "open": what the connection costs.
	PricePerGiB int64 `json:"price_per_gib,omitempty"`
}

// ErrBadRequest is returned by [DecodeRequest] for a request that is not
// one this version understands.
var ErrBadRequest = errors.New("tunnel: bad request")

// DecodeRequest parses and checks a request sent by a peer.
func DecodeRequest(b []byte) (Request, error) {
	var r Request
	if err := json.Unmarshal(b, &r); err != nil {
		return Request{}, fmt.Errorf("%w: %v", ErrBadRequest, err)
	}
	switch r.Op {
	case OpList:
		// A list may name the service the asker means to connect to, so
		// that the owner can log a refusal.
		if r.Service != "" && CheckName(r.Service) != nil {
			return Request{}, fmt.Errorf("%w: bad service name", ErrBadRequest)
		}
	case OpOpen:
		if err := CheckName(r.Service); err != nil {
			return Request{}, fmt.Errorf("%w: %w", ErrBadRequest, err)
		}
	default:
		return Request{}, fmt.Errorf("%w: unknown op %q", ErrBadRequest, r.Op)
	}
	return r, nil
}

// DecodeResponse parses an answer sent by a peer.
func DecodeResponse(b []byte) (Response, error) {
	var r Response
	if err := json.Unmarshal(b, &r); err != nil {
		return Response{}, fmt.Errorf("tunnel: bad answer: %w", err)
	}
	if len(r.Offers) > MaxServices {
		return Response{}, fmt.Errorf("tunnel: bad answer: %d offers", len(r.Offers))
	}
	for _, o := range r.Offers {
		if CheckName(o.Name) != nil || o.PricePerGiB < 0 {
			return Response{}, fmt.Errorf("tunnel: bad answer: offer %q", o.Name)
		}
	}
	if r.PricePerGiB < 0 {
		return Response{}, errors.New("tunnel: bad answer: negative price")
	}
	return r, nil
}

// ErrInvalid is returned (wrapped) for a service name, address or peer the
// owner or a caller gave that cannot be used.
var ErrInvalid = errors.New("tunnel: invalid")

// CheckName checks a service name: 1 to 64 letters, digits, '.', '_' or
// '-', not starting with '.' or '-'.
func CheckName(name string) error {
	if name == "" || len(name) > maxNameLen {
		return fmt.Errorf("%w: service name must be 1 to %d characters", ErrInvalid, maxNameLen)
	}
	for i, c := range name {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' ||
			(i > 0 && (c == '.' || c == '-'))
		if !ok {
			return fmt.Errorf("%w: service name %q: use letters, digits, '.', '_' and '-' (not first)", ErrInvalid, name)
		}
	}
	return nil
}

// CheckAddr checks the address of a service to expose and returns it in
// canonical form: an IP literal (or "localhost", taken as 127.0.0.1) that is
// loopback or in a private LAN range (10/8, 172.16/12, 192.168/16,
// 169.254/16, fc00::/7, fe80::/10), and a port from 1 to 65535. Host names
// are refused: what they resolve to can change after the owner checked.
func CheckAddr(addr string) (string, error) {
	host, port, err := net.SplitHostPort(strings.TrimSpace(addr))
	if err != nil {
		return "", fmt.Errorf("%w: address %q: want HOST:PORT, e.g. 127.0.0.1:631", ErrInvalid, addr)
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil || p == 0 {
		return "", fmt.Errorf("%w: address %q: port must be 1 to 65535", ErrInvalid, addr)
	}
	if host == "localhost" {
		host = "127.0.0.1"
	}
	ip, err := netip.ParseAddr(host)
	if err != nil || ip.Zone() != "" && !ip.IsLinkLocalUnicast() {
		return "", fmt.Errorf("%w: address %q: the host must be an IP address (loopback or LAN), not a name", ErrInvalid, addr)
	}
	ip = ip.Unmap()
	if !ip.IsLoopback() && !ip.IsPrivate() && !ip.IsLinkLocalUnicast() {
		return "", fmt.Errorf("%w: address %q: only loopback or LAN (private-range) addresses can be exposed", ErrInvalid, addr)
	}
	return net.JoinHostPort(ip.String(), strconv.FormatUint(p, 10)), nil
}

// CheckListen checks the local address a forward listens on: a loopback IP
// and a port (0 picks a free one). Listening elsewhere would hand the
// owner's service to the whole LAN.
func CheckListen(addr string) (string, error) {
	if addr == "" {
		return "127.0.0.1:0", nil
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("%w: listen address %q: want 127.0.0.1:PORT", ErrInvalid, addr)
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return "", fmt.Errorf("%w: listen address %q: bad port", ErrInvalid, addr)
	}
	if host == "localhost" {
		host = "127.0.0.1"
	}
	ip, err := netip.ParseAddr(host)
	if err != nil || !ip.IsLoopback() {
		return "", fmt.Errorf("%w: listen address %q: a forward listens on loopback only (127.0.0.1:PORT)", ErrInvalid, addr)
	}
	return net.JoinHostPort(ip.String(), port), nil
}

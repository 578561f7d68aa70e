package httpapi

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/peerpath/peerpath/internal/tunnel"
)

// fakeTunnel fails every call with err and records what Expose was given.
type fakeTunnel struct {
	err    error
	called int
	price  int64
	allow  []string
	idle   time.Duration
}

func (f *fakeTunnel) Expose(_ context.Context, name, addr string, allow []string, price int64) (tunnel.Exposure, error) {
	f.called++
	f.price, f.allow = price, allow
	return tunnel.Exposure{Name: name, Addr: addr}, f.err
}
func (f *fakeTunnel) List() []tunnel.Exposure { return nil }
func (f *fakeTunnel) SetIdleTimeout(_ context.Context, _ string, d time.Duration) (tunnel.Exposure, error) {
	f.idle = d
	return tunnel.Exposure{IdleTimeout: d}, f.err
}
func (f *fakeTunnel) Remove(context.Context, string) error {
	f.called++
	return f.err
}
func (f *fakeTunnel) Allow(context.Context, string, string) (tunnel.Exposure, error) {
	f.called++
	return tunnel.Exposure{}, f.err
}
func (f *fakeTunnel) Deny(context.Context, string, string) (tunnel.Exposure, int, error) {
	f.called++
	return tunnel.Exposure{}, 0, f.err
}
func (f *fakeTunnel) Offers(context.Context, string) (peer.ID, []tunnel.Offer, error) {
	f.called++
	return "", nil, f.err
}
func (f *fakeTunnel) Connect(context.Context, string, string, string) (tunnel.Forward, error) {
	f.called++
	return tunnel.Forward{}, f.err
}
func (f *fakeTunnel) Forwards() []tunnel.Forward { return nil }
func (f *fakeTunnel) Disconnect(context.Context, string) ([]tunnel.Forward, error) {
	f.called++
	return nil, f.err
}

// The tunnel's routes check what they can before the service sees it, and
// its errors map to their statuses.
func TestTunnelRoutes(t *testing.T) {
	mk := func(err error) (*Server, *fakeTunnel) {
		f := &fakeTunnel{err: err}
		return New(Config{Token: "secret", Services: Services{Tunnel: f}}), f
	}
	s, f := mk(nil)
	if code, body := do(t, s, http.MethodPost, "/api/v1/services", `{"name":"web","addr":"127.0.0.1:80","allow":[]}`); code != http.StatusBadRequest || f.called != 0 {
		t.Errorf("expose to nobody: %d %s, service called %d times", code, body, f.called)
	}
	if code, body := do(t, s, http.MethodPost, "/api/v1/services", `{"name":"web","addr":"127.0.0.1:80","allow":["bob"],"price_per_gib":"-1"}`); code != http.StatusBadRequest || f.called != 0 {
		t.Errorf("negative price: %d %s", code, body)
	}
	if code, body := do(t, s, http.MethodPost, "/api/v1/services", `{"name":"web","addr":"127.0.0.1:80","allow":["bob"],"price_per_gib":"1.5"}`); code != 200 || f.price != 1_500_000 || len(f.allow) != 1 {
		t.Errorf("expose: %d %s, price %d, allow %v", code, body, f.price, f.allow)
	}
	if code, body := do(t, s, http.MethodPost, "/api/v1/services", `{"name":"web","addr":"127.0.0.1:80","allow":["bob"],"idle_timeout":"soon"}`); code != http.StatusBadRequest || f.called != 1 {
		t.Errorf("bad idle timeout: %d %s", code, body)
	}
	if code, body := do(t, s, http.MethodPost, "/api/v1/services", `{"name":"web","addr":"127.0.0.1:80","allow":["bob"],"idle_timeout":"30m"}`); code != 200 || f.idle != 30*time.Minute || !strings.Contains(body, `"idle_timeout": "30m0s"`) {
		t.Errorf("idle timeout: %d %s, set %v", code, body, f.idle)
	}
	for _, c := range []struct {
		err          error
		method, path string
		body         string
		want         int
	}{
		{fmt.Errorf("%w: x", tunnel.ErrInvalid), "POST", "/api/v1/services", `{"name":"web","addr":"8.8.8.8:53","allow":["bob"]}`, http.StatusBadRequest},
		{fmt.Errorf("%w: x", tunnel.ErrExists), "POST", "/api/v1/services", `{"name":"web","addr":"127.0.0.1:80","allow":["bob"]}`, http.StatusConflict},
		{fmt.Errorf("%w: x", tunnel.ErrNotFound), "DELETE", "/api/v1/services/web", "", http.StatusNotFound},
		{fmt.Errorf("%w: x", tunnel.ErrNotFound), "POST", "/api/v1/services/web/deny", `{"peer":"bob"}`, http.StatusNotFound},
		{fmt.Errorf("%w: x", tunnel.ErrUnreachable), "GET", "/api/v1/services/offered/bob", "", http.StatusBadGateway},
		{fmt.Errorf("%w: x", tunnel.ErrRefused), "POST", "/api/v1/forwards", `{"peer":"bob","service":"web"}`, http.StatusForbidden},
		{fmt.Errorf("%w: x", tunnel.ErrPrice), "POST", "/api/v1/forwards", `{"peer":"bob","service":"web"}`, http.StatusPaymentRequired},
		{fmt.Errorf("%w: x", tunnel.ErrBusy), "POST", "/api/v1/forwards", `{"peer":"bob","service":"web"}`, http.StatusTooManyRequests},
		{fmt.Errorf("%w: x", tunnel.ErrNotFound), "POST", "/api/v1/forwards/close", `{"target":"127.0.0.1:1"}`, http.StatusNotFound},
	} {
		s, _ := mk(c.err)
		if code, body := do(t, s, c.method, c.path, c.body); code != c.want {
			t.Errorf("%s %s with %v: %d %s, want %d", c.method, c.path, c.err, code, body, c.want)
		}
	}
}

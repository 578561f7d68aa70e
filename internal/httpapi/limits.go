package httpapi

import (
	"errors"
	"log/slog"
	"net/http"
	"sync"

	"github.com/peerpath/peerpath/api"
)

// limitsAPI serves the bandwidth limits, which can change while the node
// runs: GET and POST /api/v1/limits.
type limitsAPI struct {
	l   Limits
	log *slog.Logger
	mu  sync.Mutex // serialises changes: each reads the limits, then sets them
}

func (a *limitsAPI) routes() []route {
	return []route{
		{pattern: "GET /api/v1/limits", fn: func(w http.ResponseWriter, r *http.Request) (any, error) {
			up, down := a.l.Limits()
			return api.Limits{MaxUpload: up, MaxDownload: down}, nil
		}},
		{pattern: "POST /api/v1/limits", fn: a.set},
	}
}

func (a *limitsAPI) set(w http.ResponseWriter, r *http.Request) (any, error) {
	var req api.LimitsRequest
	if err := DecodeJSON(r, &req); err != nil {
		return nil, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	up, down := a.l.Limits()
	if req.MaxUpload != nil {
		up = *req.MaxUpload
	}
	if req.MaxDownload != nil {
		down = *req.MaxDownload
	}
	if up < 0 || down < 0 {
		return nil, BadRequest(errors.New("max_upload and max_download must not be negative"))
	}
	if err := a.l.SetLimits(up, down); err != nil {
		return nil, err
	}
	a.log.Info("bandwidth limits changed", "max_upload", up, "max_download", down)
	return api.Limits{MaxUpload: up, MaxDownload: down}, nil
}

package node

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/peerpath/peerpath/api"
	"github.com/peerpath/peerpath/internal/config"
	"github.com/peerpath/peerpath/internal/httpapi"
)

// limitRoutes serves the bandwidth limits, which can change while the node
// runs: GET and POST /api/v1/limits.
func (n *Node) limitRoutes() {
	a, tr := n.api, n.files.transfer
	a.HandleFunc("GET /api/v1/limits", func(w http.ResponseWriter, r *http.Request) (any, error) {
		up, down := tr.Limits()
		return api.Limits{MaxUpload: up, MaxDownload: down}, nil
	})
	a.HandleFunc("POST /api/v1/limits", func(w http.ResponseWriter, r *http.Request) (any, error) {
		var req api.LimitsRequest
		if err := httpapi.DecodeJSON(r, &req); err != nil {
			return nil, err
		}
		n.limitMu.Lock()
		defer n.limitMu.Unlock()
		up, down := tr.Limits()
		if req.MaxUpload != nil {
			up = *req.MaxUpload
		}
		if req.MaxDownload != nil {
			down = *req.MaxDownload
		}
		if up < 0 || down < 0 {
			return nil, httpapi.BadRequest(errors.New("max_upload and max_download must not be negative"))
		}
		// Save first: a limit that could not be saved is not applied, so
		// the running node and its config file never disagree.
		if err := n.saveLimits(up, down); err != nil {
			return nil, err
		}
		if err := tr.SetLimits(up, down); err != nil {
			return nil, httpapi.BadRequest(err)
		}
		n.log.Info("bandwidth limits changed", "max_upload", up, "max_download", down)
		return api.Limits{MaxUpload: up, MaxDownload: down}, nil
	})
}

// saveLimits writes the limits into the home's config file, keeping every
// other key as the file has it (not as flags may have overridden it).
func (n *Node) saveLimits(up, down int64) error {
	cfg, err := config.Load(n.home)
	if err != nil {
		return fmt.Errorf("save limits: %w", err)
	}
	cfg.MaxUpload, cfg.MaxDownload = up, down
	if err := writeFileAtomic(n.home.Path(config.FileConfig), config.Render(cfg), 0o600); err != nil {
		return fmt.Errorf("save limits: %w", err)
	}
	return nil
}

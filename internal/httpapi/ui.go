package httpapi

import (
	"net/http"

	"github.com/peerpath/peerpath/api"
)

// uiRoutes mounts the web app and its login; base is the API's base URL.
func uiRoutes(ui UI, base string) []route {
	var login, app, logout http.Handler // nil without a UI: mount answers 503
	if ui != nil {
		login, app, logout = ui.LoginHandler(), ui.AppHandler(), ui.LogoutHandler()
	}
	return []route{
		{pattern: "GET /ui/login", raw: login, public: true},
		{pattern: "GET /ui/", raw: app, public: true},
		{pattern: "GET /{$}", raw: http.RedirectHandler("/ui/", http.StatusSeeOther), public: true},
		{pattern: "POST /ui/logout", raw: logout},
		{pattern: "POST /api/v1/ui/login", fn: func(w http.ResponseWriter, r *http.Request) (any, error) {
			return api.UILogin{URL: base + "/ui/login?code=" + ui.NewCode()}, nil
		}},
	}
}

package node

import (
	"net"
	"net/http"

	"github.com/peerpath/peerpath/internal/webui"
)

// uiRoutes mounts the web app and its login.
func (n *Node) uiRoutes() {
	s := webui.NewSessions(webui.CookieName(n.apiLn.Addr().(*net.TCPAddr).Port))
	n.sessions = s
	n.api.SetSessionCheck(s.Valid)
	n.api.HandlePublic("GET /ui/login", s.LoginHandler())
	n.api.HandlePublic("GET /ui/", s.AppHandler())
	n.api.HandlePublic("GET /{$}", http.RedirectHandler("/ui/", http.StatusSeeOther))
	n.api.Handle("POST /ui/logout", s.LogoutHandler())
	n.api.HandleFunc("POST /api/v1/ui/login", func(w http.ResponseWriter, r *http.Request) (any, error) {
		return map[string]string{"url": n.APIURL() + "/ui/login?code=" + s.NewCode()}, nil
	})
}

// LoginURL returns a fresh one-time login URL of the web app.
func (n *Node) LoginURL() string {
	return n.APIURL() + "/ui/login?code=" + n.sessions.NewCode()
}

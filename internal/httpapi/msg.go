package httpapi

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/peerpath/peerpath/api"
	"github.com/peerpath/peerpath/internal/msg"
)

// Msg is the messages service.
type Msg interface {
	Send(ctx context.Context, to, text string) (msg.Sent, error)
	List(ctx context.Context, opt msg.ListOptions) ([]msg.Message, error)
	MarkRead(ctx context.Context, with string) (int, error)
	CreateGroup(ctx context.Context, name string, members []string) (msg.Group, error)
	Groups(ctx context.Context) ([]msg.Group, error)
	RemoveMember(ctx context.Context, name, member string) (msg.Group, error)
	Status(ctx context.Context) (msg.Status, error)
}

// msgRoutes serves messages and groups.
func msgRoutes(m Msg) []route {
	return []route{
		{pattern: "POST /api/v1/msg", fn: func(w http.ResponseWriter, r *http.Request) (any, error) {
			var req api.MsgSendRequest
			if err := DecodeJSON(r, &req); err != nil {
				return nil, err
			}
			s, err := m.Send(r.Context(), req.To, req.Text)
			if err != nil {
				return nil, err
			}
			return api.MsgSent{ID: s.ID, State: s.State}, nil
		}},
		{pattern: "GET /api/v1/msg", fn: func(w http.ResponseWriter, r *http.Request) (any, error) {
			q := r.URL.Query()
			// limit: the newest this many of what the other parameters
			// select (the folder is filtered first), 1 to 1000 (default).
			limit := 0
			if v := q.Get("limit"); v != "" {
				n, err := strconv.Atoi(v)
				if err != nil || n < 1 || n > 1000 {
					return nil, BadRequest(errors.New("limit is a number from 1 to 1000"))
				}
				limit = n
			}
			ms, err := m.List(r.Context(), msg.ListOptions{With: q.Get("with"), Folder: q.Get("folder"), Limit: limit})
			if err != nil {
				return nil, err
			}
			out := make([]api.Message, 0, len(ms))
			for _, x := range ms {
				out = append(out, apiMessage(x))
			}
			return out, nil
		}},
		{pattern: "GET /api/v1/msg/status", fn: func(w http.ResponseWriter, r *http.Request) (any, error) {
			st, err := m.Status(r.Context())
			if err != nil {
				return nil, err
			}
			return api.MsgStatus{BundleReplicas: st.BundleReplicas, Holding: st.Holding, HoldingBytes: st.HoldingBytes, Outbox: st.Outbox}, nil
		}},
		{pattern: "POST /api/v1/msg/read", fn: func(w http.ResponseWriter, r *http.Request) (any, error) {
			var req api.MsgReadRequest
			if err := DecodeJSON(r, &req); err != nil {
				return nil, err
			}
			n, err := m.MarkRead(r.Context(), req.With)
			if err != nil {
				return nil, err
			}
			return api.MsgRead{With: req.With, Marked: n}, nil
		}},
		{pattern: "POST /api/v1/groups", fn: func(w http.ResponseWriter, r *http.Request) (any, error) {
			var req api.GroupCreateRequest
			if err := DecodeJSON(r, &req); err != nil {
				return nil, err
			}
			g, err := m.CreateGroup(r.Context(), req.Name, req.Members)
			if err != nil {
				return nil, err
			}
			return apiGroup(g), nil
		}},
		{pattern: "GET /api/v1/groups", fn: func(w http.ResponseWriter, r *http.Request) (any, error) {
			gs, err := m.Groups(r.Context())
			if err != nil {
				return nil, err
			}
			out := make([]api.Group, 0, len(gs))
			for _, g := range gs {
				out = append(out, apiGroup(g))
			}
			return out, nil
		}},
		{pattern: "POST /api/v1/groups/remove", fn: func(w http.ResponseWriter, r *http.Request) (any, error) {
			var req api.GroupRemoveRequest
			if err := DecodeJSON(r, &req); err != nil {
				return nil, err
			}
			g, err := m.RemoveMember(r.Context(), req.Name, req.Member)
			if err != nil {
				return nil, err
			}
			return apiGroup(g), nil
		}},
	}
}

func apiMessage(m msg.Message) api.Message {
	return api.Message{ID: m.ID, From: m.From.String(), To: m.To, Text: m.Text, Time: m.Time.UTC().Format(time.RFC3339Nano),
		State: m.State, Folder: m.Folder, Out: m.Out}
}

func apiGroup(g msg.Group) api.Group {
	members := make([]string, 0, len(g.Members))
	for _, p := range g.Members {
		members = append(members, p.String())
	}
	return api.Group{ID: g.ID, Name: g.Name, Admin: g.Admin.String(), Epoch: g.Epoch, Members: members}
}

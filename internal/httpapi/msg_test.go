package httpapi

import (
	"context"
	"net/http"
	"testing"

	"github.com/peerpath/peerpath/internal/msg"
)

// fakeMsg records the options of the last List.
type fakeMsg struct{ last *msg.ListOptions }

func (f fakeMsg) Send(context.Context, string, string) (msg.Sent, error) { return msg.Sent{}, nil }
func (f fakeMsg) List(_ context.Context, opt msg.ListOptions) ([]msg.Message, error) {
	*f.last = opt
	return nil, nil
}
func (f fakeMsg) MarkRead(context.Context, string) (int, error) { return 0, nil }
func (f fakeMsg) CreateGroup(context.Context, string, []string) (msg.Group, error) {
	return msg.Group{}, nil
}
func (f fakeMsg) Groups(context.Context) ([]msg.Group, error) { return nil, nil }
func (f fakeMsg) RemoveMember(context.Context, string, string) (msg.Group, error) {
	return msg.Group{}, nil
}
func (f fakeMsg) Status(context.Context) (msg.Status, error) { return msg.Status{}, nil }

// GET /api/v1/msg hands the folder and the limit to the service, which
// filters before it limits; a limit out of 1..1000 is refused.
func TestMsgListFolderAndLimit(t *testing.T) {
	var last msg.ListOptions
	s := New(Config{Token: "secret", Services: Services{Msg: fakeMsg{&last}}})
	if code, body := do(t, s, http.MethodGet, "/api/v1/msg?folder=requests&limit=5", ""); code != http.StatusOK {
		t.Fatalf("list: %d %s", code, body)
	}
	if last.Folder != msg.FolderRequests || last.Limit != 5 {
		t.Fatalf("options %+v", last)
	}
	last = msg.ListOptions{}
	if code, _ := do(t, s, http.MethodGet, "/api/v1/msg", ""); code != http.StatusOK || last.Limit != 0 || last.Folder != "" {
		t.Fatalf("list all: %d %+v", code, last)
	}
	for _, bad := range []string{"0", "1001", "x", "-3"} {
		if code, body := do(t, s, http.MethodGet, "/api/v1/msg?limit="+bad, ""); code != http.StatusBadRequest {
			t.Errorf("limit=%s: %d %s", bad, code, body)
		}
	}
}

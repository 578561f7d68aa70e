package httpapi

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/peerpath/peerpath/api"
	"github.com/peerpath/peerpath/internal/events"
)

// GET /api/v1/events streams the bus as server-sent events, filtered by
// ?types=, behind the token like every route.
func TestEventsStream(t *testing.T) {
	bus := events.New()
	s := New(Config{Token: "secret", Services: Services{Events: bus}})
	srv := httptest.NewServer(s)
	defer srv.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()

	resp, err := http.Get(srv.URL + "/api/v1/events")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("without token: %d", resp.StatusCode)
	}

	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/api/v1/events?types=chat", nil)
	req.Header.Set("Authorization", "Bearer secret")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}
	r := bufio.NewReader(resp.Body)
	next := func() api.Event {
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				t.Fatal(err)
			}
			if data, ok := strings.CutPrefix(line, "data: "); ok {
				var ev api.Event
				if err := json.Unmarshal([]byte(data), &ev); err != nil {
					t.Fatal(err)
				}
				return ev
			}
		}
	}
	if ev := next(); ev.Type != api.EventHello {
		t.Fatalf("first event %+v", ev)
	}
	for bus.Subscribers() == 0 {
		time.Sleep(time.Millisecond)
	}
	bus.Publish("download.changed", 1) // filtered out
	bus.Publish("chat.message", map[string]string{"text": "hi"})
	ev := next()
	if ev.Type != "chat.message" || ev.Data.(map[string]any)["text"] != "hi" {
		t.Fatalf("event %+v", ev)
	}
	cancel()
	resp.Body.Close()
	// The subscription ends with the request.
	deadline := time.Now().Add(5 * time.Second)
	for bus.Subscribers() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("subscription outlived its request")
		}
		time.Sleep(10 * time.Millisecond)
	}
	srv.CloseClientConnections()
}

// The history ring keeps the newest samples, oldest first.
func TestHistoryRing(t *testing.T) {
	h := NewHistory(nil, nil, time.Second, 3)
	for i := range 5 {
		h.add(api.Sample{Time: int64(i)})
	}
	got := h.Snapshot()
	if len(got.Samples) != 3 || got.Samples[0].Time != 2 || got.Samples[2].Time != 4 || got.IntervalSeconds != 1 {
		t.Fatalf("snapshot %+v", got)
	}
}

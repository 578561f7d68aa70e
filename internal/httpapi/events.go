package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/peerpath/peerpath/api"
	"github.com/peerpath/peerpath/internal/events"
)

// Events is the node's event bus (*events.Bus), which /api/v1/events
// streams to the web app.
type Events interface {
	Subscribe() (<-chan events.Event, func(), bool)
	Publish(typ string, data any)
}

// errTooManySubscribers answers an event stream beyond the bus's limit.
var errTooManySubscribers = errors.New("too many open event streams: close a browser tab of the web app and try again")

// heartbeat is how often an idle event stream gets a comment line, so a
// proxy or the browser does not take it for dead.
const heartbeat = 20 * time.Second

// eventRoutes serves GET /api/v1/events (server-sent events) and
// GET /api/v1/history (the ring of samples hist keeps).
func eventRoutes(bus Events, hist *History) []route {
	return []route{
		{pattern: "GET /api/v1/events", raw: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			serveEvents(w, r, bus)
		})},
		{pattern: "GET /api/v1/history", fn: func(w http.ResponseWriter, r *http.Request) (any, error) {
			if hist == nil {
				return nil, ErrNotEnabled
			}
			return hist.Snapshot(), nil
		}},
	}
}

// serveEvents streams the bus as text/event-stream: one "data: {json}"
// block per event ([api.Event]). ?types=a,b keeps the events whose type is
// one of them or begins with one of them and a dot ("download" keeps
// "download.changed").
func serveEvents(w http.ResponseWriter, r *http.Request, bus Events) {
	ch, cancel, ok := bus.Subscribe()
	defer cancel()
	if !ok {
		WriteJSON(w, http.StatusServiceUnavailable, api.ErrorBody{Error: errTooManySubscribers.Error()})
		return
	}
	var filter []string
	if t := r.URL.Query().Get("types"); t != "" {
		filter = strings.Split(t, ",")
	}
	keep := func(typ string) bool {
		if len(filter) == 0 || typ == events.TypeLost {
			return true
		}
		for _, f := range filter {
			if typ == f || strings.HasPrefix(typ, f+".") {
				return true
			}
		}
		return false
	}
	flusher, _ := w.(http.Flusher)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	send := func(ev events.Event) bool {
		b, err := json.Marshal(api.Event{Type: ev.Type, Time: ev.Time.UTC().Format(time.RFC3339Nano), Data: ev.Data})
		if err != nil {
			return true // an unmarshallable payload is the publisher's bug; skip it
		}
		if _, err := w.Write([]byte("data: " + string(b) + "\n\n")); err != nil {
			return false
		}
		if flusher != nil {
			flusher.Flush()
		}
		return true
	}
	w.Write([]byte("retry: 3000\n\n"))
	if !send(events.Event{Type: api.EventHello, Time: time.Now()}) {
		return
	}
	tick := time.NewTicker(heartbeat)
	defer tick.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-tick.C:
			if _, err := w.Write([]byte(": ping\n\n")); err != nil {
				return
			}
			if flusher != nil {
				flusher.Flush()
			}
		case ev := <-ch:
			if keep(ev.Type) && !send(ev) {
				return
			}
		}
	}
}

// History keeps the node's recent bandwidth and peer counts in a ring, so
// the web app's Home chart is full on arrival, and publishes each sample
// as a "stats" event. Its Serve samples until its context ends.
type History struct {
	self     Self
	bus      Events
	interval time.Duration

	mu   sync.Mutex
	ring []api.Sample
	next int // where the next sample goes once the ring is full
}

// Default shape of the history ring: an hour at five seconds a sample.
const (
	HistoryInterval = 5 * time.Second
	HistoryLength   = 720
)

// NewHistory returns a History over self holding n samples taken every
// interval; bus (may be nil) receives each as a "stats" event.
func NewHistory(self Self, bus Events, interval time.Duration, n int) *History {
	return &History{self: self, bus: bus, interval: interval, ring: make([]api.Sample, 0, n)}
}

// Serve samples at once and then every interval until ctx ends.
func (h *History) Serve(ctx context.Context) error {
	t := time.NewTicker(h.interval)
	defer t.Stop()
	for {
		h.sample(time.Now())
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

func (h *History) sample(now time.Time) {
	st := h.self.Status()
	s := api.Sample{Time: now.UnixMilli(), RateIn: st.RateIn, RateOut: st.RateOut, Peers: st.Peers}
	h.add(s)
	if h.bus != nil {
		h.bus.Publish(api.EventStats, s)
	}
}

func (h *History) add(s api.Sample) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.ring) < cap(h.ring) {
		h.ring = append(h.ring, s)
		return
	}
	h.ring[h.next] = s
	h.next = (h.next + 1) % len(h.ring)
}

// Snapshot returns the samples, oldest first.
func (h *History) Snapshot() api.History {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]api.Sample, 0, len(h.ring))
	out = append(out, h.ring[h.next:]...)
	out = append(out, h.ring[:h.next]...)
	return api.History{IntervalSeconds: h.interval.Seconds(), Samples: out}
}

// Package events is the node's bus of live events: a service publishes a
// typed event ("chat.message", "download.changed", "stats"), and every
// subscriber (the web app, through GET /api/v1/events as server-sent
// events) receives it.
//
// A service does not import this package: it declares the one-method
// interface it needs,
//
//	type Publisher interface{ Publish(typ string, data any) }
//
// and internal/node hands it the node's [*Bus]. Publish never blocks: a
// subscriber that does not keep up loses events, and the next event it
// receives is [TypeLost], so it knows to reload what it shows.
package events

import (
	"sync"
	"time"
)

// Event is one live event. Data is marshalled as JSON; it must be a value
// the publisher no longer changes.
type Event struct {
	// Type names the event, "area.what" (e.g. "download.changed").
	Type string `json:"type"`
	// Time is when it was published.
	Time time.Time `json:"time"`
	// Data is the event's payload (may be nil).
	Data any `json:"data,omitempty"`
}

// TypeLost is the event a subscriber receives after it missed some,
// before the next one.
const TypeLost = "lost"

// Limits of a [Bus].
const (
	// MaxSubscribers bounds the subscribers at once; beyond it Subscribe
	// refuses (each web app tab holds one).
	MaxSubscribers = 64
	// Buffer is the events a subscriber may lag behind before it loses
	// some.
	Buffer = 256
)

// Bus fans events out to subscribers. The zero value is not usable; call
// [New].
type Bus struct {
	mu   sync.Mutex
	subs map[*sub]struct{}
	now  func() time.Time
}

type sub struct {
	ch   chan Event
	lost bool // events were dropped since the last one delivered
}

// New returns an empty bus.
func New() *Bus { return &Bus{subs: map[*sub]struct{}{}, now: time.Now} }

// Publish sends an event of type typ to every subscriber, without
// blocking. A nil *Bus discards it, so a service built without a bus (in a
// unit test) may publish all the same.
func (b *Bus) Publish(typ string, data any) {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	ev := Event{Type: typ, Time: b.now(), Data: data}
	for s := range b.subs {
		if s.lost {
			select {
			case s.ch <- Event{Type: TypeLost, Time: ev.Time}:
				s.lost = false
			default:
				continue
			}
		}
		select {
		case s.ch <- ev:
		default:
			s.lost = true
		}
	}
}

// Subscribe returns a channel of every event published from now on and a
// function that ends the subscription (and must be called). ok is false
// when [MaxSubscribers] are subscribed already.
func (b *Bus) Subscribe() (events <-chan Event, cancel func(), ok bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.subs) >= MaxSubscribers {
		return nil, func() {}, false
	}
	s := &sub{ch: make(chan Event, Buffer)}
	b.subs[s] = struct{}{}
	var once sync.Once
	return s.ch, func() {
		once.Do(func() {
			b.mu.Lock()
			delete(b.subs, s)
			b.mu.Unlock()
		})
	}, true
}

// Subscribers returns how many subscriptions are open.
func (b *Bus) Subscribers() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.subs)
}

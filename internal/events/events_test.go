package events

import (
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestPublishReachesEverySubscriber(t *testing.T) {
	b := New()
	a, cancelA, ok := b.Subscribe()
	if !ok {
		t.Fatal("subscribe refused")
	}
	c, cancelC, _ := b.Subscribe()
	b.Publish("chat.message", "hi")
	for _, ch := range []<-chan Event{a, c} {
		ev := <-ch
		if ev.Type != "chat.message" || ev.Data != "hi" || ev.Time.IsZero() {
			t.Fatalf("event %+v", ev)
		}
	}
	cancelA()
	cancelA() // twice is harmless
	if n := b.Subscribers(); n != 1 {
		t.Fatalf("%d subscribers after one cancel", n)
	}
	cancelC()
	var nilBus *Bus
	nilBus.Publish("x", nil) // a nil bus discards
}

// A subscriber that does not read loses events without slowing the
// publisher, and then learns it lost some before the next one.
func TestSlowSubscriberLosesEventsThenHearsLost(t *testing.T) {
	b := New()
	ch, cancel, _ := b.Subscribe()
	defer cancel()
	for i := range Buffer + 10 {
		b.Publish("n", i)
	}
	for i := range Buffer {
		if ev := <-ch; ev.Data != i {
			t.Fatalf("event %d: %+v", i, ev)
		}
	}
	b.Publish("n", "after")
	if ev := <-ch; ev.Type != TypeLost {
		t.Fatalf("want %q first, got %+v", TypeLost, ev)
	}
	if ev := <-ch; ev.Data != "after" {
		t.Fatalf("after lost: %+v", ev)
	}
}

func TestSubscribersBounded(t *testing.T) {
	b := New()
	var cancels []func()
	for range MaxSubscribers {
		_, c, ok := b.Subscribe()
		if !ok {
			t.Fatal("refused below the limit")
		}
		cancels = append(cancels, c)
	}
	if _, _, ok := b.Subscribe(); ok {
		t.Fatal("subscribed beyond MaxSubscribers")
	}
	cancels[0]()
	if _, c, ok := b.Subscribe(); !ok {
		t.Fatal("refused after one left")
	} else {
		c()
	}
	for _, c := range cancels[1:] {
		c()
	}
}

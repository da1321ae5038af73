package lag

import (
	"testing"
	"time"
)

func TestHistory(t *testing.T) {
	clock := time.Unix(1000, 0)
	h := New[string](0, func() time.Time { return clock })
	if _, ok := h.Visible(); ok {
		t.Fatal("a value before the first Publish")
	}
	h.Publish("a")
	if v, _ := h.Visible(); v != "a" {
		t.Fatalf("no delay: saw %q, want a", v)
	}
	h.SetDelay(time.Second)
	clock = clock.Add(100 * time.Millisecond)
	h.Publish("b")
	clock = clock.Add(100 * time.Millisecond)
	h.Publish("c")
	if v, _ := h.Visible(); v != "a" {
		t.Fatalf("inside the delay: saw %q, want the old a", v)
	}
	clock = clock.Add(900 * time.Millisecond) // b is 1 s old, c 0.9 s
	if v, _ := h.Visible(); v != "b" {
		t.Fatalf("b is due, c is not: saw %q", v)
	}
	clock = clock.Add(100 * time.Millisecond)
	if v, _ := h.Visible(); v != "c" {
		t.Fatalf("after the delay: saw %q, want c", v)
	}
	h.Publish("d")
	if n := len(h.versions); n != 2 {
		t.Fatalf("%d versions kept, want 2 (the visible c and the pending d)", n)
	}
	h.SetDelay(-time.Second)
	if d := h.Delay(); d != 0 {
		t.Fatalf("negative delay kept as %v", d)
	}
	if v, _ := h.Visible(); v != "d" {
		t.Fatalf("delay 0: saw %q, want d", v)
	}
}

// Package lag makes a simulated service answer from the past, as AWS's
// read paths do: IMDS shows an attach or an address assignment only after a
// propagation delay, and EC2's Describe calls are eventually consistent
// (https://docs.aws.amazon.com/ec2/latest/devguide/eventual-consistency.html).
// A History records every published version of a value and returns the
// newest one that is at least the delay old.
package lag

import (
	"sync"
	"time"
)

// History is a value as readers see it after a delay. The zero value is
// not usable; call New. It is safe for concurrent use.
type History[T any] struct {
	mu       sync.Mutex
	delay    time.Duration
	versions []version[T]
	now      func() time.Time
}

type version[T any] struct {
	at time.Time
	v  T
}

// New returns an empty history with the given delay (negative counts as
// 0) on the clock now (nil: time.Now).
func New[T any](delay time.Duration, now func() time.Time) *History[T] {
	if now == nil {
		now = time.Now
	}
	return &History[T]{delay: max(delay, 0), now: now}
}

// SetDelay changes how long a published version takes to become visible.
func (h *History[T]) SetDelay(d time.Duration) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.delay = max(d, 0)
}

// Delay returns the current delay.
func (h *History[T]) Delay() time.Duration {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.delay
}

// Publish records v as the newest version. Versions no reader can see any
// more are dropped: all but the newest one that is already visible.
func (h *History[T]) Publish(v T) {
	h.mu.Lock()
	defer h.mu.Unlock()
	now := h.now()
	h.versions = append(h.versions, version[T]{at: now, v: v})
	cut := 0
	for i := range h.versions {
		if !h.versions[i].at.After(now.Add(-h.delay)) {
			cut = i
		}
	}
	h.versions = h.versions[cut:]
}

// Visible returns what a reader sees now: the newest version at least the
// delay old or, when none is that old yet, the oldest one kept (it was the
// visible one when the newer ones were published). ok is false before the
// first Publish.
func (h *History[T]) Visible() (v T, ok bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.versions) == 0 {
		return v, false
	}
	visible := h.now().Add(-h.delay)
	for i := len(h.versions) - 1; i >= 0; i-- {
		if !h.versions[i].at.After(visible) {
			return h.versions[i].v, true
		}
	}
	return h.versions[0].v, true
}

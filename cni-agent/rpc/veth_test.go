package rpc

import (
	"context"
	"sync"
	"testing"
)

// reapingHandler is mapHandler with a bounded veth queue, as the agent has.
type reapingHandler struct {
	*mapHandler
	mu    sync.Mutex
	room  int
	taken []VethRef
}

func (h *reapingHandler) ReapVeth(v VethRef) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.taken) == h.room {
		return false
	}
	h.taken = append(h.taken, v)
	return true
}

// TestReleaseVeth: the veth reaches a handler that reaps, "queued" says
// whether it took it (a full queue or a handler without the feature leaves
// it to the plugin), the address is released either way, and a veth that
// cannot name an interface is refused before anything is released.
func TestReleaseVeth(t *testing.T) {
	ctx := context.Background()
	key := Key{Network: "eksnet", ContainerID: "c1", IfName: "eth0"}
	veth := VethRef{Name: "eni0123456789a", Index: 42}

	h := &reapingHandler{mapHandler: newMapHandler("10.0.1.10"), room: 1}
	c, _ := serve(t, h, currentUID())
	if _, err := c.Allocate(ctx, AllocateRequest{Key: key}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.ReleaseVeth(ctx, key, VethRef{Name: "eni0123456789a"}); CodeOf(err) != CodeInvalidRequest {
		t.Fatalf("release with veth index 0: %v, want InvalidRequest", err)
	}
	if _, err := c.Check(ctx, key); err != nil {
		t.Fatalf("a refused release released the address: %v", err)
	}
	rel, queued, err := c.ReleaseVeth(ctx, key, veth)
	if err != nil || rel == nil || rel.Key != key || !queued {
		t.Fatalf("release with veth = %+v, queued %v, %v; want the allocation, queued", rel, queued, err)
	}
	if len(h.taken) != 1 || h.taken[0] != veth {
		t.Fatalf("handler got %+v, want [%+v]", h.taken, veth)
	}
	// The queue is full: the release of a key without allocation still
	// succeeds, and the veth is left to the plugin.
	if rel, queued, err := c.ReleaseVeth(ctx, key, veth); err != nil || rel != nil || queued {
		t.Fatalf("release on a full queue = %+v, queued %v, %v; want nil, false, nil", rel, queued, err)
	}

	plain, _ := serve(t, newMapHandler("10.0.1.11"), currentUID())
	if _, err := plain.Allocate(ctx, AllocateRequest{Key: key}); err != nil {
		t.Fatal(err)
	}
	if rel, queued, err := plain.ReleaseVeth(ctx, key, veth); err != nil || rel == nil || queued {
		t.Fatalf("release with veth to a handler that does not reap = %+v, queued %v, %v; want released, not queued", rel, queued, err)
	}
}

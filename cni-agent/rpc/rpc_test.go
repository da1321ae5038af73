package rpc

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"
)

// mapHandler is a small behaving handler: addresses from a fixed list,
// idempotent per key.
type mapHandler struct {
	mu    sync.Mutex
	free  []netip.Addr
	alloc map[Key]Allocation
}

func newMapHandler(addrs ...string) *mapHandler {
	h := &mapHandler{alloc: map[Key]Allocation{}}
	for _, a := range addrs {
		h.free = append(h.free, netip.MustParseAddr(a))
	}
	return h
}

func (h *mapHandler) Allocate(_ context.Context, req AllocateRequest) (Allocation, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if a, ok := h.alloc[req.Key]; ok {
		return a, nil
	}
	if len(h.free) == 0 {
		return Allocation{}, Errorf(CodeNoAddresses, "no addresses: node full (%d/%d)", len(h.alloc), len(h.alloc))
	}
	a := Allocation{Key: req.Key, Address: h.free[0], ENIID: "eni-1", RouteTable: 254, PodName: req.PodName}
	h.free = h.free[1:]
	h.alloc[req.Key] = a
	return a, nil
}

func (h *mapHandler) Release(_ context.Context, key Key) (*Allocation, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	a, ok := h.alloc[key]
	if !ok {
		return nil, nil
	}
	delete(h.alloc, key)
	h.free = append(h.free, a.Address)
	return &a, nil
}

func (h *mapHandler) Check(_ context.Context, key Key) (Allocation, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	a, ok := h.alloc[key]
	if !ok {
		return Allocation{}, Errorf(CodeNotFound, "no allocation for %s", key)
	}
	return a, nil
}

func (h *mapHandler) List(context.Context) ([]Allocation, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []Allocation
	for _, a := range h.alloc {
		out = append(out, a)
	}
	return out, nil
}

func (h *mapHandler) Status(context.Context) (Status, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return Status{Ready: len(h.free) > 0, Assigned: len(h.alloc), Free: len(h.free)}, nil
}

// serve starts a server on a fresh socket and returns a client for it.
func serve(t *testing.T, h Handler, allowed ...uint32) (*Client, string) {
	t.Helper()
	return serveAt(t, filepath.Join(t.TempDir(), "run", "agent.sock"), h, allowed...)
}

func serveAt(t *testing.T, path string, h Handler, allowed ...uint32) (*Client, string) {
	t.Helper()
	ln, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	s := &Server{Handler: h, AllowedUIDs: allowed}
	go func() { done <- s.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return &Client{Path: path, Timeout: 5 * time.Second}, path
}

func currentUID() uint32 { return uint32(os.Getuid()) }

func TestRoundTrip(t *testing.T) {
	h := newMapHandler("10.0.1.10", "10.0.1.11")
	c, _ := serve(t, h, currentUID())
	ctx := context.Background()
	key := Key{Network: "eksnet", ContainerID: "c1", IfName: "eth0"}

	a, err := c.Allocate(ctx, AllocateRequest{Key: key, PodName: "web-0"})
	if err != nil {
		t.Fatal(err)
	}
	if a.Address != netip.MustParseAddr("10.0.1.10") || a.PodName != "web-0" || a.RouteTable != 254 {
		t.Fatalf("allocation = %+v", a)
	}
	again, err := c.Allocate(ctx, AllocateRequest{Key: key})
	if err != nil || again.Address != a.Address {
		t.Fatalf("second allocate for the same key = %v, %v; want %v", again.Address, err, a.Address)
	}
	if got, err := c.Check(ctx, key); err != nil || got.Address != a.Address {
		t.Fatalf("check = %v, %v", got.Address, err)
	}
	list, err := c.List(ctx)
	if err != nil || len(list) != 1 || list[0].Key != key {
		t.Fatalf("list = %+v, %v", list, err)
	}
	st, err := c.Status(ctx)
	if err != nil || st.Assigned != 1 || st.Free != 1 || !st.Ready {
		t.Fatalf("status = %+v, %v", st, err)
	}
	rel, err := c.Release(ctx, key)
	if err != nil || rel == nil || rel.Address != a.Address {
		t.Fatalf("release = %+v, %v", rel, err)
	}
	rel, err = c.Release(ctx, key)
	if err != nil || rel != nil {
		t.Fatalf("second release = %+v, %v; want nil, nil", rel, err)
	}
	_, err = c.Check(ctx, key)
	if !errors.Is(err, &Error{Code: CodeNotFound}) {
		t.Fatalf("check after release: err = %v, want NotFound", err)
	}
	if list, err := c.List(ctx); err != nil || len(list) != 0 {
		t.Fatalf("list after release = %+v, %v", list, err)
	}
}

func TestErrorsKeepTheirCode(t *testing.T) {
	c, _ := serve(t, newMapHandler("10.0.1.10"), currentUID())
	ctx := context.Background()
	if _, err := c.Allocate(ctx, AllocateRequest{Key: Key{Network: "n", ContainerID: "a", IfName: "eth0"}}); err != nil {
		t.Fatal(err)
	}
	_, err := c.Allocate(ctx, AllocateRequest{Key: Key{Network: "n", ContainerID: "b", IfName: "eth0"}})
	if CodeOf(err) != CodeNoAddresses {
		t.Fatalf("allocate on a full node: err = %v, want code %s", err, CodeNoAddresses)
	}
	for _, tc := range []struct {
		name string
		key  Key
		want string
	}{
		{"no network", Key{ContainerID: "a", IfName: "eth0"}, "InvalidRequest: key: network is empty"},
		{"no container", Key{Network: "n", IfName: "eth0"}, "InvalidRequest: key: containerID is empty"},
		{"no ifname", Key{Network: "n", ContainerID: "a"}, "InvalidRequest: key: ifName is empty"},
	} {
		_, err := c.Check(ctx, tc.key)
		if err == nil || err.Error() != tc.want {
			t.Errorf("%s: err = %v, want %q", tc.name, err, tc.want)
		}
	}
}

func TestUnknownOp(t *testing.T) {
	c, _ := serve(t, newMapHandler(), currentUID())
	_, err := c.call(context.Background(), Request{Op: "explode"})
	want := `InvalidRequest: unknown op "explode" (accepted: allocate, release, check, list, status)`
	if err == nil || err.Error() != want {
		t.Fatalf("err = %v, want %q", err, want)
	}
}

func TestAgentDownIsConnectionError(t *testing.T) {
	c := &Client{Path: filepath.Join(t.TempDir(), "nobody.sock")}
	_, err := c.Status(context.Background())
	if err == nil || !errors.Is(err, syscall.ENOENT) {
		t.Fatalf("err = %v, want ENOENT wrapped", err)
	}
}

func TestListenIsRootOnlyAndReplacesStaleSocket(t *testing.T) {
	path := filepath.Join(t.TempDir(), "agent.sock")
	ln, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	ln.SetUnlinkOnClose(false)
	ln.Close() // leaves a stale socket file behind, as a crash would
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("socket mode = %v, want 0600", fi.Mode().Perm())
	}
	ln, err = Listen(path)
	if err != nil {
		t.Fatalf("listen over a stale socket: %v", err)
	}
	ln.Close()

	regular := filepath.Join(t.TempDir(), "not-a-socket")
	if err := os.WriteFile(regular, []byte("keep me"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Listen(regular); err == nil {
		t.Fatal("listen over a regular file succeeded")
	}
	if b, _ := os.ReadFile(regular); string(b) != "keep me" {
		t.Fatal("listen destroyed a regular file")
	}
}

// TestRefusesNonRootPeer opens the socket's file mode on purpose and connects
// as an unprivileged user: the peer credential check alone must refuse it.
func TestRefusesNonRootPeer(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: runs the client as another user")
	}
	h := newMapHandler("10.0.1.10")
	dir := publicDir(t)
	_, path := serveAt(t, filepath.Join(dir, "agent.sock"), h) // root only
	if err := os.Chmod(dir, 0o755); err != nil {               // Listen made it 0700
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o666); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(copyForOthers(t, os.Args[0]), "-test.run=^TestHelperClient$")
	cmd.Env = append(os.Environ(), "EKSNET_RPC_HELPER_SOCKET="+path)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("helper client: %v\n%s", err, out)
	}
	if len(h.alloc) != 0 {
		t.Fatalf("an unprivileged peer got an allocation: %+v", h.alloc)
	}
}

// copyForOthers copies the test binary where an unprivileged user may run it
// (the go tool's build directory is private to root).
func copyForOthers(t *testing.T, bin string) string {
	t.Helper()
	b, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(publicDir(t), "rpc.test")
	if err := os.WriteFile(dst, b, 0o755); err != nil {
		t.Fatal(err)
	}
	return dst
}

// publicDir is a temporary directory other users may enter; t.TempDir's
// parents are private.
func publicDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "eksnet-rpc-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestHelperClient is the unprivileged side of TestRefusesNonRootPeer.
func TestHelperClient(t *testing.T) {
	path := os.Getenv("EKSNET_RPC_HELPER_SOCKET")
	if path == "" {
		t.Skip("helper process for TestRefusesNonRootPeer")
	}
	c := &Client{Path: path, Timeout: 5 * time.Second}
	_, err := c.Allocate(context.Background(), AllocateRequest{Key: Key{Network: "n", ContainerID: "x", IfName: "eth0"}})
	if err == nil {
		t.Fatal("unprivileged peer was served")
	}
	if CodeOf(err) != CodeInvalidRequest {
		t.Fatalf("err = %v, want a permission refusal", err)
	}
}

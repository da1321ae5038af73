// Package netnstest builds small network topologies out of real network
// namespaces and veths for kernel-level tests of the datapath, SNAT and the
// plugin. Every object it creates has a per-run unique name and is removed in
// t.Cleanup; it never changes the root namespace.
package netnstest

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/eksnet/eksnet/cni-agent/datapath"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// NS is a named network namespace created by a test.
type NS struct {
	Name string
	Path string
}

// RequireRoot skips t unless it runs as root.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates network namespaces")
	}
}

// UniqueSuffix is a short random token for names that must not collide
// across parallel runs.
func UniqueSuffix() string {
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// New creates a namespace named eksnet-<label>-<random>, with lo up, removed
// when the test ends.
func New(t testing.TB, label string) *NS {
	t.Helper()
	name := fmt.Sprintf("eksnet-%s-%s", label, UniqueSuffix())
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		defer orig.Close()
		h, err := netns.NewNamed(name)
		if err != nil {
			_ = netns.Set(orig)
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		h.Close()
		if err := netns.Set(orig); err != nil {
			errc <- err // thread stays locked and dies
			return
		}
		runtime.UnlockOSThread()
		errc <- nil
	}()
	if err := <-errc; err != nil {
		t.Fatalf("creating network namespace %s: %v", name, err)
	}
	ns := &NS{Name: name, Path: filepath.Join("/run/netns", name)}
	t.Cleanup(func() {
		if err := netns.DeleteNamed(name); err != nil {
			t.Errorf("deleting network namespace %s: %v", name, err)
		}
	})
	h := ns.Handle(t)
	lo, err := h.LinkByName("lo")
	if err == nil {
		err = h.LinkSetUp(lo)
	}
	if err != nil {
		t.Fatalf("bringing up lo in %s: %v", name, err)
	}
	return ns
}

// Do runs fn inside the namespace.
func (ns *NS) Do(t testing.TB, fn func() error) {
	t.Helper()
	if err := datapath.InNamespace(ns.Path, fn); err != nil {
		t.Fatalf("in %s: %v", ns.Name, err)
	}
}

// Handle is a netlink handle bound to the namespace, closed at cleanup.
func (ns *NS) Handle(t testing.TB) *netlink.Handle {
	t.Helper()
	h, err := netns.GetFromPath(ns.Path)
	if err != nil {
		t.Fatalf("opening %s: %v", ns.Path, err)
	}
	defer h.Close()
	nh, err := netlink.NewHandleAt(h)
	if err != nil {
		t.Fatalf("netlink handle in %s: %v", ns.Name, err)
	}
	t.Cleanup(nh.Close)
	return nh
}

// Sysctl writes a /proc/sys value (key like "net/ipv4/ip_forward") inside
// the namespace.
func (ns *NS) Sysctl(t testing.TB, key, value string) {
	t.Helper()
	ns.Do(t, func() error {
		return os.WriteFile(filepath.Join("/proc/sys", key), []byte(value), 0o644)
	})
}

// Veth connects a's aName with b's bName, both up, with the given addresses
// (empty for none).
func Veth(t testing.TB, a *NS, aName, aAddr string, b *NS, bName, bAddr string) {
	t.Helper()
	ha, hb := a.Handle(t), b.Handle(t)
	bfd, err := netns.GetFromPath(b.Path)
	if err != nil {
		t.Fatal(err)
	}
	defer bfd.Close()
	v := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: aName}, PeerName: bName, PeerNamespace: netlink.NsFd(int(bfd))}
	if err := ha.LinkAdd(v); err != nil {
		t.Fatalf("veth %s/%s <-> %s/%s: %v", a.Name, aName, b.Name, bName, err)
	}
	for _, side := range []struct {
		h          *netlink.Handle
		name, addr string
	}{{ha, aName, aAddr}, {hb, bName, bAddr}} {
		l, err := side.h.LinkByName(side.name)
		if err != nil {
			t.Fatal(err)
		}
		if side.addr != "" {
			AddAddr(t, side.h, l, side.addr)
		}
		if err := side.h.LinkSetUp(l); err != nil {
			t.Fatal(err)
		}
	}
}

// AddAddr adds cidr (like "10.0.0.1/24") to link.
func AddAddr(t testing.TB, h *netlink.Handle, l netlink.Link, cidr string) {
	t.Helper()
	a, err := netlink.ParseAddr(cidr)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.AddrAdd(l, a); err != nil {
		t.Fatalf("adding %s to %s: %v", cidr, l.Attrs().Name, err)
	}
}

// Route adds "dst via gw dev link table" (gw may be empty, table 0 = main).
func Route(t testing.TB, h *netlink.Handle, dst, gw, dev string, table int) {
	t.Helper()
	l, err := h.LinkByName(dev)
	if err != nil {
		t.Fatalf("route %s: link %s: %v", dst, dev, err)
	}
	r := &netlink.Route{LinkIndex: l.Attrs().Index, Table: table}
	if dst != "default" {
		_, n, err := net.ParseCIDR(dst)
		if err != nil {
			t.Fatal(err)
		}
		r.Dst = n
	}
	if gw != "" {
		r.Gw = net.ParseIP(gw)
	} else {
		r.Scope = netlink.SCOPE_LINK
	}
	if err := h.RouteAdd(r); err != nil {
		t.Fatalf("route %s via %q dev %s table %d: %v", dst, gw, dev, table, err)
	}
}

// EchoServer listens on TCP addr inside ns and answers every connection with
// the source address it saw, then closes it: the "internet" host that tells
// whether a packet was NATed. It stops at cleanup.
func EchoServer(t testing.TB, ns *NS, addr string) {
	t.Helper()
	var ln net.Listener
	ns.Do(t, func() error {
		var err error
		ln, err = net.Listen("tcp4", addr)
		return err
	})
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				ap, _ := netip.ParseAddrPort(c.RemoteAddr().String())
				fmt.Fprintf(c, "%s\n", ap.Addr())
			}()
		}
	}()
}

// SourceSeen connects from ns to an EchoServer at addr and returns the
// source address the server reported.
func SourceSeen(ns *NS, addr string) (string, error) {
	return SourceSeenFrom(ns, "", addr)
}

// SourceSeenFrom is SourceSeen with the connection bound to local (an IP
// address of ns; empty lets the kernel choose).
func SourceSeenFrom(ns *NS, local, addr string) (string, error) {
	var conn net.Conn
	err := datapath.InNamespace(ns.Path, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		var d net.Dialer
		if local != "" {
			d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(local)}
		}
		var err error
		conn, err = d.DialContext(ctx, "tcp4", addr)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("connecting from %s to %s: %w", ns.Name, addr, err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(3 * time.Second))
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return "", fmt.Errorf("reading from %s: %w", addr, err)
	}
	return strings.TrimSpace(line), nil
}

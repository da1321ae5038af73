package simcluster

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/eksnet/eksnet/sim"
)

// ProbePort is the TCP port Serve listens on by default.
const ProbePort = 8080

// Serve starts a TCP server inside the namespace at netnsPath (a pod's) on
// port that answers every connection with the "addr:port\n" it came from,
// like the internet echo, so a client learns whether NAT rewrote its source.
// Close the listener to stop it.
func Serve(netnsPath string, port int) (net.Listener, error) {
	ln, err := sim.ListenIn(netnsPath, "tcp4", fmt.Sprintf("0.0.0.0:%d", port))
	if err != nil {
		return nil, fmt.Errorf("listening on port %d in %s: %w", port, netnsPath, err)
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_ = c.SetDeadline(time.Now().Add(5 * time.Second))
			fmt.Fprintf(c, "%s\n", c.RemoteAddr())
			c.Close()
		}
	}()
	return ln, nil
}

// ServePod is Serve in p's namespace on ProbePort; it returns where to dial.
func ServePod(p *Pod) (net.Listener, netip.AddrPort, error) {
	ln, err := Serve(p.NetNS, ProbePort)
	if err != nil {
		return nil, netip.AddrPort{}, fmt.Errorf("pod %s: %w", p.Name, err)
	}
	return ln, netip.AddrPortFrom(p.Addr, ProbePort), nil
}

// SourceSeen connects from the namespace at fromNetNS to a server that
// reports the source it saw (Serve, or the VPC's InternetEcho) and returns
// that source address. ctx bounds the whole exchange (5 s when it has no
// deadline).
func SourceSeen(ctx context.Context, fromNetNS string, to netip.AddrPort) (netip.Addr, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
	}
	c, err := sim.DialIn(ctx, fromNetNS, "tcp4", to.String())
	if err != nil {
		return netip.Addr{}, fmt.Errorf("connecting from %s to %s: %w", fromNetNS, to, err)
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(dl)
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return netip.Addr{}, fmt.Errorf("reading from %s: %w", to, err)
	}
	return parseSource(line)
}

// parseSource reads "addr:port" or "addr" as a server reported it.
func parseSource(line string) (netip.Addr, error) {
	line = strings.TrimSpace(line)
	if ap, err := netip.ParseAddrPort(line); err == nil {
		return ap.Addr(), nil
	}
	a, err := netip.ParseAddr(line)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("server reported %q: not an address", line)
	}
	return a, nil
}

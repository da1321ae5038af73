package sim

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"time"

	"github.com/eksnet/eksnet/sim/fakeimds"
)

// ListenIn creates a listener whose socket lives in the namespace at path
// (a pod's server in tests, or the fakes in the router).
func ListenIn(path, network, address string) (net.Listener, error) {
	var ln net.Listener
	err := inNS(path, func() error {
		var err error
		ln, err = net.Listen(network, address)
		return err
	})
	return ln, err
}

// startServers binds IMDS and EC2 in the router namespace and the echo
// service in the internet namespace, and serves them from this process.
func (v *VPC) startServers() error {
	imds := fakeimds.NewServer(v.store, v.faults, v.calls, v.log)
	for _, s := range []struct {
		addr netip.AddrPort
		h    http.Handler
		what string
	}{
		{netip.AddrPortFrom(imdsAddr, 80), imds, "imds"},
		{netip.AddrPortFrom(ec2Addr, 80), v.cloud.Handler(), "ec2"},
	} {
		ln, err := ListenIn(v.routerPath, "tcp4", s.addr.String())
		if err != nil {
			return fmt.Errorf("listening for %s on %s in the router: %w", s.what, s.addr, err)
		}
		srv := &http.Server{Handler: s.h, ReadHeaderTimeout: 10 * time.Second}
		v.mu.Lock()
		v.closers = append(v.closers, srv.Close)
		v.mu.Unlock()
		go func() {
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				v.log.Error("server stopped", "server", s.what, "err", err)
			}
		}()
	}
	inet := v.InternetNetNSPath()
	ln, err := ListenIn(inet, "tcp4", echoAddr.String())
	if err != nil {
		return fmt.Errorf("listening for echo on %s: %w", echoAddr, err)
	}
	var pc net.PacketConn
	err = inNS(inet, func() error {
		var err error
		pc, err = net.ListenPacket("udp4", echoAddr.String())
		return err
	})
	if err != nil {
		_ = ln.Close()
		return fmt.Errorf("listening for udp echo on %s: %w", echoAddr, err)
	}
	v.mu.Lock()
	v.closers = append(v.closers, ln.Close, pc.Close)
	v.mu.Unlock()
	go serveEchoTCP(ln)
	go serveEchoUDP(pc)
	return nil
}

// serveEchoTCP answers every connection with "addr:port\n" of its source,
// then echoes one line of input if the client sends one, and closes.
func serveEchoTCP(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(10 * time.Second))
			fmt.Fprintf(c, "%s\n", c.RemoteAddr())
			if tc, ok := c.(*net.TCPConn); ok {
				_ = tc.CloseWrite()
			}
			_, _ = bufio.NewReader(c).ReadString('\n')
		}()
	}
}

// serveEchoUDP answers every datagram with "addr:port\n" of its source.
func serveEchoUDP(pc net.PacketConn) {
	buf := make([]byte, 2048)
	for {
		_, from, err := pc.ReadFrom(buf)
		if err != nil {
			return
		}
		_, _ = pc.WriteTo([]byte(from.String()+"\n"), from)
	}
}

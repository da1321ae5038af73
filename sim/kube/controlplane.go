package kube

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/eksnet/eksnet/sim"
)

// EndpointAddr is the API server's address inside the simulated VPC, on
// the VPC router as EKS puts its control-plane ENIs in the VPC: nodes reach
// it over the simulated network. The API server itself listens on the
// host's loopback (so kubectl on this machine reaches it too) and a
// forwarder in the router namespace joins the two.
var EndpointAddr = netip.MustParseAddr("198.18.1.2")

// ControlPlaneConfig says what control plane to start.
type ControlPlaneConfig struct {
	Bins Binaries
	// Dir holds certificates, kubeconfigs, etcd's data and the logs.
	Dir string
	// RouterNetNS is the simulated VPC router's namespace path.
	RouterNetNS string
	// ServiceCIDR is the cluster's service range (user data's cluster.cidr).
	ServiceCIDR netip.Prefix
	Logger      *slog.Logger
}

// ControlPlane is a running etcd, kube-apiserver, kube-controller-manager
// and kube-scheduler.
type ControlPlane struct {
	cfg   ControlPlaneConfig
	pki   *pki
	port  int
	procs []*proc
	ln    net.Listener
	wg    sync.WaitGroup
	// admin is the cluster-admin kubeconfig for this machine (loopback).
	admin string
}

// StartControlPlane starts the control plane and waits until the API
// server is ready.
func StartControlPlane(ctx context.Context, cfg ControlPlaneConfig) (_ *ControlPlane, err error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	for _, d := range []string{"pki", "etcd", "logs"} {
		if err := os.MkdirAll(filepath.Join(cfg.Dir, d), 0o700); err != nil {
			return nil, err
		}
	}
	cp := &ControlPlane{cfg: cfg}
	defer func() {
		if err != nil {
			_ = cp.Close()
		}
	}()
	if cp.pki, err = newPKI(filepath.Join(cfg.Dir, "pki")); err != nil {
		return nil, err
	}
	ports, err := freePorts(3)
	if err != nil {
		return nil, err
	}
	cp.port = ports[0]
	if err := cp.startEtcd(ctx, ports[1], ports[2]); err != nil {
		return nil, err
	}
	if err := cp.startAPIServer(ctx, ports[1]); err != nil {
		return nil, err
	}
	if err := cp.forward(); err != nil {
		return nil, err
	}
	for _, c := range []struct{ name, cn string }{
		{"kube-controller-manager", "system:kube-controller-manager"},
		{"kube-scheduler", "system:kube-scheduler"},
	} {
		kc, err := cp.Kubeconfig(c.name, c.cn, nil, true)
		if err != nil {
			return nil, err
		}
		var args []string
		bin := cfg.Bins.Scheduler
		if c.name == "kube-controller-manager" {
			bin = cfg.Bins.ControllerManager
			args = flags([][2]string{
				{"kubeconfig", kc}, {"authentication-kubeconfig", kc}, {"authorization-kubeconfig", kc},
				{"service-account-private-key-file", filepath.Join(cp.pki.dir, "sa.key")},
				{"root-ca-file", cp.pki.CAPath()}, {"use-service-account-credentials", "true"},
				{"service-cluster-ip-range", cfg.ServiceCIDR.String()},
				{"leader-elect", "false"}, {"bind-address", "127.0.0.1"}, {"secure-port", "0"},
				// The node lifecycle controller's defaults: a node whose kubelet
				// stops posting status turns Unknown after 40 s.
				{"node-monitor-grace-period", "40s"},
			})
		} else {
			args = flags([][2]string{
				{"kubeconfig", kc}, {"authentication-kubeconfig", kc}, {"authorization-kubeconfig", kc},
				{"leader-elect", "false"}, {"bind-address", "127.0.0.1"}, {"secure-port", "0"},
			})
		}
		p, err := startProc(c.name, exec.Command(bin, args...), cp.logPath(c.name), nil)
		if err != nil {
			return nil, err
		}
		cp.procs = append(cp.procs, p)
	}
	return cp, nil
}

func (cp *ControlPlane) logPath(name string) string {
	return filepath.Join(cp.cfg.Dir, "logs", name+".log")
}

func (cp *ControlPlane) startEtcd(ctx context.Context, clientPort, peerPort int) error {
	client := "http://127.0.0.1:" + strconv.Itoa(clientPort)
	peer := "http://127.0.0.1:" + strconv.Itoa(peerPort)
	args := flags([][2]string{
		{"name", "sim"}, {"data-dir", filepath.Join(cp.cfg.Dir, "etcd")},
		{"listen-client-urls", client}, {"advertise-client-urls", client},
		{"listen-peer-urls", peer}, {"initial-advertise-peer-urls", peer},
		{"initial-cluster", "sim=" + peer}, {"log-level", "warn"},
		// One member on a tmp folder of a test machine: no fsync stalls.
		{"unsafe-no-fsync", "true"},
	})
	p, err := startProc("etcd", exec.Command(cp.cfg.Bins.Etcd, args...), cp.logPath("etcd"), nil)
	if err != nil {
		return err
	}
	cp.procs = append(cp.procs, p)
	hc := &http.Client{Timeout: 2 * time.Second}
	return waitFor(ctx, "etcd to serve", 60*time.Second, p, func() (bool, error) {
		resp, err := hc.Get(client + "/health")
		if err != nil {
			return false, err
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, nil
	})
}

func (cp *ControlPlane) startAPIServer(ctx context.Context, etcdPort int) error {
	svc := cp.cfg.ServiceCIDR
	firstIP := svc.Masked().Addr().Next() // the kubernetes Service's ClusterIP
	cert, key, err := cp.pki.issue("apiserver", "kube-apiserver", nil,
		[]net.IP{net.ParseIP("127.0.0.1"), net.IP(EndpointAddr.AsSlice()), net.IP(firstIP.AsSlice())},
		[]string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"})
	if err != nil {
		return err
	}
	kcert, kkey, err := cp.pki.issue("apiserver-kubelet-client", "kube-apiserver-kubelet-client", []string{"system:masters"}, nil, nil)
	if err != nil {
		return err
	}
	saKey, saPub, err := cp.pki.serviceAccountKey()
	if err != nil {
		return err
	}
	args := flags([][2]string{
		{"etcd-servers", "http://127.0.0.1:" + strconv.Itoa(etcdPort)},
		{"bind-address", "127.0.0.1"}, {"secure-port", strconv.Itoa(cp.port)},
		{"advertise-address", EndpointAddr.String()},
		{"service-cluster-ip-range", svc.String()},
		{"client-ca-file", cp.pki.CAPath()}, {"tls-cert-file", cert}, {"tls-private-key-file", key},
		{"kubelet-client-certificate", kcert}, {"kubelet-client-key", kkey},
		{"kubelet-certificate-authority", cp.pki.CAPath()},
		{"service-account-issuer", "https://kubernetes.default.svc"},
		{"service-account-key-file", saPub}, {"service-account-signing-key-file", saKey},
		{"authorization-mode", "Node,RBAC"},
		// As EKS enables them; LimitRanger (defaults from LimitRanges) and
		// the rest of the default set stay on.
		{"enable-admission-plugins", "NodeRestriction"},
		{"allow-privileged", "true"},
		{"kubelet-preferred-address-types", "InternalIP"},
		{"profiling", "false"},
	})
	p, err := startProc("kube-apiserver", exec.Command(cp.cfg.Bins.APIServer, args...), cp.logPath("kube-apiserver"), nil)
	if err != nil {
		return err
	}
	cp.procs = append(cp.procs, p)
	if cp.admin, err = cp.Kubeconfig("admin", "eksnet-admin", []string{"system:masters"}, true); err != nil {
		return err
	}
	c, err := cp.Client()
	if err != nil {
		return err
	}
	return waitFor(ctx, "kube-apiserver to be ready", 120*time.Second, p, func() (bool, error) {
		_, err := c.get(ctx, "/readyz")
		return err == nil, err
	})
}

// forward serves EndpointAddr:port in the router namespace by relaying
// every connection to the API server on the host's loopback.
func (cp *ControlPlane) forward() error {
	err := sim.RunIn(cp.cfg.RouterNetNS, func() error {
		lo, err := netlink.LinkByName("lo")
		if err != nil {
			return err
		}
		return netlink.AddrAdd(lo, &netlink.Addr{IPNet: &net.IPNet{IP: net.IP(EndpointAddr.AsSlice()), Mask: net.CIDRMask(32, 32)}})
	})
	if err != nil && !errors.Is(err, os.ErrExist) {
		return fmt.Errorf("adding the API endpoint %s to the VPC router: %w", EndpointAddr, err)
	}
	addr := netip.AddrPortFrom(EndpointAddr, uint16(cp.port)).String()
	if cp.ln, err = sim.ListenIn(cp.cfg.RouterNetNS, "tcp4", addr); err != nil {
		return fmt.Errorf("listening for the API endpoint %s in the VPC router: %w", addr, err)
	}
	local := "127.0.0.1:" + strconv.Itoa(cp.port)
	cp.wg.Add(1)
	go func() {
		defer cp.wg.Done()
		for {
			c, err := cp.ln.Accept()
			if err != nil {
				return
			}
			go relay(c, local)
		}
	}()
	return nil
}

func relay(c net.Conn, to string) {
	defer c.Close()
	up, err := net.DialTimeout("tcp4", to, 5*time.Second)
	if err != nil {
		return
	}
	defer up.Close()
	done := make(chan struct{}, 2)
	cp := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		if tc, ok := dst.(*net.TCPConn); ok {
			_ = tc.CloseWrite()
		}
		done <- struct{}{}
	}
	go cp(up, c)
	go cp(c, up)
	<-done
	<-done
}

// Endpoint is the API server's URL as nodes see it (in the VPC).
func (cp *ControlPlane) Endpoint() string {
	return "https://" + netip.AddrPortFrom(EndpointAddr, uint16(cp.port)).String()
}

// LocalEndpoint is the API server's URL on this machine's loopback.
func (cp *ControlPlane) LocalEndpoint() string {
	return "https://127.0.0.1:" + strconv.Itoa(cp.port)
}

// CAPEM is the cluster CA, as user data's certificateAuthority carries it.
func (cp *ControlPlane) CAPEM() []byte { return cp.pki.CAPEM() }

// CAPath is the cluster CA's file.
func (cp *ControlPlane) CAPath() string { return cp.pki.CAPath() }

// AdminKubeconfig is a cluster-admin kubeconfig for kubectl on this machine.
func (cp *ControlPlane) AdminKubeconfig() string { return cp.admin }

// Kubeconfig issues a client certificate (CN cn, organisations orgs) and
// writes a kubeconfig NAME.kubeconfig for it, for the loopback endpoint
// (host processes) or the VPC one (node processes).
func (cp *ControlPlane) Kubeconfig(name, cn string, orgs []string, local bool) (string, error) {
	cert, key, err := cp.pki.issue(name, cn, orgs, nil, nil)
	if err != nil {
		return "", err
	}
	server := cp.Endpoint()
	if local {
		server = cp.LocalEndpoint()
	}
	path := filepath.Join(cp.cfg.Dir, name+".kubeconfig")
	if err := os.WriteFile(path, []byte(kubeconfig(server, cp.pki.CAPath(), cert, key)), 0o600); err != nil {
		return "", fmt.Errorf("writing %s: %w", path, err)
	}
	return path, nil
}

// Client is an admin API client over loopback.
func (cp *ControlPlane) Client() (*Client, error) {
	cert, err := tls.LoadX509KeyPair(filepath.Join(cp.pki.dir, "admin.crt"), filepath.Join(cp.pki.dir, "admin.key"))
	if err != nil {
		return nil, fmt.Errorf("loading the admin certificate: %w", err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cp.pki.cert)
	return NewClient(cp.LocalEndpoint(), &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
	}}), nil
}

// Check reports the first control-plane process that is not running.
func (cp *ControlPlane) Check() error {
	for _, p := range cp.procs {
		if !p.running() {
			return p.exitError()
		}
	}
	return nil
}

// Close stops the control plane, the last started first.
func (cp *ControlPlane) Close() error {
	if cp.ln != nil {
		_ = cp.ln.Close()
	}
	for i := len(cp.procs) - 1; i >= 0; i-- {
		_ = cp.procs[i].stop(10 * time.Second)
	}
	cp.wg.Wait()
	return nil
}

// freePorts asks the kernel for n free loopback ports.
func freePorts(n int) ([]int, error) {
	var ports []int
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			_ = ln.Close()
		}
	}()
	for range n {
		ln, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("finding a free loopback port: %w", err)
		}
		lns = append(lns, ln)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

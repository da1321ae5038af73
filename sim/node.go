package sim

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"time"
)

// Node is one simulated EC2 instance: a network namespace and its EC2 record.
type Node struct {
	Name         string
	InstanceID   string
	InstanceType string
	AZ           string
	SubnetID     string
	// PrimaryIP is eth0's address and the source IMDS knows the node by.
	PrimaryIP  netip.Addr
	PrimaryMAC net.HardwareAddr
	PrimaryENI string

	vpc    *VPC
	idx    int
	nsName string
	nsPath string
	// pods are the names of the pod namespaces made with
	// Node.NewPodNamespace, which a reboot removes (guarded by vpc.mu).
	pods []string
}

// NetNSPath is the node namespace's path (/run/netns/NAME.node.NODE).
func (n *Node) NetNSPath() string { return n.nsPath }

// NetNSName is the node namespace's name, for `ip netns exec`.
func (n *Node) NetNSName() string { return n.nsName }

// fake credentials: the fakes do not check signatures, the SDK insists on some.
const (
	fakeAccessKey = "AKIASIMULATEDVPC0000"
	fakeSecretKey = "simulated/secret/key/not/checked/by/the/fake"
)

// Env is what a process in the node needs for the real SDK to reach the
// fakes: region, static fake credentials, the EC2 and IMDS endpoints (the
// SDK's own variables and EKSNET_* ones), and no shared config files.
func (n *Node) Env() []string {
	return []string{
		"AWS_REGION=" + n.vpc.cfg.Region,
		"AWS_DEFAULT_REGION=" + n.vpc.cfg.Region,
		"AWS_ACCESS_KEY_ID=" + fakeAccessKey,
		"AWS_SECRET_ACCESS_KEY=" + fakeSecretKey,
		"AWS_ENDPOINT_URL_EC2=" + n.vpc.EC2Endpoint(),
		"AWS_EC2_METADATA_SERVICE_ENDPOINT=" + n.vpc.IMDSEndpoint(),
		"AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE=IPv4",
		"AWS_CONFIG_FILE=/dev/null",
		"AWS_SHARED_CREDENTIALS_FILE=/dev/null",
		"EKSNET_EC2_ENDPOINT=" + n.vpc.EC2Endpoint(),
		"EKSNET_IMDS_ENDPOINT=" + n.vpc.IMDSEndpoint(),
		"EKSNET_SIM_NAME=" + n.vpc.cfg.Name,
		"EKSNET_SIM_NODE=" + n.Name,
	}
}

// CommandEnv builds the full environment of a node command: the caller's,
// minus any AWS_* variable (so no real profile or credentials leak in), plus Env.
func CommandEnv(base, nodeEnv []string) []string {
	out := make([]string, 0, len(base)+len(nodeEnv))
	for _, kv := range base {
		if !strings.HasPrefix(kv, "AWS_") {
			out = append(out, kv)
		}
	}
	return append(out, nodeEnv...)
}

// Command runs name inside the node namespace (via `ip netns exec`) with the
// environment of Env.
func (n *Node) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", n.nsName, name}, args...)...)
	cmd.Env = CommandEnv(os.Environ(), n.Env())
	return cmd
}

// Start starts cmd with the node's network namespace, as a container runtime
// execs a CNI plugin from the host's: a child inherits the namespace of the
// thread that forks it, so cmd is forked from a thread inside the node. Unlike
// Command there is no `ip netns exec` in between (one process and a /sys
// remount less, 6-10 ms here), which is what latency measurements want. The
// mount namespace stays the caller's; cmd.Env is the caller's to set, e.g.
// with CommandEnv(os.Environ(), n.Env()).
func (n *Node) Start(cmd *exec.Cmd) error { return inNS(n.nsPath, cmd.Start) }

// Do runs fn on a locked OS thread inside the node namespace. Goroutines that
// fn starts do not inherit the namespace.
func (n *Node) Do(fn func() error) error { return inNS(n.nsPath, fn) }

// DialContext opens a connection whose socket lives in the node namespace, so
// in-process clients talk to the fakes from the node's address.
func (n *Node) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	return DialIn(ctx, n.nsPath, network, address)
}

// RunIn runs fn on a locked OS thread inside the namespace at path (a pod
// namespace from NewPodNamespace, or any other); the thread is discarded after.
func RunIn(path string, fn func() error) error { return inNS(path, fn) }

// DialIn dials from inside the namespace at path.
func DialIn(ctx context.Context, path, network, address string) (net.Conn, error) {
	var c net.Conn
	err := inNS(path, func() error {
		var d net.Dialer
		var err error
		c, err = d.DialContext(ctx, network, address)
		return err
	})
	return c, err
}

// HTTPClient is an HTTP client whose connections start in the node namespace:
// give it to aws-sdk-go-v2 clients (HTTPClient option) to call the fakes as
// the node would.
func (n *Node) HTTPClient() *http.Client {
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		DialContext: n.DialContext, DisableKeepAlives: false, MaxIdleConnsPerHost: 4, IdleConnTimeout: 30 * time.Second,
	}}
}

package agent_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/eksnet/eksnet/cni-agent/hostnet"
	"github.com/eksnet/eksnet/cni-agent/rpc"
)

// TestAttachWaitsForNodeadmMarker is the AL2023 interplay with nodeadm's
// udev net manager (docs/node-bootstrap.md): with --attach-after the agent
// serves from the primary ENI but attaches no ENI until the marker exists,
// and with --networkd-dir every ENI it attached has a systemd-networkd file
// matching its MAC with Unmanaged=yes.
func TestAttachWaitsForNodeadmMarker(t *testing.T) {
	needRoot(t)
	vpc := newVPC(t)
	node := addNode(t, vpc, "al2023", "t3.medium")
	dir := t.TempDir()
	marker := filepath.Join(dir, "run", "nodeadm", "init")
	networkd := filepath.Join(dir, "etc", "systemd", "network")
	// 8 free addresses: more than the primary ENI's 5, so the pool needs an ENI.
	ag := startAgent(t, node, dir, map[string]string{
		"EKSNET_MODE":           "secondary",
		"EKSNET_WARM_IP_TARGET": "8",
		"EKSNET_ATTACH_AFTER":   marker,
		"EKSNET_NETWORKD_DIR":   networkd,
	})
	st := ag.waitFor("the primary ENI's addresses and the wait for the marker", 30*time.Second, func(s rpc.Status) bool {
		return s.Ready && s.Total == 5 && s.AttachWaitingFor == marker
	})
	time.Sleep(2 * time.Second) // two pool polls
	if _, calls := ec2Calls(vpc); calls["AttachNetworkInterface"] != 0 || len(st.ENIs) != 1 {
		t.Fatalf("before nodeadm's marker: %d AttachNetworkInterface calls, ENIs %+v; want none but the primary", calls["AttachNetworkInterface"], st.ENIs)
	}
	if err := os.MkdirAll(filepath.Dir(marker), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(marker, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	st = ag.waitFor("an ENI after the marker", 30*time.Second, func(s rpc.Status) bool {
		return len(s.ENIs) >= 2 && s.Free >= 8 && s.AttachWaitingFor == ""
	})
	for _, e := range st.ENIs {
		if e.Primary {
			continue
		}
		mac := aws.ToString(describeENI(t, vpc, node, e.ID).MacAddress)
		b, err := os.ReadFile(hostnet.NetworkdFile(networkd, e.ID))
		if err != nil {
			t.Fatalf("ENI %s attached without its systemd-networkd file: %v", e.ID, err)
		}
		for _, want := range []string{"[Match]\nPermanentMACAddress=" + mac + "\n", "[Link]\nUnmanaged=yes\n"} {
			if !strings.Contains(string(b), want) {
				t.Errorf("networkd file of %s lacks %q:\n%s", e.ID, want, b)
			}
		}
	}
}

// TestNetworkCardZeroOnly: a multi-card type (p5.48xlarge: 32 cards of 2
// ENIs) runs on card 0, and status says so in text and JSON; a max pods
// that only the other cards' ENIs could address stops the agent at start,
// naming the setting, the cards and the accepted values. 100 is AWS's
// published value (aws-node and kube-proxy on the host network); an agent
// node has only kube-proxy there, so its 2 x 49 addresses serve 99.
func TestNetworkCardZeroOnly(t *testing.T) {
	needRoot(t)
	vpc := newVPC(t)
	node := addNode(t, vpc, "p5", "p5.48xlarge")
	dir := t.TempDir()

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := node.Command(ctx, agentBin, "run")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "EKSNET_CLUSTER=agent-test", "EKSNET_MAX_PODS=100",
		"EKSNET_CHECKPOINT_PATH=" + filepath.Join(dir, "refused", "checkpoint.json"), "EKSNET_SOCKET_PATH=" + filepath.Join(dir, "refused", "agent.sock"),
		"EKSNET_CNI_CONF_DIR=" + filepath.Join(dir, "refused", "net.d"), "EKSNET_CNI_BIN_DIR=" + filepath.Join(dir, "refused", "bin"), "EKSNET_METRICS_ADDR="}
	out, err := cmd.CombinedOutput()
	if err == nil || ctx.Err() != nil {
		t.Fatalf("agent with EKSNET_MAX_PODS=100 on p5.48xlarge: %v (timeout: %v)\n%s", err, ctx.Err(), out)
	}
	for _, want := range []string{"--max-pods (EKSNET_MAX_PODS) 100", "32 network cards", "card 0 only", "accepted: at most 99"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("refusal lacks %q:\n%s", want, out)
		}
	}

	ag := startAgent(t, node, dir, map[string]string{"EKSNET_MODE": "secondary"})
	ag.waitFor("ready", 30*time.Second, func(s rpc.Status) bool { return s.Ready })
	text, err := exec.Command(agentBin, "status", "--socket-path", ag.env["EKSNET_SOCKET_PATH"]).CombinedOutput()
	if err != nil || !strings.Contains(string(text), "network cards: card 0 only of 32; the other 31 carry no pod ENIs") {
		t.Errorf("eksnet-agent status: %v\n%s\nwant the network card line", err, text)
	}
	raw, err := exec.Command(agentBin, "status", "--json", "--socket-path", ag.env["EKSNET_SOCKET_PATH"]).Output()
	var js struct {
		Status rpc.Status `json:"status"`
	}
	if err != nil || json.Unmarshal(raw, &js) != nil || js.Status.NetworkCard != 0 || js.Status.NetworkCards != 32 ||
		!strings.Contains(string(raw), `"networkCards": 32`) {
		t.Errorf("eksnet-agent status --json: %v\n%s\nwant networkCard 0 and networkCards 32", err, raw)
	}
}

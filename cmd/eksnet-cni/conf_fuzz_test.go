package main

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/types"
)

// FuzzParse feeds arbitrary network configurations and CNI_ARGS to the
// plugin's parser, as a runtime would on stdin and in the environment: every
// rejection must be a CNI error with a decoding, configuration or
// environment code (what kubelet shows), never a panic; an accepted
// configuration has the defaults filled in. Seeds are in
// testdata/fuzz/FuzzParse; CI runs it with -fuzztime=10s.
func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"cniVersion":"1.0.0","name":"eksnet","type":"eksnet-cni"}`), "IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=web-0")
	f.Add([]byte(`{"cniVersion":"1.1.0","name":"eksnet","type":"eksnet-cni","socketPath":"/run/eksnet/agent.sock","vethPrefix":"eni","mtu":9001}`), "")
	f.Add([]byte(`{"cniVersion":"1.0.0","name":"eksnet","type":"eksnet-cni","prevResult":{"cniVersion":"1.0.0","interfaces":[{"name":"eni1a2b3c"},{"name":"eth0","sandbox":"/var/run/netns/p"}],"ips":[{"address":"10.0.1.17/32","interface":1}]}}`), "K8S_POD_NAME=x")
	f.Add([]byte(`{"cniVersion":"1.0.0","name":"eksnet","type":"eksnet-cni","mtu":70000}`), "")
	f.Add([]byte(`{"cniVersion":"1.0.0","name":"eksnet","type":"eksnet-cni","vethPrefix":"9bad"}`), "")
	f.Add([]byte(`{"name":`), "K8S_POD_NAME")
	f.Fuzz(func(t *testing.T, stdin []byte, cniArgs string) {
		if opensLogFile(stdin) {
			t.Skip("parse would create the logFile the input names; the fuzzer must not write files anywhere on the host")
		}
		inv, err := parse(&skel.CmdArgs{ContainerID: "c1", Netns: "/var/run/netns/p", IfName: "eth0", Args: cniArgs, StdinData: stdin})
		if err != nil {
			var ce *types.Error
			if !errors.As(err, &ce) {
				t.Fatalf("rejection is not a CNI error: %T %v", err, err)
			}
			switch ce.Code {
			case types.ErrDecodingFailure, types.ErrInvalidNetworkConfig, types.ErrInvalidEnvironmentVariables:
			default:
				t.Fatalf("rejection has code %d: %v", ce.Code, ce)
			}
			if ce.Msg == "" {
				t.Fatal("rejection without a message")
			}
			return
		}
		defer inv.closeLog()
		if inv.conf.SocketPath == "" || inv.conf.VethPrefix == "" {
			t.Fatalf("accepted config lacks its defaults: %+v", inv.conf)
		}
		if inv.client == nil || inv.client.Path != inv.conf.SocketPath {
			t.Fatalf("client not pointed at the configured socket: %+v", inv.client)
		}
		if name := inv.hostVeth(); name == "" || len(name) > 15 {
			t.Fatalf("host veth name %q is not a valid Linux interface name", name)
		}
	})
}

// opensLogFile reports whether conf names a log file (JSON keys match
// case-insensitively, as encoding/json decodes them).
func opensLogFile(conf []byte) bool {
	var m map[string]json.RawMessage
	if json.Unmarshal(conf, &m) != nil {
		return false
	}
	for k, v := range m {
		if strings.EqualFold(k, "logFile") && string(v) != `""` && string(v) != "null" {
			return true
		}
	}
	return false
}

package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/eksnet/eksnet/sim/simcluster"
	"github.com/eksnet/eksnet/sim/simrun"
)

// publishKept makes a `sim run --keep` cluster visible to `sim status`,
// `exec`, `down`, `list` and `kubeconfig`, as a `sim up` daemon is: this
// process is its daemon, and `sim down` SIGTERMs it. The returned func
// takes the state away after the cluster is closed.
func publishKept(rep *simrun.Report, kept *simcluster.Cluster) (func(), error) {
	vpc := kept.VPC()
	st := simState{Name: rep.SimName, Kind: "run", Stack: rep.Stack, Kubeconfig: rep.Kubeconfig, PID: os.Getpid(),
		Started: time.Now().UTC(), Region: vpc.Region(), VPCID: vpc.Cloud().VPCID(), VPCCIDR: rep.VPCCIDR,
		EC2Endpoint: vpc.EC2Endpoint(), IMDSEndpoint: vpc.IMDSEndpoint(), InternetEcho: vpc.InternetEcho().String()}
	for _, n := range kept.Nodes() {
		s := n.Sim()
		st.Nodes = append(st.Nodes, simNodeState{Name: s.Name, InstanceID: s.InstanceID, InstanceType: s.InstanceType,
			PrimaryIP: s.PrimaryIP.String(), PrimaryMAC: s.PrimaryMAC.String(), NetNS: s.NetNSName(), Env: s.Env()})
	}
	if err := os.MkdirAll(simDir(st.Name), 0o700); err != nil {
		return nil, fmt.Errorf("creating %s: %w", simDir(st.Name), err)
	}
	if err := os.WriteFile(filepath.Join(simDir(st.Name), "pid"), []byte(strconv.Itoa(st.PID)+"\n"), 0o600); err != nil {
		return nil, fmt.Errorf("recording the pid: %w", err)
	}
	stop, err := publishSim(st, vpc)
	if err != nil {
		_ = os.RemoveAll(simDir(st.Name))
		return nil, err
	}
	return func() {
		stop()
		_ = os.RemoveAll(simDir(st.Name))
	}, nil
}

package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"reflect"
	"strings"
	"time"

	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/types"
	types100 "github.com/containernetworking/cni/pkg/types/100"
	"github.com/containernetworking/cni/pkg/version"
	"github.com/eksnet/eksnet/cni-agent/cniconf"
	"github.com/eksnet/eksnet/cni-agent/datapath"
	"github.com/eksnet/eksnet/cni-agent/rpc"
)

// commandTimeout bounds one plugin invocation; kubelet's own CNI timeout is
// longer, so a stuck agent yields our error rather than the runtime's.
const commandTimeout = 60 * time.Second

// netConf is the configuration the runtime passes on stdin.
type netConf struct {
	types.PluginConf
	cniconf.Options
}

// invocation is one parsed plugin call.
type invocation struct {
	conf         netConf
	args         *skel.CmdArgs
	podNamespace string
	podName      string
	client       *rpc.Client
	log          *slog.Logger
	closeLog     func()
}

// parse reads stdin and CNI_ARGS, applies defaults and validates, naming
// the offending key and its accepted values.
func parse(args *skel.CmdArgs) (*invocation, error) {
	var c netConf
	if err := json.Unmarshal(args.StdinData, &c); err != nil {
		return nil, types.NewError(types.ErrDecodingFailure, "decoding network configuration: "+decodeError(err), "")
	}
	if c.SocketPath == "" {
		c.SocketPath = rpc.DefaultSocketPath
	}
	if c.VethPrefix == "" {
		c.VethPrefix = cniconf.DefaultVethPrefix
	}
	if err := validateOptions(c); err != nil {
		return nil, types.NewError(types.ErrInvalidNetworkConfig, err.Error(), "")
	}
	if c.RawPrevResult != nil {
		if err := version.ParsePrevResult(&c.PluginConf); err != nil {
			return nil, types.NewError(types.ErrDecodingFailure, "decoding prevResult: "+err.Error(), "")
		}
	}
	ns, name, err := podIdentity(args.Args)
	if err != nil {
		return nil, types.NewError(types.ErrInvalidEnvironmentVariables, err.Error(), "")
	}
	inv := &invocation{
		conf: c, args: args, podNamespace: ns, podName: name,
		client: &rpc.Client{Path: c.SocketPath},
		log:    slog.New(slog.DiscardHandler), closeLog: func() {},
	}
	if c.LogFile != "" {
		// A log file that cannot be opened is a configuration error like a
		// bad mtu: ignoring it would leave the operator with no log and no
		// word of why.
		f, err := os.OpenFile(c.LogFile, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
		if err != nil {
			return nil, types.NewError(types.ErrInvalidNetworkConfig, fmt.Sprintf("invalid network configuration: logFile %q: cannot open it for appending: %v", c.LogFile, errors.Unwrap(err)), "")
		}
		inv.log = slog.New(slog.NewTextHandler(f, nil)).With("container", args.ContainerID, "ifname", args.IfName)
		inv.closeLog = func() { f.Close() }
	}
	return inv, nil
}

func validateOptions(c netConf) error {
	o := cniconf.Config{
		ConfDir: "/", BinDir: "/", NetworkName: c.Name,
		SocketPath: c.SocketPath, VethPrefix: c.VethPrefix, MTU: c.MTU, LogFile: c.LogFile,
	}
	if err := o.Validate(); err != nil {
		// Speak in the conflist's keys, not the installer's field names.
		msg := strings.TrimPrefix(err.Error(), "cniconf: ")
		for from, to := range map[string]string{"SocketPath": "socketPath", "VethPrefix": "vethPrefix", "MTU": "mtu", "LogFile": "logFile", "NetworkName": "name"} {
			msg = strings.Replace(msg, from+" ", to+" ", 1)
		}
		return fmt.Errorf("invalid network configuration: %s", msg)
	}
	return nil
}

// podIdentity reads K8S_POD_NAMESPACE and K8S_POD_NAME from CNI_ARGS
// ("K=V;K=V"); both are optional (the veth name falls back to the
// container ID), but a malformed pair is an error.
func podIdentity(cniArgs string) (ns, name string, err error) {
	if cniArgs == "" {
		return "", "", nil
	}
	for _, kv := range strings.Split(cniArgs, ";") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return "", "", fmt.Errorf("CNI_ARGS: %q is not KEY=VALUE", kv)
		}
		switch k {
		case "K8S_POD_NAMESPACE":
			ns = v
		case "K8S_POD_NAME":
			name = v
		}
	}
	return ns, name, nil
}

func (inv *invocation) key() rpc.Key {
	return rpc.Key{Network: inv.conf.Name, ContainerID: inv.args.ContainerID, IfName: inv.args.IfName}
}

func (inv *invocation) hostVeth() string {
	return datapath.HostVethName(inv.conf.VethPrefix, inv.podNamespace, inv.podName, inv.args.ContainerID)
}

func (inv *invocation) context() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), commandTimeout)
}

// fromPrevResult recovers what ADD wired from the runtime's cached result:
// the pod address and the host veth name (the interface without a sandbox).
func (inv *invocation) fromPrevResult() (addr netip.Addr, hostVeth string, ok bool) {
	if inv.conf.PrevResult == nil {
		return netip.Addr{}, "", false
	}
	res, err := types100.NewResultFromResult(inv.conf.PrevResult)
	if err != nil {
		return netip.Addr{}, "", false
	}
	for _, ifc := range res.Interfaces {
		if ifc.Sandbox == "" {
			hostVeth = ifc.Name
		}
	}
	for _, ip := range res.IPs {
		if a, ok := netip.AddrFromSlice(ip.Address.IP.To4()); ok {
			addr = a
		}
	}
	return addr, hostVeth, addr.IsValid()
}

// decodeError names the JSON key and the type it takes when a value has the
// wrong type, instead of encoding/json's Go struct path (whose form also
// changes between Go releases).
func decodeError(err error) string {
	var ute *json.UnmarshalTypeError
	if !errors.As(err, &ute) || ute.Field == "" {
		return err.Error()
	}
	key := ute.Field
	for _, embedded := range []string{"PluginConf.", "Options."} {
		key = strings.TrimPrefix(key, embedded)
	}
	return fmt.Sprintf("%q: got a JSON %s, want %s", key, ute.Value, jsonKind(ute.Type))
}

// jsonKind is what a JSON value decoding into t looks like.
func jsonKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Map, reflect.Struct:
		return "an object"
	case reflect.Pointer:
		return jsonKind(t.Elem())
	}
	return t.String()
}

// Command libcni112 reads a conflist and plugin results the way containerd
// 1.7 does, with the libcni v1.1.2 it embeds, and prints what it concluded
// as JSON: the version libcni calls the plugin with and whether it can parse
// the plugin's ADD result in that version.
//
// Usage: libcni112 CONFLIST RESULTDIR, where RESULTDIR holds the plugin's
// ADD result for each spec version as VERSION.json.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/containernetworking/cni/libcni"
	types100 "github.com/containernetworking/cni/pkg/types/100"
	"github.com/containernetworking/cni/pkg/types/create"
)

// verdict is what the test reads back.
type verdict struct {
	// Picked is the cniVersion libcni v1.1.2 calls the plugin with.
	Picked string `json:"picked"`
	// ConfError is libcni's error reading the conflist.
	ConfError string `json:"confError,omitempty"`
	// ResultError is libcni's (or containerd's conversion to 1.0.0) error
	// reading the ADD result the plugin prints for Picked.
	ResultError string `json:"resultError,omitempty"`
	// IPs are the addresses containerd would see.
	IPs []string `json:"ips,omitempty"`
}

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: libcni112 CONFLIST RESULTDIR")
		os.Exit(2)
	}
	raw, err := os.ReadFile(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	var v verdict
	list, err := libcni.ConfListFromBytes(raw)
	if err != nil {
		v.ConfError = err.Error()
		emit(v)
		return
	}
	v.Picked = list.CNIVersion
	res, err := os.ReadFile(filepath.Join(os.Args[2], v.Picked+".json"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	// invoke.ExecPluginWithResult: the result's own cniVersion selects the
	// parser; then go-cni converts to the 1.0.0 types it works with.
	r, err := create.CreateFromBytes(res)
	if err == nil {
		var cur *types100.Result
		if cur, err = types100.NewResultFromResult(r); err == nil {
			for _, ip := range cur.IPs {
				v.IPs = append(v.IPs, ip.Address.String())
			}
		}
	}
	if err != nil {
		v.ResultError = err.Error()
	}
	emit(v)
}

func emit(v verdict) {
	if err := json.NewEncoder(os.Stdout).Encode(v); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

package simcluster

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/eksnet/eksnet/sim"
	"github.com/eksnet/eksnet/sim/faults"
)

func TestSummarize(t *testing.T) {
	var hundred []time.Duration
	for i := 100; i >= 1; i-- {
		hundred = append(hundred, time.Duration(i)*time.Millisecond)
	}
	for _, tc := range []struct {
		name string
		in   []time.Duration
		want Latency
	}{
		{"none", nil, Latency{}},
		{"one", []time.Duration{7}, Latency{Count: 1, P50: 7, P90: 7, P99: 7, Max: 7}},
		{"two", []time.Duration{9, 1}, Latency{Count: 2, P50: 1, P90: 9, P99: 9, Max: 9}},
		{"hundred, unsorted", hundred, Latency{Count: 100, P50: 50 * time.Millisecond, P90: 90 * time.Millisecond, P99: 99 * time.Millisecond, Max: 100 * time.Millisecond}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Summarize(tc.in); got != tc.want {
				t.Fatalf("Summarize = %+v, want %+v", got, tc.want)
			}
		})
	}
	if hundred[0] != 100*time.Millisecond {
		t.Fatal("Summarize sorted its input in place")
	}
}

func TestEC2CallsOf(t *testing.T) {
	st := sim.CallStats{
		ByAction: map[string]int{
			"AssignPrivateIpAddresses": 3, "CreateNetworkInterface": 1, "DescribeNetworkInterfaces": 4,
			"GET /latest/meta-data/instance-id": 9, "PUT /latest/api/token": 2,
		},
		ByActionCode: map[string]map[string]int{
			"AssignPrivateIpAddresses":          {"": 2, "RequestLimitExceeded": 1},
			"CreateNetworkInterface":            {"": 1},
			"DescribeNetworkInterfaces":         {"": 4},
			"GET /latest/meta-data/instance-id": {"": 8, "Not Found": 1},
		},
	}
	got := EC2CallsOf(st)
	want := EC2Calls{Total: 8,
		ByAction: map[string]int{"AssignPrivateIpAddresses": 3, "CreateNetworkInterface": 1, "DescribeNetworkInterfaces": 4},
		Errors:   map[string]int{"AssignPrivateIpAddresses: RequestLimitExceeded": 1}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("EC2CallsOf = %+v, want %+v", got, want)
	}
	before := EC2Calls{Total: 2, ByAction: map[string]int{"AssignPrivateIpAddresses": 1, "DescribeNetworkInterfaces": 1}}
	since := got.Since(before)
	wantSince := EC2Calls{Total: 6,
		ByAction: map[string]int{"AssignPrivateIpAddresses": 2, "CreateNetworkInterface": 1, "DescribeNetworkInterfaces": 3},
		Errors:   map[string]int{"AssignPrivateIpAddresses: RequestLimitExceeded": 1}}
	if !reflect.DeepEqual(since, wantSince) {
		t.Fatalf("Since = %+v, want %+v", since, wantSince)
	}
	if a := got.Actions(); !reflect.DeepEqual(a, []string{"AssignPrivateIpAddresses", "CreateNetworkInterface", "DescribeNetworkInterfaces"}) {
		t.Fatalf("Actions = %v", a)
	}
}

func TestEC2CallsFrom(t *testing.T) {
	st := sim.CallStats{Log: []faults.Call{
		{Service: "ec2", Action: "AssignPrivateIpAddresses", Source: "10.0.0.4:41000"},
		{Service: "ec2", Action: "AttachNetworkInterface", Source: "10.0.0.4:41002", Code: "AttachmentLimitExceeded"},
		{Service: "imds", Action: "GET /latest/meta-data/mac", Source: "10.0.0.4:41003"},
		{Service: "ec2", Action: "DescribeNetworkInterfaces", Source: "10.0.16.4:50000"},
		{Service: "ec2", Action: "(none)", Source: "garbage"},
	}}
	got := EC2CallsFrom(st)
	want := map[netip.Addr]int{netip.MustParseAddr("10.0.0.4"): 2, netip.MustParseAddr("10.0.16.4"): 1}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("EC2CallsFrom = %v, want %v", got, want)
	}
}

func TestParseSourceAndResult(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string
		err  bool
	}{
		{"10.0.1.5:40000\n", "10.0.1.5", false},
		{"203.0.113.9", "203.0.113.9", false},
		{"garbage\n", "", true},
	} {
		got, err := parseSource(tc.in)
		if (err != nil) != tc.err || (err == nil && got.String() != tc.want) {
			t.Errorf("parseSource(%q) = %v, %v; want %s (error %v)", tc.in, got, err, tc.want, tc.err)
		}
	}
	for _, tc := range []struct {
		in   string
		want string
		err  bool
	}{
		{`{"cniVersion":"1.1.0","ips":[{"address":"10.0.32.7/32","gateway":"169.254.1.1"}]}`, "10.0.32.7", false},
		{`{"ips":[]}`, "", true},
		{`{"ips":[{"address":"10.0.0.1"}]}`, "", true},
		{`not json`, "", true},
	} {
		got, err := ResultAddr([]byte(tc.in))
		if (err != nil) != tc.err || (err == nil && got != netip.MustParseAddr(tc.want)) {
			t.Errorf("ResultAddr(%s) = %v, %v; want %s (error %v)", tc.in, got, err, tc.want, tc.err)
		}
	}
}

func TestRetriable(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{&CNIError{Code: 11, Msg: "no free pod address yet: the pool is catching up"}, true},
		{fmt.Errorf("wrapped: %w", &CNIError{Code: 11, Msg: "pool catching up"}), true},
		{&CNIError{Code: 11, Msg: "no free pod address on this node (node full: 15 of 15)"}, false},
		{&CNIError{Code: 7, Msg: "bad config"}, false},
		{errors.New("exec failed"), false},
	} {
		if got := Retriable(tc.err); got != tc.want {
			t.Errorf("Retriable(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}

func TestBinaryDiscovery(t *testing.T) {
	dir := t.TempDir()
	if _, ok := Beside(dir); ok {
		t.Fatal("Beside found binaries in an empty directory")
	}
	b := Binaries{Agent: filepath.Join(dir, AgentBinary), Plugin: filepath.Join(dir, PluginBinary)}
	if err := b.Check(); err == nil {
		t.Fatal("Check passed with both binaries missing")
	}
	for _, p := range []string{b.Agent, b.Plugin} {
		if err := os.WriteFile(p, []byte("#!/bin/sh\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Check(); err == nil {
		t.Fatal("Check passed with non-executable files")
	}
	for _, p := range []string{b.Agent, b.Plugin} {
		if err := os.Chmod(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if got, ok := Beside(dir); !ok || got != b {
		t.Fatalf("Beside = %+v, %v; want %+v", got, ok, b)
	}

	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	root, ok := SourceRoot(wd)
	if !ok || root != filepath.Clean(filepath.Join(wd, "../..")) {
		t.Fatalf("SourceRoot(%s) = %q, %v; want the repository root", wd, root, ok)
	}
	other := t.TempDir()
	if err := os.WriteFile(filepath.Join(other, "go.mod"), []byte("module example.com/other\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if r, ok := SourceRoot(other); ok {
		t.Fatalf("SourceRoot found %s under another module", r)
	}
	if _, err := BuildFromTree(context.Background(), other, t.TempDir()); err == nil || !strings.Contains(err.Error(), "no eksnet source tree") {
		t.Fatalf("BuildFromTree outside a checkout: %v, want it to say there is no source tree", err)
	}
}

// A CNI error reads as the plugin said it: details in parentheses only when
// the plugin gave some.
func TestCNIErrorText(t *testing.T) {
	for _, c := range []struct {
		err  *CNIError
		want string
	}{
		{&CNIError{Code: 11, Msg: "no free pod address"}, "CNI error 11: no free pod address"},
		{&CNIError{Code: 7, Msg: "invalid network configuration", Details: "mtu: 70000"}, "CNI error 7: invalid network configuration (mtu: 70000)"},
	} {
		if got := c.err.Error(); got != c.want {
			t.Errorf("%+v reads %q, want %q", *c.err, got, c.want)
		}
	}
}

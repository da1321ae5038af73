package main

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestTenthRatio(t *testing.T) {
	ms := func(v ...int) []time.Duration {
		var d []time.Duration
		for _, x := range v {
			d = append(d, time.Duration(x)*time.Millisecond)
		}
		return d
	}
	tests := []struct {
		name string
		adds []time.Duration
		want float64
	}{
		{"fewer than ten pods", ms(1, 2, 3), 0},
		{"flat", ms(10, 10, 10, 10, 10, 10, 10, 10, 10, 10), 1},
		{"last tenth twice as slow", ms(10, 10, 10, 10, 10, 10, 10, 10, 10, 20), 2},
		{"medians of twenty pods' tenths", ms(10, 30, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 15, 15), 1.5},
	}
	for _, tt := range tests {
		if got := tenthRatio(tt.adds); got != tt.want {
			t.Errorf("%s: tenthRatio = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestParseVmRSS(t *testing.T) {
	status := "Name:\teksnet-agent\nVmPeak:\t 1262724 kB\nVmHWM:\t   22000 kB\nVmRSS:\t   20480 kB\nThreads:\t9\n"
	if got, err := parseVmRSS(strings.NewReader(status)); err != nil || got != 20480 {
		t.Fatalf("parseVmRSS = %d, %v; want 20480", got, err)
	}
	if _, err := parseVmRSS(strings.NewReader("Name:\tx\n")); err == nil {
		t.Fatal("no VmRSS line: want an error")
	}
}

func TestPodsPerSecond(t *testing.T) {
	if got := podsPerSecond(250, 5*time.Second); got != 50 {
		t.Fatalf("podsPerSecond = %v, want 50", got)
	}
	if got := podsPerSecond(10, 0); got != 0 {
		t.Fatalf("zero wall time: %v, want 0", got)
	}
}

func TestForEach(t *testing.T) {
	var running, peak, calls atomic.Int32
	err := forEach(context.Background(), 40, 8, func(int) error {
		n := running.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		time.Sleep(time.Millisecond)
		running.Add(-1)
		calls.Add(1)
		return nil
	})
	if err != nil || calls.Load() != 40 || peak.Load() > 8 {
		t.Fatalf("forEach: err %v, %d calls, %d at once; want nil, 40, <= 8", err, calls.Load(), peak.Load())
	}
	boom := errors.New("boom")
	calls.Store(0)
	err = forEach(context.Background(), 1000, 4, func(i int) error {
		calls.Add(1)
		if i == 3 {
			return boom
		}
		return nil
	})
	if !errors.Is(err, boom) || calls.Load() == 1000 {
		t.Fatalf("after an error forEach must stop: err %v after %d calls", err, calls.Load())
	}
}

func TestOptionsValidate(t *testing.T) {
	for _, tt := range []struct {
		mod  func(*Options)
		want string
	}{
		{func(o *Options) {}, ""},
		{func(o *Options) { o.Pods = 0 }, "-pods 0: accepted: 1 to 250"},
		{func(o *Options) { o.Pods = 251 }, "-pods 251: accepted: 1 to 250"},
		{func(o *Options) { o.Parallel = 1 }, "-parallel 1: accepted: 2 to 64"},
		{func(o *Options) { o.InstanceType = "" }, "-instance-type: empty; accepted: a Nitro instance type, e.g. m5.large"},
	} {
		o := defaultOptions()
		tt.mod(&o)
		err := o.validate()
		if got := ""; err != nil {
			got = err.Error()
			if got != tt.want {
				t.Errorf("validate = %q, want %q", got, tt.want)
			}
		} else if tt.want != "" {
			t.Errorf("validate accepted %+v, want %q", o, tt.want)
		}
	}
	// The agent serves max pods - 1 addresses (kube-proxy is its node's one
	// host-network pod): 250 pods and the RSS probe's need 252.
	if o := defaultOptions(); o.maxPods() != 252 || o.agentEnv()["EKSNET_MAX_PODS"] != "252" || o.agentEnv()["EKSNET_MINIMUM_IP_TARGET"] != "251" {
		t.Errorf("250 pods need max pods 252 (the probe pod and kube-proxy) and minimum IP target 251: %d, %v", o.maxPods(), o.agentEnv())
	}
}

func TestWriteSamples(t *testing.T) {
	res := &results{runs: []run{
		{plugin: "eksnet", parallel: 1, adds: []time.Duration{1500 * time.Microsecond, 2 * time.Millisecond}, dels: []time.Duration{time.Millisecond, 0}},
		{plugin: "ptp", parallel: 8, adds: []time.Duration{40 * time.Millisecond}, dels: []time.Duration{100250 * time.Microsecond}},
	}}
	var b strings.Builder
	if err := res.writeSamples(&b); err != nil {
		t.Fatal(err)
	}
	want := "run\tcommand\tpod\tms\n" +
		"eksnet_serial\tADD\t0\t1.500\neksnet_serial\tADD\t1\t2.000\n" +
		"eksnet_serial\tDEL\t0\t1.000\neksnet_serial\tDEL\t1\t0.000\n" +
		"ptp_par8\tADD\t0\t40.000\nptp_par8\tDEL\t0\t100.250\n"
	if b.String() != want {
		t.Errorf("samples:\n%s\nwant:\n%s", b.String(), want)
	}
}

// TestRatiosCompareDELUntilVethsGone: the like-for-like DEL ratio divides
// the DEL phases until the last veth is gone (eksnet's including the
// agent's background deletion), not the plugins' exits.
func TestRatiosCompareDELUntilVethsGone(t *testing.T) {
	d := []time.Duration{time.Millisecond}
	runs := []run{
		{plugin: "eksnet", parallel: 1, adds: d, dels: d, addWall: time.Second, delWall: time.Second, vethsGoneWall: 3 * time.Second},
		{plugin: "ptp", parallel: 1, adds: d, dels: d, addWall: time.Second, delWall: 4 * time.Second, vethsGoneWall: 4 * time.Second},
	}
	got := map[string]string{}
	for _, kv := range ratios(runs) {
		got[kv[0]] = kv[1]
	}
	if got["ratio_del_until_veths_gone_wall_serial"] != "0.750" {
		t.Errorf("ratio_del_until_veths_gone_wall_serial = %q, want 0.750 (3 s / 4 s); all: %v", got["ratio_del_until_veths_gone_wall_serial"], got)
	}
}

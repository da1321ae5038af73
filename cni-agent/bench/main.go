// Command bench is the peer benchmark: on one simulated node (package
// simcluster: the real eksnet-agent in a node namespace of the simulated
// VPC) it wires N pods through eksnet-cni and, for comparison, through the
// reference containernetworking ptp + host-local plugins v1.10.0 with
// ipMasq, serially and K at a time, and prints ADD/DEL latency percentiles,
// pods per second, the last-tenth/first-tenth ADD ratio, the eksnet/peer
// ratios, the EC2 calls the agent made, the agent's RSS and the plugins'
// peak RSS, as a table and as `RESULT key=value` lines. It then fills a
// t3.medium in prefix mode to its 110 pods and counts the EC2 calls that took.
//
//	sudo go run ./cni-agent/bench                # 250 pods, 8 at a time
//	sudo go run ./cni-agent/bench -pods 50 -peer=false
//
// It needs root (network namespaces), the go tool (to build the agent and
// plugin and to `go install` the peer plugins from the module proxy) and
// iptables (the peer's ipMasq). Nothing leaves loopback and the simulated
// namespaces; everything it creates is removed on exit. See docs/performance.md.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	if os.Getenv(rssWrapperEnv) != "" {
		os.Exit(rssWrap(os.Args[1:]))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := runMain(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// runMain parses the flags and runs the benchmark.
func runMain(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := defaultOptions()
	fs.IntVar(&o.Pods, "pods", o.Pods, "pods to wire per run (1-250)")
	fs.IntVar(&o.Parallel, "parallel", o.Parallel, "concurrent ADDs/DELs in the parallel runs (2-64)")
	fs.StringVar(&o.InstanceType, "instance-type", o.InstanceType, "the benchmark node's instance type (prefix mode)")
	fs.BoolVar(&o.Peer, "peer", o.Peer, "also run the ptp + host-local peer")
	fs.StringVar(&o.PeerVersion, "peer-version", o.PeerVersion, "containernetworking/plugins version of the peer")
	fs.StringVar(&o.PeerBinDir, "peer-bin-dir", "", "directory already holding ptp and host-local (skips go install)")
	fs.BoolVar(&o.Fill, "fill", o.Fill, "also fill a t3.medium (prefix mode) to 110 pods and count its EC2 calls")
	fs.BoolVar(&o.Verbose, "v", false, "log the simulation's progress to stderr")
	fs.StringVar(&o.Samples, "samples", "", "also write every ADD and DEL latency to this file (TSV: run, command, pod, ms)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q: bench takes flags only", fs.Args())
	}
	if err := o.validate(); err != nil {
		return err
	}
	if os.Geteuid() != 0 {
		return fmt.Errorf("needs root: it creates network namespaces (run it with sudo)")
	}
	log := slog.New(slog.DiscardHandler)
	if o.Verbose {
		log = slog.New(slog.NewTextHandler(stderr, nil))
	}
	// Created before the minutes of benchmarking, so a bad path fails first.
	var samples *os.File
	if o.Samples != "" {
		f, err := os.Create(o.Samples)
		if err != nil {
			return fmt.Errorf("-samples: %w", err)
		}
		samples = f
		defer f.Close()
	}
	res, err := benchmark(ctx, o, log, stderr)
	if err != nil {
		return err
	}
	res.print(stdout, o)
	if samples != nil {
		if err := res.writeSamples(samples); err != nil {
			return fmt.Errorf("-samples %s: %w", o.Samples, err)
		}
		if err := samples.Close(); err != nil {
			return fmt.Errorf("-samples %s: %w", o.Samples, err)
		}
	}
	return nil
}

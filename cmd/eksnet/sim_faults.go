package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/spf13/cobra"

	"github.com/eksnet/eksnet/sim"
)

func newSimFaultsCmd(a *app) *cobra.Command {
	var (
		throttle, serverErr float64
		actions             []string
		latency, outage     time.Duration
		noCidr, reset       bool
	)
	cmd := &cobra.Command{
		Use:   "faults NAME [flags]",
		Short: "Show or change the faults a running simulated VPC injects into EC2 and IMDS",
		Long: `Without flags, print the current fault settings as JSON. Flags change only the
settings they name; --reset clears everything first.`,
		Example: `  eksnet sim faults demo --throttle-ratio 0.3 --throttle-actions AssignPrivateIpAddresses
  eksnet sim faults demo --imds-outage 30s
  eksnet sim faults demo --insufficient-cidr-blocks
  eksnet sim faults demo --reset`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			_, s, err := liveSimStatus(cmd.Context(), name)
			if err != nil {
				return err
			}
			f := s.Faults
			if reset {
				f = sim.FaultSettings{}
			}
			ch := cmd.Flags().Changed
			if ch("throttle-ratio") {
				f.ThrottleRatio = throttle
			}
			if ch("throttle-actions") {
				f.ThrottleActions = actions
			}
			if ch("server-error-ratio") {
				f.ServerErrorRatio = serverErr
			}
			if ch("latency") {
				f.Latency = latency
			}
			if ch("imds-outage") {
				f.IMDSOutageFrom, f.IMDSOutageUntil = time.Time{}, time.Time{}
				if outage > 0 {
					now := time.Now().UTC()
					f.IMDSOutageFrom, f.IMDSOutageUntil = now, now.Add(outage)
				}
			}
			if ch("insufficient-cidr-blocks") {
				f.InsufficientCidrBlocks = noCidr
			}
			if err := f.Validate(); err != nil {
				return fmt.Errorf("fault flags: %w", err)
			}
			if reset || cmd.Flags().NFlag() > 0 {
				if err := simPutFaults(cmd, name, f); err != nil {
					return err
				}
			}
			enc := json.NewEncoder(a.stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(f)
		},
	}
	fl := cmd.Flags()
	fl.Float64Var(&throttle, "throttle-ratio", 0, "share of EC2 calls answered RequestLimitExceeded, 0 to 1")
	fl.StringSliceVar(&actions, "throttle-actions", nil, "throttle only these EC2 actions (default all)")
	fl.Float64Var(&serverErr, "server-error-ratio", 0, "share of EC2 calls answered InternalError (500), 0 to 1")
	fl.DurationVar(&latency, "latency", 0, "delay added before every EC2 and IMDS answer")
	fl.DurationVar(&outage, "imds-outage", 0, "IMDS answers 503 from now for this long (0 ends an outage)")
	fl.BoolVar(&noCidr, "insufficient-cidr-blocks", false, "fail every /28 prefix request with InsufficientCidrBlocks")
	fl.BoolVar(&reset, "reset", false, "clear all faults before applying the other flags")
	return cmd
}

func simPutFaults(cmd *cobra.Command, name string, f sim.FaultSettings) error {
	b, err := json.Marshal(f)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(cmd.Context(), http.MethodPut, "http://sim/faults", bytes.NewReader(b))
	if err != nil {
		return err
	}
	resp, err := simControl(name).Do(req)
	if err != nil {
		return fmt.Errorf("setting faults of simulation %q: %w", name, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return fmt.Errorf("setting faults of simulation %q: %s: %s", name, resp.Status, bytes.TrimSpace(msg))
	}
	return nil
}

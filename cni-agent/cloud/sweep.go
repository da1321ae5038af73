package cloud

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// SweepAPI lists the EC2 calls Sweep makes, with the SDK's signatures.
type SweepAPI interface {
	DescribeNetworkInterfaces(context.Context, *ec2.DescribeNetworkInterfacesInput, ...func(*ec2.Options)) (*ec2.DescribeNetworkInterfacesOutput, error)
	DescribeInstances(context.Context, *ec2.DescribeInstancesInput, ...func(*ec2.Options)) (*ec2.DescribeInstancesOutput, error)
	DetachNetworkInterface(context.Context, *ec2.DetachNetworkInterfaceInput, ...func(*ec2.Options)) (*ec2.DetachNetworkInterfaceOutput, error)
	DeleteNetworkInterface(context.Context, *ec2.DeleteNetworkInterfaceInput, ...func(*ec2.Options)) (*ec2.DeleteNetworkInterfaceOutput, error)
}

// Sweep defaults: how long an attachment may hold on before it is forced
// off, how long the whole sweep may take, and how often EC2 is asked again.
const (
	DefaultSweepStuckAfter = 30 * time.Second
	DefaultSweepTimeout    = 5 * time.Minute
	DefaultSweepPoll       = 2 * time.Second
)

// SweepOptions says whose ENIs to sweep and how patiently.
type SweepOptions struct {
	// Cluster is the TagCluster value of the ENIs to sweep; ENIs without
	// it are never touched.
	Cluster string
	// DryRun describes once and reports what a sweep would do.
	DryRun bool
	// StuckAfter is how long an ENI may stay attached to a terminated
	// instance, or detaching, before it is force-detached.
	StuckAfter time.Duration
	// Timeout bounds the whole sweep.
	Timeout time.Duration
	// Poll is the pause between two looks at EC2.
	Poll time.Duration
	Log  *slog.Logger
}

// SweptENI is one ENI in a sweep report.
type SweptENI struct {
	ID         string `json:"id"`
	SubnetID   string `json:"subnetId"`
	InstanceID string `json:"instanceId,omitempty"`
	// Forced: detached with Force (stuck on a terminated or failed instance).
	Forced bool   `json:"forced,omitempty"`
	Reason string `json:"reason,omitempty"`
}

// SweepReport says what a sweep did (or, in a dry run, would do).
type SweepReport struct {
	Cluster string `json:"cluster"`
	DryRun  bool   `json:"dryRun,omitempty"`
	// Deleted were deleted; Detached were detached first (and deleted
	// once available); Skipped are left alone, each with its reason.
	Deleted  []SweptENI `json:"deleted"`
	Detached []SweptENI `json:"detached"`
	Skipped  []SweptENI `json:"skipped"`
	// Left were still in their subnets when the sweep gave up; in a dry
	// run, those a sweep would wait for (and force-detach if they hold on).
	Left []SweptENI `json:"left,omitempty"`
}

// sweepAction is what one look at an ENI calls for.
type sweepAction int

const (
	sweepWait sweepAction = iota
	sweepDelete
	sweepDetach
	sweepForceDetach
	sweepSkip
)

// sweepDecision is the rule of the sweep for one ENI, given the state of
// the instance it is attached to ("" when EC2 no longer lists it), how
// long this sweep has seen it attached or detaching, and which detaches it
// already asked for.
func sweepDecision(e ENI, instState string, heldFor, stuckAfter time.Duration, detached, forced bool) (sweepAction, string) {
	attached := e.AttachmentID != ""
	stuck := heldFor >= stuckAfter && !forced
	switch {
	case attached && e.DeviceIndex == 0:
		return sweepSkip, "primary ENI (device 0) of " + e.InstanceID + ": it goes with the instance"
	case e.Status == "available":
		return sweepDelete, ""
	case !attached:
		return sweepWait, "status " + e.Status
	case e.Status == "detaching" || detached && instState == "stopped":
		if stuck {
			return sweepForceDetach, fmt.Sprintf("still detaching after %v (a failed host holds plain detaches)", stuckAfter)
		}
		return sweepWait, fmt.Sprintf("detaching from %s; forced if it still is after %v", e.InstanceID, stuckAfter)
	}
	switch instState {
	case "stopped":
		return sweepDetach, "attached to stopped instance " + e.InstanceID
	case "terminated", "":
		if stuck {
			return sweepForceDetach, fmt.Sprintf("still attached to terminated instance %s after %v", e.InstanceID, stuckAfter)
		}
		return sweepWait, fmt.Sprintf("attached to terminated instance %s; force-detached if it still is after %v", e.InstanceID, stuckAfter)
	case "stopping", "shutting-down":
		return sweepWait, fmt.Sprintf("instance %s is %s", e.InstanceID, instState)
	}
	return sweepSkip, fmt.Sprintf("attached to instance %s, which is %s: delete its node group (or the instance) first", e.InstanceID, instState)
}

// Sweep deletes the ENIs tagged for o.Cluster that would keep their subnets
// from being deleted: available ones at once; those on stopped instances
// after a detach; those stuck on terminated or failed instances after a
// forced detach once they held on for StuckAfter. It never touches an ENI
// without the cluster tag, a primary ENI, or an ENI of a running instance.
// Throttling, server errors and broken connections are retried until the
// Timeout. The report lists what was done even when an error is returned.
func Sweep(ctx context.Context, api SweepAPI, o SweepOptions) (SweepReport, error) {
	if o.Cluster == "" {
		return SweepReport{}, errors.New("sweep: cluster: required (the " + TagCluster + " tag value of the ENIs to sweep)")
	}
	for name, d := range map[string]*time.Duration{"stuck-after": &o.StuckAfter, "timeout": &o.Timeout, "poll": &o.Poll} {
		if *d < 0 {
			return SweepReport{}, fmt.Errorf("sweep: %s %v: must not be negative (0 means the default)", name, *d)
		}
	}
	o.StuckAfter = cmpOr(o.StuckAfter, DefaultSweepStuckAfter)
	o.Timeout = cmpOr(o.Timeout, DefaultSweepTimeout)
	o.Poll = cmpOr(o.Poll, DefaultSweepPoll)
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	s := &sweeper{api: api, o: o, rep: SweepReport{Cluster: o.Cluster, DryRun: o.DryRun},
		seen: map[string]time.Time{}, done: map[string]bool{}, detached: map[string]bool{}, forced: map[string]bool{}}
	var left []SweptENI
	for {
		now, err := s.pass(ctx)
		if err == nil {
			left, s.looked = now, true
		}
		if o.DryRun {
			// What a sweep would wait for (and maybe force) before deleting.
			s.rep.Left = left
		}
		switch {
		case err != nil && ctx.Err() != nil:
			// The timeout ended a call in flight: report it as the timeout,
			// naming what the last full look left.
			return s.rep, s.timedOut(ctx, left, err)
		case err != nil || len(left) == 0 || o.DryRun:
			return s.rep, err
		}
		t := time.NewTimer(o.Poll)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return s.rep, s.timedOut(ctx, left, nil)
		}
	}
}

// timedOut records left in the report and returns the timeout error naming
// them; last is the error of a call the timeout cut short, if any.
func (s *sweeper) timedOut(ctx context.Context, left []SweptENI, last error) error {
	if !s.looked {
		return fmt.Errorf("sweep of cluster %s: no complete look at its ENIs within %v: %w", s.o.Cluster, s.o.Timeout, last)
	}
	s.rep.Left = left
	ids := make([]string, len(left))
	for i, e := range left {
		ids[i] = e.ID
	}
	err := fmt.Errorf("sweep of cluster %s: %d ENIs still in their subnets when it stopped (timeout %v): %s: %w",
		s.o.Cluster, len(left), s.o.Timeout, strings.Join(ids, ", "), context.Cause(ctx))
	if last != nil {
		err = fmt.Errorf("%w (cut short: %w)", err, last)
	}
	return err
}

func cmpOr(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

type sweeper struct {
	api  SweepAPI
	o    SweepOptions
	rep  SweepReport
	seen map[string]time.Time // first seen attached or detaching
	// done: reported as deleted or skipped; detached/forced: asked for.
	done, detached, forced map[string]bool
	looked                 bool // one pass completed
}

// pass looks at EC2 once, acts on every ENI, and returns those it waits for.
func (s *sweeper) pass(ctx context.Context) ([]SweptENI, error) {
	enis, err := describeENIs(ctx, []types.Filter{clusterFilter(s.o.Cluster)},
		func(ctx context.Context, in *ec2.DescribeNetworkInterfacesInput) (*ec2.DescribeNetworkInterfacesOutput, error) {
			var out *ec2.DescribeNetworkInterfacesOutput
			err := s.retry(ctx, "DescribeNetworkInterfaces", func(ctx context.Context) (err error) {
				out, err = s.api.DescribeNetworkInterfaces(ctx, in)
				return err
			})
			return out, err
		})
	if err != nil {
		return nil, fmt.Errorf("sweep of cluster %s: describing its ENIs: %w", s.o.Cluster, err)
	}
	states, err := s.instanceStates(ctx, enis)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	var left []SweptENI
	for _, e := range enis {
		if e.Tags[TagCluster] != s.o.Cluster {
			continue // EC2 filtered by tag; a wrong answer must not cost a foreign ENI
		}
		item := SweptENI{ID: e.ID, SubnetID: e.SubnetID, InstanceID: e.InstanceID}
		if e.AttachmentID != "" {
			if _, ok := s.seen[e.ID]; !ok {
				s.seen[e.ID] = now
			}
		}
		act, why := sweepDecision(e, states[e.InstanceID], now.Sub(s.seen[e.ID]), s.o.StuckAfter, s.detached[e.ID], s.forced[e.ID])
		item.Reason = why
		switch act {
		case sweepSkip:
			if !s.done[e.ID] {
				s.done[e.ID] = true
				s.rep.Skipped = append(s.rep.Skipped, item)
			}
			continue
		case sweepDelete:
			if err := s.delete(ctx, e, item); err != nil {
				return nil, err
			}
		case sweepDetach, sweepForceDetach:
			if err := s.detach(ctx, e, item, act == sweepForceDetach); err != nil {
				return nil, err
			}
		}
		if !s.done[e.ID] && (act == sweepWait || !s.o.DryRun) {
			left = append(left, item)
		}
	}
	return left, nil
}

func (s *sweeper) delete(ctx context.Context, e ENI, item SweptENI) error {
	if s.o.DryRun {
		s.done[e.ID] = true
		s.rep.Deleted = append(s.rep.Deleted, item)
		return nil
	}
	err := s.retry(ctx, "DeleteNetworkInterface", func(ctx context.Context) error {
		_, err := s.api.DeleteNetworkInterface(ctx, &ec2.DeleteNetworkInterfaceInput{NetworkInterfaceId: aws.String(e.ID)})
		return err
	})
	switch {
	case err == nil, IsNotFound(err):
		// NotFound: deleted by us a moment ago (Describe lags) or by EC2.
		if !s.done[e.ID] && err == nil {
			s.done[e.ID] = true
			s.rep.Deleted = append(s.rep.Deleted, item)
			s.o.Log.Info("deleted ENI", "eni", e.ID, "subnet", e.SubnetID)
		}
		return nil
	case Code(err) == "InvalidParameterValue":
		// In use after all (Describe lagged an attach): look again next pass.
		s.o.Log.Info("ENI in use, looking again", "eni", e.ID, "err", err)
		return nil
	}
	return fmt.Errorf("sweep of cluster %s: deleting ENI %s in subnet %s: %w", s.o.Cluster, e.ID, e.SubnetID, err)
}

func (s *sweeper) detach(ctx context.Context, e ENI, item SweptENI, force bool) error {
	item.Forced = force
	s.detached[e.ID] = true
	if force {
		s.forced[e.ID] = true
	}
	if !s.o.DryRun {
		err := s.retry(ctx, "DetachNetworkInterface", func(ctx context.Context) error {
			_, err := s.api.DetachNetworkInterface(ctx, &ec2.DetachNetworkInterfaceInput{AttachmentId: aws.String(e.AttachmentID), Force: aws.Bool(force)})
			return err
		})
		if err != nil && !IsNotFound(err) {
			return fmt.Errorf("sweep of cluster %s: detaching ENI %s from %s (force %v): %w", s.o.Cluster, e.ID, e.InstanceID, force, err)
		}
		s.o.Log.Info("detached ENI", "eni", e.ID, "instance", e.InstanceID, "force", force, "why", item.Reason)
	}
	if i := slices.IndexFunc(s.rep.Detached, func(d SweptENI) bool { return d.ID == e.ID }); i >= 0 {
		s.rep.Detached[i] = item // a plain detach that had to be forced after all
	} else {
		s.rep.Detached = append(s.rep.Detached, item)
	}
	return nil
}

// instanceStates returns the state of every instance an ENI is attached to;
// an instance EC2 no longer lists is absent (its ENIs count as terminated).
func (s *sweeper) instanceStates(ctx context.Context, enis []ENI) (map[string]string, error) {
	var ids []string
	for _, e := range enis {
		if e.InstanceID != "" && !slices.Contains(ids, e.InstanceID) {
			ids = append(ids, e.InstanceID)
		}
	}
	states := map[string]string{}
	for len(ids) > 0 {
		n := min(len(ids), 100)
		// A filter, not InstanceIds: one instance gone must not fail the call.
		in := &ec2.DescribeInstancesInput{Filters: []types.Filter{{Name: aws.String("instance-id"), Values: ids[:n]}}}
		for {
			var out *ec2.DescribeInstancesOutput
			err := s.retry(ctx, "DescribeInstances", func(ctx context.Context) (err error) {
				out, err = s.api.DescribeInstances(ctx, in)
				return err
			})
			if err != nil {
				return nil, fmt.Errorf("sweep of cluster %s: describing instances %s: %w", s.o.Cluster, strings.Join(ids[:n], ", "), err)
			}
			for _, r := range out.Reservations {
				for _, inst := range r.Instances {
					if inst.State != nil {
						states[aws.ToString(inst.InstanceId)] = string(inst.State.Name)
					}
				}
			}
			if aws.ToString(out.NextToken) == "" {
				break
			}
			in.NextToken = out.NextToken
		}
		ids = ids[n:]
	}
	return states, nil
}

// retry runs call until it succeeds, fails for good, or ctx ends; it
// retries what the SDK's standard retryer retries (throttling, 5xx, broken
// connections), with jittered exponential backoff, whatever retryer the
// client was built with.
func (s *sweeper) retry(ctx context.Context, action string, call func(context.Context) error) error {
	backoff := 100 * time.Millisecond
	for attempt := 1; ; attempt++ {
		err := call(ctx)
		if err == nil || !IsTransient(err) || ctx.Err() != nil {
			return err
		}
		s.o.Log.Debug("retrying", "action", action, "attempt", attempt, "err", err)
		t := time.NewTimer(rand.N(backoff) + backoff/2)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%s: gave up after %d attempts: %w (last: %w)", action, attempt, context.Cause(ctx), err)
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

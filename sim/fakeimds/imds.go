// Package fakeimds is the simulated VPC's instance metadata service: IMDSv2
// only (a PUT for a session token, the token required on every GET, IMDSv1
// answered 401), telling instances apart by the source address of the request
// as the real one tells them apart by the interface the request came in on.
// What it serves comes from a Store of published snapshots, so tests can make
// metadata lag behind EC2 the way it does on AWS.
package fakeimds

import (
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/eksnet/eksnet/sim/faults"
	"github.com/eksnet/eksnet/sim/lag"
)

// Interface is one attached ENI as IMDS shows it under network/interfaces/macs/MAC/.
type Interface struct {
	MAC              string
	DeviceNumber     int
	NetworkCard      int
	InterfaceID      string
	SubnetID         string
	VPCID            string
	SecurityGroupIDs []string
	// LocalIPv4s lists the primary address first, then the secondary ones.
	LocalIPv4s   []netip.Addr
	IPv4Prefixes []netip.Prefix
	SubnetCIDR   netip.Prefix
	VPCCIDRs     []netip.Prefix
}

// Instance is what one instance's IMDS serves.
type Instance struct {
	ID         string
	Type       string
	AZ         string
	Region     string
	MAC        string
	LocalIPv4  netip.Addr
	Interfaces []Interface
}

// Store holds published metadata and serves it after a propagation delay.
type Store struct {
	history *lag.History[map[netip.Addr]Instance]
	now     func() time.Time
}

// NewStore returns an empty store.
func NewStore() *Store {
	s := &Store{now: time.Now}
	s.history = lag.New[map[netip.Addr]Instance](0, func() time.Time { return s.now() })
	return s
}

// SetDelay sets how long a published snapshot takes to become visible.
func (s *Store) SetDelay(d time.Duration) { s.history.SetDelay(d) }

// Publish records the metadata of all instances, keyed by each instance's
// primary private address; requests from its other addresses (pods) are
// matched through its interfaces.
func (s *Store) Publish(bySrc map[netip.Addr]Instance) { s.history.Publish(bySrc) }

// Lookup returns what the instance at src sees now.
func (s *Store) Lookup(src netip.Addr) (Instance, bool) {
	bySrc, ok := s.history.Visible()
	if !ok {
		return Instance{}, false
	}
	if inst, ok := bySrc[src]; ok {
		return inst, true
	}
	// Requests from a pod leave through one of the instance's ENIs with a
	// secondary address or one from a prefix: they are the same instance.
	for _, inst := range bySrc {
		for _, ifc := range inst.Interfaces {
			if slices.Contains(ifc.LocalIPv4s, src) || slices.ContainsFunc(ifc.IPv4Prefixes, func(p netip.Prefix) bool { return p.Contains(src) }) {
				return inst, true
			}
		}
	}
	return Instance{}, false
}

// Server is the IMDS HTTP handler.
type Server struct {
	store  *Store
	faults *faults.Faults
	calls  *faults.Recorder
	log    *slog.Logger
	mu     sync.Mutex
	tokens map[string]token
}

type token struct {
	src     netip.Addr
	expires time.Time
}

// NewServer serves store's metadata, consulting f for outages and latency and
// recording every request in calls.
func NewServer(store *Store, f *faults.Faults, calls *faults.Recorder, log *slog.Logger) *Server {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Server{store: store, faults: f, calls: calls, log: log, tokens: map[string]token{}}
}

const (
	hdrTTL   = "X-Aws-Ec2-Metadata-Token-Ttl-Seconds"
	hdrToken = "X-Aws-Ec2-Metadata-Token"
)

// ServeHTTP answers one IMDS request: token PUT, or a GET that must carry a
// valid token issued to the same source address.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	action, code := r.Method+" "+redactMAC(r.URL.Path), ""
	defer func() {
		s.calls.Record(faults.Call{Time: start, Service: "imds", Action: action, Code: code, Source: r.RemoteAddr, Duration: time.Since(start)})
	}()
	fail := func(status int) {
		code = strconv.Itoa(status)
		http.Error(w, http.StatusText(status), status)
	}
	latency, outage := s.faults.IMDS()
	if latency > 0 {
		select {
		case <-time.After(latency):
		case <-r.Context().Done():
			return
		}
	}
	if outage {
		fail(http.StatusServiceUnavailable)
		return
	}
	src, err := sourceAddr(r.RemoteAddr)
	if err != nil {
		fail(http.StatusForbidden)
		return
	}
	if r.Header.Get("X-Forwarded-For") != "" {
		// IMDSv2 refuses requests that went through a proxy.
		fail(http.StatusForbidden)
		return
	}
	if r.URL.Path == "/latest/api/token" {
		if r.Method != http.MethodPut {
			fail(http.StatusMethodNotAllowed)
			return
		}
		ttl, err := strconv.Atoi(r.Header.Get(hdrTTL))
		if err != nil || ttl < 1 || ttl > 21600 {
			fail(http.StatusBadRequest)
			return
		}
		tok := newToken()
		s.mu.Lock()
		now := time.Now()
		for k, t := range s.tokens {
			if now.After(t.expires) {
				delete(s.tokens, k)
			}
		}
		s.tokens[tok] = token{src: src, expires: now.Add(time.Duration(ttl) * time.Second)}
		s.mu.Unlock()
		w.Header().Set(hdrTTL, strconv.Itoa(ttl))
		_, _ = w.Write([]byte(tok))
		return
	}
	if r.Method != http.MethodGet {
		fail(http.StatusMethodNotAllowed)
		return
	}
	s.mu.Lock()
	t, ok := s.tokens[r.Header.Get(hdrToken)]
	s.mu.Unlock()
	if !ok || time.Now().After(t.expires) || t.src != src {
		// IMDSv1 (no token) and stale tokens both get 401, as with
		// HttpTokens=required.
		fail(http.StatusUnauthorized)
		return
	}
	inst, ok := s.store.Lookup(src)
	if !ok {
		fail(http.StatusNotFound)
		return
	}
	rel, ok := strings.CutPrefix(r.URL.Path, "/latest/meta-data")
	if !ok {
		fail(http.StatusNotFound)
		return
	}
	body, ok := Render(inst, strings.TrimPrefix(rel, "/"))
	if !ok {
		fail(http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "text/plain")
	_, _ = w.Write([]byte(body))
}

func sourceAddr(remote string) (netip.Addr, error) {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		return netip.Addr{}, err
	}
	a, err := netip.ParseAddr(host)
	return a.Unmap(), err
}

func newToken() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return "AQAEA" + hex.EncodeToString(b)
}

// redactMAC keeps the call log's action names few: per-MAC paths count together.
func redactMAC(path string) string {
	const p = "/network/interfaces/macs/"
	i := strings.Index(path, p)
	if i < 0 {
		return path
	}
	rest := path[i+len(p):]
	if j := strings.Index(rest, "/"); j >= 0 {
		return path[:i+len(p)] + "MAC" + rest[j:]
	}
	if rest == "" {
		return path
	}
	return path[:i+len(p)] + "MAC"
}

// Render answers one meta-data path (relative to /latest/meta-data/) for the
// instance; ok is false when the path does not exist, which IMDS answers 404.
// Directories list their entries one a line, subdirectories with a trailing /.
func Render(inst Instance, path string) (string, bool) {
	switch path {
	case "":
		return lines("instance-id", "instance-type", "local-ipv4", "mac", "network/", "placement/"), true
	case "instance-id":
		return inst.ID, true
	case "instance-type":
		return inst.Type, true
	case "mac":
		return inst.MAC, true
	case "local-ipv4":
		return inst.LocalIPv4.String(), true
	case "placement", "placement/":
		return lines("availability-zone", "region"), true
	case "placement/availability-zone":
		return inst.AZ, true
	case "placement/region":
		return inst.Region, true
	case "network", "network/":
		return "interfaces/", true
	case "network/interfaces", "network/interfaces/":
		return "macs/", true
	case "network/interfaces/macs", "network/interfaces/macs/":
		var macs []string
		for _, i := range inst.Interfaces {
			macs = append(macs, i.MAC+"/")
		}
		return lines(macs...), true
	}
	rest, ok := strings.CutPrefix(path, "network/interfaces/macs/")
	if !ok {
		return "", false
	}
	mac, key, _ := strings.Cut(rest, "/")
	for _, i := range inst.Interfaces {
		if i.MAC == mac {
			return renderInterface(i, key)
		}
	}
	return "", false
}

func renderInterface(i Interface, key string) (string, bool) {
	switch key {
	case "":
		keys := []string{"device-number", "interface-id", "local-ipv4s", "mac", "network-card", "security-group-ids",
			"subnet-id", "subnet-ipv4-cidr-block", "vpc-id", "vpc-ipv4-cidr-block", "vpc-ipv4-cidr-blocks"}
		if len(i.IPv4Prefixes) > 0 {
			keys = append(keys, "ipv4-prefix")
		}
		sort.Strings(keys)
		return lines(keys...), true
	case "device-number":
		return strconv.Itoa(i.DeviceNumber), true
	case "network-card":
		return strconv.Itoa(i.NetworkCard), true
	case "interface-id":
		return i.InterfaceID, true
	case "mac":
		return i.MAC, true
	case "subnet-id":
		return i.SubnetID, true
	case "vpc-id":
		return i.VPCID, true
	case "security-group-ids":
		return lines(i.SecurityGroupIDs...), true
	case "local-ipv4s":
		var v []string
		for _, a := range i.LocalIPv4s {
			v = append(v, a.String())
		}
		return lines(v...), true
	case "ipv4-prefix":
		if len(i.IPv4Prefixes) == 0 {
			return "", false
		}
		var v []string
		for _, p := range i.IPv4Prefixes {
			v = append(v, p.String())
		}
		return lines(v...), true
	case "subnet-ipv4-cidr-block":
		return i.SubnetCIDR.String(), true
	case "vpc-ipv4-cidr-block":
		if len(i.VPCCIDRs) == 0 {
			return "", false
		}
		return i.VPCCIDRs[0].String(), true
	case "vpc-ipv4-cidr-blocks":
		var v []string
		for _, p := range i.VPCCIDRs {
			v = append(v, p.String())
		}
		return lines(v...), true
	}
	return "", false
}

func lines(v ...string) string { return strings.Join(v, "\n") }

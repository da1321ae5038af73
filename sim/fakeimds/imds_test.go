package fakeimds

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/eksnet/eksnet/sim/faults"
)

func testInstance() Instance {
	return Instance{ID: "i-1", Type: "t3.medium", AZ: "us-east-1a", Region: "us-east-1", MAC: "0e:00:00:00:00:01",
		LocalIPv4: netip.MustParseAddr("10.0.0.4"),
		Interfaces: []Interface{
			{MAC: "0e:00:00:00:00:01", DeviceNumber: 0, InterfaceID: "eni-1", LocalIPv4s: []netip.Addr{netip.MustParseAddr("10.0.0.4")},
				SubnetCIDR: netip.MustParsePrefix("10.0.0.0/24"), VPCCIDRs: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/16")}},
			{MAC: "0e:00:00:00:00:02", DeviceNumber: 1, InterfaceID: "eni-2",
				LocalIPv4s:   []netip.Addr{netip.MustParseAddr("10.0.0.5"), netip.MustParseAddr("10.0.0.6")},
				IPv4Prefixes: []netip.Prefix{netip.MustParsePrefix("10.0.0.16/28")}, SecurityGroupIDs: []string{"sg-1", "sg-2"}},
		}}
}

func TestRender(t *testing.T) {
	inst := testInstance()
	for _, tc := range []struct {
		path, want string
		ok         bool
	}{
		{"instance-id", "i-1", true},
		{"placement/availability-zone", "us-east-1a", true},
		{"network/interfaces/macs/", "0e:00:00:00:00:01/\n0e:00:00:00:00:02/", true},
		{"network/interfaces/macs/0e:00:00:00:00:02/local-ipv4s", "10.0.0.5\n10.0.0.6", true},
		{"network/interfaces/macs/0e:00:00:00:00:02/ipv4-prefix", "10.0.0.16/28", true},
		{"network/interfaces/macs/0e:00:00:00:00:01/ipv4-prefix", "", false},
		{"network/interfaces/macs/0e:00:00:00:00:02/security-group-ids", "sg-1\nsg-2", true},
		{"network/interfaces/macs/0e:00:00:00:00:02/device-number", "1", true},
		{"network/interfaces/macs/0e:00:00:00:00:01/vpc-ipv4-cidr-blocks", "10.0.0.0/16", true},
		{"network/interfaces/macs/0e:00:00:00:00:09/device-number", "", false},
		{"nope", "", false},
	} {
		got, ok := Render(inst, tc.path)
		if ok != tc.ok || got != tc.want {
			t.Errorf("Render(%q) = %q, %v; want %q, %v", tc.path, got, ok, tc.want, tc.ok)
		}
	}
}

func TestStoreDelay(t *testing.T) {
	s := NewStore()
	clock := time.Unix(1000, 0)
	s.now = func() time.Time { return clock }
	src := netip.MustParseAddr("10.0.0.4")
	old, neu := testInstance(), testInstance()
	neu.Type = "new"
	s.Publish(map[netip.Addr]Instance{src: old})
	s.SetDelay(time.Second)
	clock = clock.Add(10 * time.Millisecond)
	s.Publish(map[netip.Addr]Instance{src: neu})
	if got, _ := s.Lookup(src); got.Type != old.Type {
		t.Fatalf("inside the delay saw %q", got.Type)
	}
	clock = clock.Add(time.Second)
	if got, _ := s.Lookup(src); got.Type != "new" {
		t.Fatalf("after the delay saw %q", got.Type)
	}
	for _, pod := range []string{"10.0.0.6", "10.0.0.17"} {
		if got, ok := s.Lookup(netip.MustParseAddr(pod)); !ok || got.ID != "i-1" {
			t.Fatalf("request from pod address %s: %v %v", pod, got.ID, ok)
		}
	}
	if _, ok := s.Lookup(netip.MustParseAddr("10.9.9.9")); ok {
		t.Fatal("unknown source found")
	}
}

func TestTokenRules(t *testing.T) {
	s := NewStore()
	s.Publish(map[netip.Addr]Instance{netip.MustParseAddr("127.0.0.1"): testInstance()})
	srv := httptest.NewServer(NewServer(s, faults.New(1), faults.NewRecorder(0), nil))
	defer srv.Close()
	do := func(method, path string, hdr map[string]string) (int, string) {
		req, _ := http.NewRequest(method, srv.URL+path, nil)
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, _ := do("GET", "/latest/meta-data/instance-id", nil); code != 401 {
		t.Fatalf("IMDSv1 = %d", code)
	}
	if code, _ := do("PUT", "/latest/api/token", nil); code != 400 {
		t.Fatalf("token without TTL = %d", code)
	}
	if code, _ := do("PUT", "/latest/api/token", map[string]string{hdrTTL: "21601"}); code != 400 {
		t.Fatalf("token with too long TTL = %d", code)
	}
	if code, _ := do("PUT", "/latest/api/token", map[string]string{hdrTTL: "60", "X-Forwarded-For": "1.2.3.4"}); code != 403 {
		t.Fatalf("proxied token request = %d", code)
	}
	code, tok := do("PUT", "/latest/api/token", map[string]string{hdrTTL: "60"})
	if code != 200 || tok == "" {
		t.Fatalf("token = %d %q", code, tok)
	}
	if code, body := do("GET", "/latest/meta-data/instance-id", map[string]string{hdrToken: tok}); code != 200 || body != "i-1" {
		t.Fatalf("GET with token = %d %q", code, body)
	}
	if code, body := do("GET", "/latest/meta-data/", map[string]string{hdrToken: tok}); code != 200 || !strings.Contains(body, "network/") {
		t.Fatalf("listing = %d %q", code, body)
	}
}

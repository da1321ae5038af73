package metrics

import (
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/eksnet/eksnet/cni-agent/ipam"
)

func TestPoolAndCalls(t *testing.T) {
	m := New()
	m.Pool(ipam.Snapshot{Capacity: 15, ENIs: []ipam.ENIState{{ID: "eni-a", Total: 5, Assigned: 2, Cooldown: 1}}})
	m.Pool(ipam.Snapshot{Capacity: 15, ENIs: []ipam.ENIState{{ID: "eni-b", Total: 5, Assigned: 3}}})
	m.ObserveEC2("AssignPrivateIpAddresses", "", time.Millisecond)
	m.ObserveEC2("AssignPrivateIpAddresses", "RequestLimitExceeded", time.Millisecond)
	m.Backoff("throttled", 2*time.Second)
	rec := httptest.NewRecorder()
	promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{}).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body := rec.Body.String()
	for _, want := range []string{
		`eksnet_agent_pool_addresses{eni="eni-b",state="assigned"} 3`,
		`eksnet_agent_pool_addresses{eni="eni-b",state="total"} 5`,
		`eksnet_agent_ec2_calls_total{action="AssignPrivateIpAddresses",code=""} 1`,
		`eksnet_agent_ec2_calls_total{action="AssignPrivateIpAddresses",code="RequestLimitExceeded"} 1`,
		`eksnet_agent_warm_pool_backoffs_total{reason="throttled"} 1`,
		`eksnet_agent_warm_pool_backoff_seconds 2`,
		`eksnet_agent_capacity 15`,
	} {
		if !strings.Contains(body, want+"\n") {
			t.Errorf("metrics lack %q", want)
		}
	}
	if strings.Contains(body, `eni="eni-a"`) {
		t.Error("a vanished ENI is still reported")
	}
}

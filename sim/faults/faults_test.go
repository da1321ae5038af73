package faults

import (
	"testing"
	"time"
)

func TestSettingsValidate(t *testing.T) {
	now := time.Now()
	for _, tc := range []struct {
		s  Settings
		ok bool
	}{
		{Settings{}, true},
		{Settings{ThrottleRatio: 1, ServerErrorRatio: 0.5, Latency: time.Second}, true},
		{Settings{ThrottleRatio: 1.5}, false},
		{Settings{ServerErrorRatio: -0.1}, false},
		{Settings{Latency: -time.Second}, false},
		{Settings{IMDSOutageFrom: now, IMDSOutageUntil: now.Add(-time.Second)}, false},
	} {
		if err := tc.s.Validate(); (err == nil) != tc.ok {
			t.Errorf("Validate(%+v) = %v, want ok=%v", tc.s, err, tc.ok)
		}
	}
}

func TestDecisions(t *testing.T) {
	f := New(7)
	if d := f.EC2("DescribeSubnets"); d.Code != "" {
		t.Fatalf("no faults set, got %+v", d)
	}
	_ = f.Set(Settings{ThrottleRatio: 1, ThrottleActions: []string{"AssignPrivateIpAddresses"}})
	if d := f.EC2("DescribeSubnets"); d.Code != "" {
		t.Fatalf("throttle limited to another action hit DescribeSubnets: %+v", d)
	}
	if d := f.EC2("AssignPrivateIpAddresses"); d.Code != "RequestLimitExceeded" || d.Status != 503 {
		t.Fatalf("throttled action: %+v", d)
	}
	// A ratio of one half throttles about half of many calls.
	_ = f.Set(Settings{ThrottleRatio: 0.5})
	n := 0
	for i := 0; i < 2000; i++ {
		if f.EC2("X").Code != "" {
			n++
		}
	}
	if n < 850 || n > 1150 {
		t.Fatalf("ratio 0.5 throttled %d of 2000", n)
	}
	_ = f.Set(Settings{ServerErrorRatio: 1})
	if d := f.EC2("X"); d.Code != "InternalError" || d.Status != 500 {
		t.Fatalf("server error: %+v", d)
	}
	clock := time.Unix(1000, 0)
	f.now = func() time.Time { return clock }
	_ = f.SetIMDSOutage(10 * time.Second)
	if _, out := f.IMDS(); !out {
		t.Fatal("no outage inside the window")
	}
	clock = clock.Add(11 * time.Second)
	if _, out := f.IMDS(); out {
		t.Fatal("outage after the window")
	}
	if err := f.SetThrottleRatio(2); err == nil {
		t.Fatal("ratio 2 accepted")
	}
}

func TestRecorder(t *testing.T) {
	r := NewRecorder(3)
	for i, c := range []Call{
		{Action: "A"}, {Action: "A", Code: "X"}, {Action: "B"}, {Action: "A", Code: "X"}, {Action: "C"},
	} {
		c.Duration = time.Duration(i)
		r.Record(c)
	}
	s := r.Stats()
	if s.ByAction["A"] != 3 || s.ByCode["X"] != 2 || s.Count("A", "X") != 2 || s.Count("A", "") != 1 {
		t.Fatalf("counters = %+v", s)
	}
	if len(s.Log) != 3 || s.Log[0].Duration != 2 || s.Log[2].Duration != 4 {
		t.Fatalf("log keeps the last 3 oldest first, got %+v", s.Log)
	}
	s.ByActionCode["A"]["X"] = 99
	if r.Stats().Count("A", "X") != 2 {
		t.Fatal("Stats shares maps with the recorder")
	}
}

package maxpods

import (
	"errors"
	"strings"
	"testing"
)

// TestEmbeddedTableRows: the embedded TSV has every row of the fact table
// and Parse keeps them all. (Whether the formula gives AWS's values is
// checked against sources other than the table: published_test.go.)
func TestEmbeddedTableRows(t *testing.T) {
	lines := strings.Split(strings.TrimSpace(string(instanceTypesTSV)), "\n")[1:]
	if len(lines) < 1391 {
		t.Fatalf("embedded table has %d rows, want >= 1391", len(lines))
	}
	if got := Default().Len(); got != len(lines) {
		t.Fatalf("Default().Len() = %d, want %d rows", got, len(lines))
	}
}

func TestLookup(t *testing.T) {
	it, err := Lookup("M5.Large")
	if err != nil {
		t.Fatal(err)
	}
	want := InstanceType{Name: "m5.large", VCPUs: 2, MaxENIs: 3, IPv4PerENI: 10, Hypervisor: "nitro", NetworkCards: 1, ENIMaxPods: 29}
	if it != want {
		t.Errorf("Lookup(M5.Large) = %+v, want %+v", it, want)
	}
	if !it.SupportsPrefixDelegation() {
		t.Error("m5.large: SupportsPrefixDelegation = false, want true (nitro)")
	}
	for name, want := range map[string]bool{"m4.large": false, "c5.metal": true, "cr1.8xlarge": false, "t3.nano": true} {
		it, err := Lookup(name)
		if err != nil {
			t.Fatal(err)
		}
		if got := it.SupportsPrefixDelegation(); got != want {
			t.Errorf("%s (hypervisor %s, metal %v): SupportsPrefixDelegation = %v, want %v", name, it.Hypervisor, it.BareMetal, got, want)
		}
	}
}

func TestLookupUnknownSuggestsClosest(t *testing.T) {
	tests := []struct {
		in   string
		want string // must be the first suggestion
	}{
		{"t3.mediun", "t3.medium"},
		{"m5.larg", "m5.large"},
		{"c7g.xlarg", "c7g.xlarge"},
		{"m5large", "m5.large"},
	}
	for _, tt := range tests {
		_, err := Lookup(tt.in)
		var ue *UnknownInstanceTypeError
		if !errors.As(err, &ue) {
			t.Fatalf("Lookup(%q) error = %v, want *UnknownInstanceTypeError", tt.in, err)
		}
		if ue.Name != tt.in || len(ue.Suggestions) == 0 || ue.Suggestions[0] != tt.want {
			t.Errorf("Lookup(%q): name %q suggestions %v, want first %q", tt.in, ue.Name, ue.Suggestions, tt.want)
		}
		if msg := err.Error(); !strings.Contains(msg, tt.in) || !strings.Contains(msg, tt.want) || !strings.Contains(msg, "accepted values") {
			t.Errorf("Lookup(%q) message %q: want the input, the suggestion and the accepted values", tt.in, msg)
		}
	}
	_, err := Lookup("zzzzzzzzzzzzzz")
	var ue *UnknownInstanceTypeError
	if !errors.As(err, &ue) || len(ue.Suggestions) != 0 {
		t.Errorf("Lookup(nonsense) = %v, want an unknown-type error without far-fetched suggestions", err)
	}
}

func TestParseRejectsBadTables(t *testing.T) {
	header := strings.Join(tsvColumns, "\t") + "\n"
	tests := []struct {
		name, in, wantErr string
	}{
		{"empty", "", "empty input"},
		{"bad header", "type\tvcpus\n", "header"},
		{"short row", header + "m5.large\t2\t3\n", "got 3 fields"},
		{"non-integer", header + "m5.large\ttwo\t3\t10\tnitro\tfalse\t1\t29\n", "column vcpus"},
		{"bad bool", header + "m5.large\t2\t3\t10\tnitro\tyes\t1\t29\n", "bare_metal"},
		{"bad hypervisor", header + "m5.large\t2\t3\t10\tkvm\tfalse\t1\t29\n", "hypervisor \"kvm\""},
		{"zero enis", header + "m5.large\t2\t0\t10\tnitro\tfalse\t1\t2\n", "max ENIs 0"},
		{"inconsistent", header + "m5.large\t2\t3\t10\tnitro\tfalse\t1\t30\n", "disagrees"},
		{"duplicate", header + "m5.large\t2\t3\t10\tnitro\tfalse\t1\t29\nm5.large\t2\t3\t10\tnitro\tfalse\t1\t29\n", "twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(strings.NewReader(tt.in))
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Parse error = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
	tbl, err := Parse(strings.NewReader(header + "m5.large\t\t3\t10\tnitro\tfalse\t1\t29\r\n\n"))
	if err != nil || tbl.Len() != 1 {
		t.Fatalf("Parse(valid, blank vcpus, CRLF) = %v, %v; want 1 type", tbl, err)
	}
}

func TestWithAddsUnknownTypes(t *testing.T) {
	base := Default()
	tbl, err := base.With(InstanceType{Name: "M9.Large", VCPUs: 2, MaxENIs: 3, IPv4PerENI: 10, Hypervisor: "nitro"})
	if err != nil {
		t.Fatal(err)
	}
	if tbl.Len() != base.Len()+1 {
		t.Errorf("With: Len = %d, want %d", tbl.Len(), base.Len()+1)
	}
	if _, err := base.Lookup("m9.large"); err == nil {
		t.Error("With modified the receiver: base table knows m9.large")
	}
	r, err := tbl.Calculate("m9.large", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if r.MaxPods != 29 {
		t.Errorf("m9.large maxPods = %d, want 29 (3 x 9 + 2)", r.MaxPods)
	}
	it, _ := tbl.Lookup("m9.large")
	if it.NetworkCards != 1 || it.ENIMaxPods != 29 {
		t.Errorf("With defaults: %+v, want 1 network card and ENIMaxPods 29", it)
	}

	bad := []struct {
		name    string
		it      InstanceType
		wantErr string
	}{
		{"already known", InstanceType{Name: "m5.large", MaxENIs: 3, IPv4PerENI: 10}, "already known"},
		{"no name", InstanceType{MaxENIs: 3, IPv4PerENI: 10}, "name"},
		{"no enis", InstanceType{Name: "x9.large", IPv4PerENI: 10}, "max ENIs 0"},
		{"one ip", InstanceType{Name: "x9.large", MaxENIs: 2, IPv4PerENI: 1}, "want 2 or more"},
		{"negative vcpus", InstanceType{Name: "x9.large", VCPUs: -1, MaxENIs: 2, IPv4PerENI: 4}, "vCPUs -1"},
		{"bad hypervisor", InstanceType{Name: "x9.large", MaxENIs: 2, IPv4PerENI: 4, Hypervisor: "kvm"}, "nitro, xen or unknown"},
		{"wrong published", InstanceType{Name: "x9.large", MaxENIs: 2, IPv4PerENI: 4, ENIMaxPods: 99}, "disagrees"},
	}
	for _, tt := range bad {
		if _, err := base.With(tt.it); err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("%s: With error = %v, want one containing %q", tt.name, err, tt.wantErr)
		}
	}
	if _, err := base.With(InstanceType{Name: "x9.a", MaxENIs: 2, IPv4PerENI: 4}, InstanceType{Name: "x9.a", MaxENIs: 2, IPv4PerENI: 4}); err == nil {
		t.Error("With(same type twice) = nil error, want a duplicate error")
	}
}

func TestParseLimits(t *testing.T) {
	tests := []struct {
		in      string
		want    InstanceType
		wantErr string
	}{
		{in: "m9.large=3,10", want: InstanceType{Name: "m9.large", MaxENIs: 3, IPv4PerENI: 10, Hypervisor: "unknown", NetworkCards: 1}},
		{in: "m9.large=3,10,2,nitro", want: InstanceType{Name: "m9.large", VCPUs: 2, MaxENIs: 3, IPv4PerENI: 10, Hypervisor: "nitro", NetworkCards: 1}},
		{in: "m9.metal=15,50,96,metal", want: InstanceType{Name: "m9.metal", VCPUs: 96, MaxENIs: 15, IPv4PerENI: 50, Hypervisor: "unknown", BareMetal: true, NetworkCards: 1}},
		{in: "m9.large", wantErr: "want NAME="},
		{in: "=3,10", wantErr: "want NAME="},
		{in: "m9.large=3", wantErr: "got 1 values"},
		{in: "m9.large=3,x", wantErr: "IPS \"x\""},
		{in: "m9.large=3,10,-2", wantErr: "VCPUS \"-2\""},
		{in: "m9.large=3,10,2,kvm", wantErr: "HYPERVISOR \"kvm\""},
		{in: "m9.large=3,10,2,nitro,1", wantErr: "got 5 values"},
	}
	for _, tt := range tests {
		got, err := ParseLimits(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseLimits(%q) error = %v, want one containing %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseLimits(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
		// What userdata writes to agent.env is read back as the same type.
		back, err := ParseLimits(FormatLimits(got))
		if err != nil || back != got {
			t.Errorf("ParseLimits(FormatLimits(%+v)) = %+v, %v", got, back, err)
		}
	}
}

package maxpods

import (
	"fmt"
	"strconv"
	"strings"
)

// LimitsSyntax is the accepted form of ParseLimits input, for help texts.
const LimitsSyntax = "NAME=ENIS,IPS[,VCPUS[,HYPERVISOR]] (HYPERVISOR: nitro, xen, unknown or metal)"

// ParseLimits reads user-supplied limits for an instance type the table
// lacks, in LimitsSyntax, e.g. "m9.large=3,10,2,nitro". VCPUS 0 or absent
// means unknown (max pods capped at 110); HYPERVISOR "metal" marks a bare-metal
// type. The result is checked when passed to Table.With.
func ParseLimits(s string) (InstanceType, error) {
	name, rest, ok := strings.Cut(s, "=")
	name = strings.TrimSpace(name)
	if !ok || name == "" {
		return InstanceType{}, fmt.Errorf("instance type limits %q: want %s", s, LimitsSyntax)
	}
	f := strings.Split(rest, ",")
	if len(f) < 2 || len(f) > 4 {
		return InstanceType{}, fmt.Errorf("instance type limits %q: got %d values after '=', want 2 to 4: %s", s, len(f), LimitsSyntax)
	}
	it := InstanceType{Name: name, Hypervisor: HypervisorUnknown, NetworkCards: 1}
	fields := []struct {
		what string
		dst  *int
	}{{"ENIS", &it.MaxENIs}, {"IPS", &it.IPv4PerENI}, {"VCPUS", &it.VCPUs}}
	for i, v := range f {
		v = strings.TrimSpace(v)
		if i == 3 {
			switch v {
			case HypervisorNitro, HypervisorXen, HypervisorUnknown:
				it.Hypervisor = v
			case "metal":
				it.BareMetal = true
			default:
				return InstanceType{}, fmt.Errorf("instance type limits %q: HYPERVISOR %q: want nitro, xen, unknown or metal", s, v)
			}
			continue
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return InstanceType{}, fmt.Errorf("instance type limits %q: %s %q: want a non-negative integer (%s)", s, fields[i].what, v, LimitsSyntax)
		}
		*fields[i].dst = n
	}
	return it, nil
}

// FormatLimits is the inverse of ParseLimits: it in LimitsSyntax, every
// field written, e.g. "m9.large=3,10,2,nitro".
func FormatLimits(it InstanceType) string {
	hv := it.Hypervisor
	if it.BareMetal {
		hv = "metal"
	}
	if hv == "" {
		hv = HypervisorUnknown
	}
	return fmt.Sprintf("%s=%d,%d,%d,%s", it.Name, it.MaxENIs, it.IPv4PerENI, it.VCPUs, hv)
}

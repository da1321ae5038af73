package maxpods

import (
	"bufio"
	"bytes"
	_ "embed" // the instance table ships inside the binary
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/eksnet/eksnet/internal/suggest"
)

// instanceTypesTSV is the fact table of EC2 network limits, a copy of
// ../shared/data/instance-types.tsv; see that folder's README for the columns.
//
//go:embed instance-types.tsv
var instanceTypesTSV []byte

// Hypervisor values the table and With accept.
const (
	HypervisorNitro   = "nitro"
	HypervisorXen     = "xen"
	HypervisorUnknown = "unknown"
)

// InstanceType holds the limits of one EC2 instance type that decide how many
// pods its node can address.
type InstanceType struct {
	// Name is the EC2 instance type, e.g. "m5.large".
	Name string
	// VCPUs is the default vCPU count; 0 means unknown, which caps max pods at 110.
	VCPUs int
	// MaxENIs counts the network interfaces of the default network card only,
	// since the VPC CNI model attaches pod ENIs there.
	MaxENIs int
	// IPv4PerENI counts all IPv4 addresses of one ENI, the primary one included.
	IPv4PerENI int
	// Hypervisor is nitro, xen or unknown; prefix delegation needs nitro (or bare metal).
	Hypervisor string
	// BareMetal types run no hypervisor and support prefix delegation.
	BareMetal bool
	// NetworkCards is informational: only the default card counts.
	NetworkCards int
	// ENIMaxPods is the published secondary-IP value (EKS AMI eni-max-pods.txt),
	// kept to cross-check the formula.
	ENIMaxPods int
}

// SupportsPrefixDelegation reports whether EC2 can assign /28 prefixes to the
// type's ENIs: only Nitro-based and bare-metal instances can.
func (t InstanceType) SupportsPrefixDelegation() bool {
	return t.Hypervisor == HypervisorNitro || t.BareMetal
}

// Table is an immutable set of instance types, looked up by name. Use Default
// for the embedded table and With to add types it lacks.
type Table struct {
	types map[string]InstanceType
	names []string // sorted, for suggestions and Names
}

// Default returns the embedded table. It is parsed once; a parse failure is a
// build defect (the tests parse the same bytes), so it panics.
func Default() *Table { return defaultTable() }

var defaultTable = sync.OnceValue(func() *Table {
	t, err := Parse(bytes.NewReader(instanceTypesTSV))
	if err != nil {
		panic(fmt.Sprintf("maxpods: embedded instance-types.tsv is corrupt: %v", err))
	}
	return t
})

// Lookup finds name in the embedded table.
func Lookup(name string) (InstanceType, error) { return Default().Lookup(name) }

// tsvColumns is the header Parse requires, in order.
var tsvColumns = []string{"instance_type", "vcpus", "max_enis", "ipv4_per_eni", "hypervisor", "bare_metal", "network_cards", "eni_max_pods"}

// Parse reads a table in the instance-types.tsv format: a header row with
// tsvColumns, then one tab-separated row per type. Each row is validated like
// a user-supplied type, so bad data fails here, not in a max-pods result.
func Parse(r io.Reader) (*Table, error) {
	sc := bufio.NewScanner(r)
	line := 0
	t := &Table{types: map[string]InstanceType{}}
	for sc.Scan() {
		line++
		text := strings.TrimRight(sc.Text(), "\r")
		if line == 1 {
			if got := strings.Split(text, "\t"); !slices.Equal(got, tsvColumns) {
				return nil, fmt.Errorf("parsing instance table header: got columns %q, want %q", got, tsvColumns)
			}
			continue
		}
		if text == "" {
			continue
		}
		it, err := parseRow(text)
		if err != nil {
			return nil, fmt.Errorf("parsing instance table line %d: %w", line, err)
		}
		if _, dup := t.types[it.Name]; dup {
			return nil, fmt.Errorf("parsing instance table line %d: instance type %q listed twice", line, it.Name)
		}
		t.types[it.Name] = it
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading instance table: %w", err)
	}
	if line == 0 {
		return nil, fmt.Errorf("parsing instance table: empty input, want header %q", tsvColumns)
	}
	t.sortNames()
	return t, nil
}

func parseRow(text string) (InstanceType, error) {
	f := strings.Split(text, "\t")
	if len(f) != len(tsvColumns) {
		return InstanceType{}, fmt.Errorf("got %d fields, want %d (%s)", len(f), len(tsvColumns), strings.Join(tsvColumns, ", "))
	}
	it := InstanceType{Name: f[0], Hypervisor: f[4]}
	ints := []struct {
		col   string
		s     string
		dst   *int
		blank bool // blank allowed, meaning 0 (unknown)
	}{
		{"vcpus", f[1], &it.VCPUs, true},
		{"max_enis", f[2], &it.MaxENIs, false},
		{"ipv4_per_eni", f[3], &it.IPv4PerENI, false},
		{"network_cards", f[6], &it.NetworkCards, false},
		{"eni_max_pods", f[7], &it.ENIMaxPods, false},
	}
	for _, c := range ints {
		if c.s == "" && c.blank {
			continue
		}
		n, err := strconv.Atoi(c.s)
		if err != nil {
			return InstanceType{}, fmt.Errorf("instance type %q: column %s: %q is not an integer", f[0], c.col, c.s)
		}
		*c.dst = n
	}
	switch f[5] {
	case "true":
		it.BareMetal = true
	case "false":
	default:
		return InstanceType{}, fmt.Errorf("instance type %q: column bare_metal: %q, want true or false", f[0], f[5])
	}
	if err := it.validate(); err != nil {
		return InstanceType{}, err
	}
	return it, nil
}

// validate checks the fields a max-pods result depends on, naming the type,
// the field and the accepted values.
func (t InstanceType) validate() error {
	if t.Name == "" || strings.ContainsAny(t.Name, " \t\n=,") {
		return fmt.Errorf("instance type name %q: want a non-empty EC2 type name such as m7i.large", t.Name)
	}
	switch {
	case t.VCPUs < 0:
		return fmt.Errorf("instance type %q: vCPUs %d: want 0 (unknown) or more", t.Name, t.VCPUs)
	case t.MaxENIs < 1:
		return fmt.Errorf("instance type %q: max ENIs %d: want 1 or more", t.Name, t.MaxENIs)
	case t.IPv4PerENI < 2:
		return fmt.Errorf("instance type %q: IPv4 addresses per ENI %d: want 2 or more (the primary address hosts no pod)", t.Name, t.IPv4PerENI)
	case t.NetworkCards < 1:
		return fmt.Errorf("instance type %q: network cards %d: want 1 or more", t.Name, t.NetworkCards)
	}
	switch t.Hypervisor {
	case HypervisorNitro, HypervisorXen, HypervisorUnknown:
	default:
		return fmt.Errorf("instance type %q: hypervisor %q: want %s, %s or %s", t.Name, t.Hypervisor, HypervisorNitro, HypervisorXen, HypervisorUnknown)
	}
	if want := secondaryIPMaxPods(t.MaxENIs, t.IPv4PerENI); t.ENIMaxPods != want {
		return fmt.Errorf("instance type %q: eni max pods %d disagrees with %d ENIs x (%d IPs - 1) + 2 = %d",
			t.Name, t.ENIMaxPods, t.MaxENIs, t.IPv4PerENI, want)
	}
	return nil
}

// With returns a copy of t that also knows extra, for instance types newer
// than the embedded table. Blank fields get defaults (hypervisor "unknown",
// one network card, ENIMaxPods from the formula); a type already in t is an
// error, so a typo cannot silently shadow real EC2 limits.
func (t *Table) With(extra ...InstanceType) (*Table, error) {
	out := &Table{types: make(map[string]InstanceType, len(t.types)+len(extra))}
	for k, v := range t.types {
		out.types[k] = v
	}
	for _, it := range extra {
		it.Name = strings.ToLower(strings.TrimSpace(it.Name))
		if it.Hypervisor == "" {
			it.Hypervisor = HypervisorUnknown
		}
		if it.NetworkCards == 0 {
			it.NetworkCards = 1
		}
		if it.ENIMaxPods == 0 && it.MaxENIs > 0 && it.IPv4PerENI > 1 {
			it.ENIMaxPods = secondaryIPMaxPods(it.MaxENIs, it.IPv4PerENI)
		}
		if err := it.validate(); err != nil {
			return nil, fmt.Errorf("adding instance type limits: %w", err)
		}
		if _, dup := out.types[it.Name]; dup {
			return nil, fmt.Errorf("adding instance type limits: %q is already known; only types the table lacks can be added", it.Name)
		}
		out.types[it.Name] = it
	}
	out.sortNames()
	return out, nil
}

// Len reports how many instance types t knows.
func (t *Table) Len() int { return len(t.types) }

// Names returns every known instance type name, sorted.
func (t *Table) Names() []string { return slices.Clone(t.names) }

// Lookup finds an instance type by name (case-insensitive). An unknown name
// yields *UnknownInstanceTypeError with the closest known names.
func (t *Table) Lookup(name string) (InstanceType, error) {
	key := strings.ToLower(strings.TrimSpace(name))
	if it, ok := t.types[key]; ok {
		return it, nil
	}
	return InstanceType{}, &UnknownInstanceTypeError{Name: name, Suggestions: suggest.Closest(key, t.names, 3), Known: len(t.types)}
}

func (t *Table) sortNames() {
	t.names = make([]string, 0, len(t.types))
	for n := range t.types {
		t.names = append(t.names, n)
	}
	slices.Sort(t.names)
}

// UnknownInstanceTypeError says an instance type is not in the table, and
// which known names are closest, since most misses are typos.
type UnknownInstanceTypeError struct {
	Name        string
	Suggestions []string
	// Known is how many types the table holds, for the message.
	Known int
}

// Error names the input, the accepted values and the suggestions.
func (e *UnknownInstanceTypeError) Error() string {
	msg := fmt.Sprintf("unknown instance type %q: accepted values are the %d EC2 instance types in the embedded table", e.Name, e.Known)
	if len(e.Suggestions) > 0 {
		msg += "; did you mean " + strings.Join(e.Suggestions, ", ") + "?"
	}
	return msg
}

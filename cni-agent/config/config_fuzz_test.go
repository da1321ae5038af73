package config

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
)

// FuzzReadFileParse feeds arbitrary bytes to the agent's config file reader
// and the validated result to Parse, as `eksnet-agent run` does with
// /etc/eksnet/agent.env: bad input must be an error naming the line or the
// setting, never a panic, and an accepted file must hold only known
// settings and parse the same way twice. Seeds are in
// testdata/fuzz/FuzzReadFileParse; CI runs it with -fuzztime=10s.
func FuzzReadFileParse(f *testing.F) {
	f.Add([]byte("EKSNET_CLUSTER=prod\nEKSNET_MODE=prefix\n"))
	f.Add([]byte("# user data\nexport EKSNET_WARM_IP_TARGET=\"5\"\nEKSNET_MODE='secondary'\n\n"))
	f.Add([]byte("EKSNET_COOLDOWN=90m\n"))
	f.Add([]byte("EKSNET_TYPO=1\n"))
	f.Add([]byte("EKSNET_SNAT_EXCLUDE_CIDRS=10.0.0.0/8,192.168.0.0/33\n"))
	f.Add([]byte("EKSNET_MODE=\"unterminated\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		vals, err := ReadFile(bytes.NewReader(data), "agent.env")
		if err != nil {
			if !strings.Contains(err.Error(), "agent.env") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		known := map[string]bool{}
		for _, s := range All() {
			known[s.Env] = true
		}
		for k := range vals {
			if !known[k] {
				t.Fatalf("ReadFile accepted unknown setting %q", k)
			}
		}
		c1, err1 := Parse(vals)
		c2, err2 := Parse(vals)
		if (err1 == nil) != (err2 == nil) {
			t.Fatalf("Parse is not deterministic: %v vs %v", err1, err2)
		}
		if err1 != nil {
			if !strings.HasPrefix(err1.Error(), "invalid eksnet-agent configuration") {
				t.Fatalf("error lacks its prefix: %v", err1)
			}
			return
		}
		if !reflect.DeepEqual(c1, c2) {
			t.Fatalf("Parse gave two configs:\n%+v\n%+v", c1, c2)
		}
	})
}

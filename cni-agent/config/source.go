package config

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/pflag"

	"github.com/eksnet/eksnet/internal/suggest"
)

// DefaultFile is where user data writes the agent's settings.
const DefaultFile = "/etc/eksnet/agent.env"

// ReadFile parses a KEY=VALUE file as user data writes it: blank lines and
// lines starting with # are skipped, an optional "export " prefix is allowed,
// and values may be wrapped in single or double quotes. Only EKSNET_* keys
// are kept; an unknown EKSNET_* key is an error, since it is almost always a
// typo that would otherwise be silently ignored.
func ReadFile(r io.Reader, name string) (map[string]string, error) {
	known := map[string]bool{}
	for _, s := range settings {
		known[s.Env] = true
	}
	out := map[string]string{}
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		line = strings.TrimPrefix(line, "export ")
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("config file %s line %d: %q is not KEY=VALUE", name, n, line)
		}
		k = strings.TrimSpace(k)
		v = strings.TrimSpace(v)
		if len(v) >= 2 && (v[0] == '"' && v[len(v)-1] == '"' || v[0] == '\'' && v[len(v)-1] == '\'') {
			if v[0] == '"' {
				uq, err := strconv.Unquote(v)
				if err != nil {
					return nil, fmt.Errorf("config file %s line %d: value of %s: %w", name, n, k, err)
				}
				v = uq
			} else {
				v = v[1 : len(v)-1]
			}
		}
		if !strings.HasPrefix(k, "EKSNET_") {
			continue
		}
		if !known[k] {
			return nil, fmt.Errorf("config file %s line %d: unknown setting %s (accepted: %s)", name, n, k, strings.Join(envNames(), ", "))
		}
		out[k] = v
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading config file %s: %w", name, err)
	}
	return out, nil
}

// CheckEnviron refuses an EKSNET_* variable in environ ("KEY=VALUE" lines,
// as os.Environ gives) that is within two edits of a setting's name but is
// not one: a misspelled setting in the environment is an error, as it is in
// agent.env, instead of being silently ignored. Farther names are left alone:
// the environment is shared with other eksnet tools (EKSNET_SIM_*, ...).
func CheckEnviron(environ []string) error {
	names := envNames()
	for _, kv := range environ {
		k, _, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(k, "EKSNET_") || slices.Contains(names, k) {
			continue
		}
		for _, name := range names {
			if suggest.EditDistance(k, name) <= 2 {
				return fmt.Errorf("environment: unknown setting %s; did you mean %s? (accepted: %s)", k, name, strings.Join(names, ", "))
			}
		}
	}
	return nil
}

func envNames() []string {
	names := make([]string, len(settings))
	for i, s := range settings {
		names[i] = s.Env
	}
	return names
}

// Flags registers every setting on fs as a string flag whose shown default
// is the built-in one. Resolve reads them back.
func Flags(fs *pflag.FlagSet) {
	for _, s := range settings {
		fs.String(s.Flag, s.Default, fmt.Sprintf("%s [env %s; %s]", s.Usage, s.Env, s.Accepted))
	}
	fs.String("config-file", "", "KEY=VALUE file with EKSNET_* settings (user data writes "+DefaultFile+"); a missing file is an error only when the flag is given")
}

// Resolve merges the sources, highest precedence first: flags set on the
// command line, the environment, the config file (--config-file, or
// DefaultFile when it exists), and validates the result.
func Resolve(fs *pflag.FlagSet, getenv func(string) string) (Config, error) {
	raw := map[string]string{}
	file, _ := fs.GetString("config-file")
	explicit := fs.Changed("config-file")
	if file == "" {
		file = DefaultFile
	}
	f, err := os.Open(file)
	switch {
	case err == nil:
		vals, err := ReadFile(f, file)
		f.Close()
		if err != nil {
			return Config{}, fmt.Errorf("--config-file: %w", err)
		}
		for k, v := range vals {
			raw[k] = v
		}
	case explicit || !os.IsNotExist(err):
		return Config{}, fmt.Errorf("--config-file: opening %s: %w", file, err)
	}
	for _, s := range settings {
		if v := getenv(s.Env); v != "" {
			raw[s.Env] = v
		}
		if fs.Changed(s.Flag) {
			v, _ := fs.GetString(s.Flag)
			raw[s.Env] = v
		}
	}
	return Parse(raw)
}

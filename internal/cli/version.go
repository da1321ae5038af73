package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"
)

// BuildInfo says which build of a program a user runs, for bug reports.
type BuildInfo struct {
	Program   string `json:"program"`
	Version   string `json:"version"`
	Commit    string `json:"commit,omitempty"`
	Modified  bool   `json:"modified,omitempty"`
	GoVersion string `json:"goVersion"`
	Platform  string `json:"platform"`
}

// ReadBuildInfo is program's build information. version is what release
// builds set with -ldflags "-X main.version=v1.2.3"; empty, the module
// version stands, or "dev" for a build from a work tree.
func ReadBuildInfo(program, version string) BuildInfo {
	b := BuildInfo{Program: program, Version: version, GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if info, ok := debug.ReadBuildInfo(); ok {
		if b.Version == "" && info.Main.Version != "" && info.Main.Version != "(devel)" {
			b.Version = info.Main.Version
		}
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				b.Commit = s.Value
			case "vcs.modified":
				b.Modified = s.Value == "true"
			}
		}
	}
	if b.Version == "" {
		b.Version = "dev"
	}
	return b
}

// Line is what `version` and `--version` print.
func (b BuildInfo) Line() string {
	commit := b.Commit
	if commit == "" {
		commit = "unknown commit"
	}
	if b.Modified {
		commit += ", modified"
	}
	return fmt.Sprintf("%s %s (%s) %s %s\n", b.Program, b.Version, commit, b.GoVersion, b.Platform)
}

// AddVersion gives root a --version flag and a `version` subcommand
// (-o table or json), both printing b.
func AddVersion(root *cobra.Command, b BuildInfo, stdout io.Writer) {
	root.Version = b.Version
	// cobra's version template is a text/template: quote the line's braces.
	root.SetVersionTemplate(strings.ReplaceAll(b.Line(), "{{", "{{`{{`}}"))
	var output string
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the " + b.Program + " version, commit and Go toolchain",
		Args:  NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := CheckOutput(output, OutputTable, OutputJSON); err != nil {
				return err
			}
			if output == OutputJSON {
				enc := json.NewEncoder(stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(b)
			}
			_, err := fmt.Fprint(stdout, b.Line())
			return err
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", OutputTable, "output format: table or json")
	root.AddCommand(cmd)
}

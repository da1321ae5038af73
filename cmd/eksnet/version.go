package main

import (
	"encoding/json"
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// version is set at release builds with -ldflags "-X main.version=v1.2.3";
// otherwise the module version or "dev" stands.
var version = ""

// buildInfo says which eksnet a user runs, for bug reports.
type buildInfo struct {
	Version   string `json:"version"`
	Commit    string `json:"commit,omitempty"`
	Modified  bool   `json:"modified,omitempty"`
	GoVersion string `json:"goVersion"`
	Platform  string `json:"platform"`
}

func readBuildInfo() buildInfo {
	b := buildInfo{Version: version, GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
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

func newVersionCmd(a *app) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the eksnet version, commit and Go toolchain",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			b := readBuildInfo()
			switch output {
			case outputJSON:
				enc := json.NewEncoder(a.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(b)
			case outputTable:
				_, err := fmt.Fprint(a.stdout, versionLine(b))
				return err
			}
			return usageErrorf("-o/--output %q: accepted values are %s, %s", output, outputTable, outputJSON)
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", outputTable, "output format: table or json")
	return cmd
}

// versionLine is what `eksnet version` and `eksnet --version` print.
func versionLine(b buildInfo) string {
	commit := b.Commit
	if commit == "" {
		commit = "unknown commit"
	}
	if b.Modified {
		commit += ", modified"
	}
	return fmt.Sprintf("eksnet %s (%s) %s %s\n", b.Version, commit, b.GoVersion, b.Platform)
}

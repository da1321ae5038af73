package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/spf13/cobra"

	"github.com/eksnet/eksnet/bootstrap/bundle"
	"github.com/eksnet/eksnet/internal/cli"
	"github.com/eksnet/eksnet/sim/simcluster"
)

func newBundleCmd(a *app) *cobra.Command {
	var (
		archs         []string
		outDir, stack string
	)
	cmd := &cobra.Command{
		Use:   "bundle [--arch amd64 --arch arm64] [--out-dir DIR]",
		Short: "Build the node bundle (eksnet-agent + eksnet-cni) that node user data installs",
		Long: `Build eksnet-agent and eksnet-cni for linux/ARCH (static, CGO_ENABLED=0, -trimpath)
from the eksnet source tree the command runs in, and pack them into
DIR/eksnet-node-linux-ARCH.tar.gz: the one file per architecture that node user
data downloads, checks against its SHA-256 and unpacks into /usr/local/bin.
The bundle is reproducible: the same sources give the same SHA-256.

Prints each bundle's SHA-256 and path (sha256sum -c reads them), the
pulumi config set lines for eksnet:cni.agent.ARCHPath/ARCHSha256, and the
eksnet userdata --agent-url/--agent-sha256 flags for hand-made user data.`,
		Example: `  eksnet bundle                          # both architectures into ./bin of the source tree
  eksnet bundle --arch amd64 --out-dir /tmp/eksnet --stack dev`,
		Args: cli.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var want []string
			for _, arch := range archs {
				if err := bundle.CheckArch("--arch", arch); err != nil {
					return cli.Usage(err)
				}
				if !slices.Contains(want, arch) {
					want = append(want, arch)
				}
			}
			wd, err := os.Getwd()
			if err != nil {
				return fmt.Errorf("eksnet bundle: current directory: %w", err)
			}
			root, ok := simcluster.SourceRoot(wd)
			if !ok {
				return errors.New("eksnet bundle builds from the eksnet source tree: no go.mod of " + simcluster.Module + " at or above " + wd + "; run it inside a checkout")
			}
			if outDir == "" {
				outDir = filepath.Join(root, "bin")
			}
			if outDir, err = filepath.Abs(outDir); err != nil {
				return fmt.Errorf("-o %s: %w", outDir, err)
			}
			var results []bundle.Result
			for _, arch := range want {
				fmt.Fprintf(a.stderr, "building %s from %s...\n", bundle.FileName(arch), root)
				r, err := bundle.Build(cmd.Context(), root, arch, outDir)
				if err != nil {
					return err
				}
				results = append(results, r)
			}
			return bundle.Instructions(a.stdout, results, stack)
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&archs, "arch", slices.Clone(bundle.Architectures), "GOARCH to build for: amd64 or arm64 (repeatable)")
	f.StringVar(&outDir, "out-dir", "", "directory for the bundles (default: bin/ of the source tree)")
	// -o is the output format in every other command; the old spelling
	// still works, with a warning.
	f.StringVarP(&outDir, "output", "o", "", "directory for the bundles")
	_ = f.MarkDeprecated("output", "use --out-dir (-o is the output format in every other eksnet command)")
	f.StringVar(&stack, "stack", "", "stack name added as -s to the printed pulumi config set lines")
	_ = cmd.RegisterFlagCompletionFunc("arch", cobra.FixedCompletions(bundle.Architectures, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

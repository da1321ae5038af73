package bundle

import (
	"fmt"
	"io"
	"regexp"
	"strings"
)

// Instructions writes what to do with built bundles: one `sha256sum -c`
// line per bundle, the `pulumi config set` lines that point the stack at
// them (stack, when not empty, is added as -s), and the `eksnet userdata`
// flags for nodes provisioned without the Pulumi program.
func Instructions(w io.Writer, rs []Result, stack string) error {
	var b strings.Builder
	for _, r := range rs {
		fmt.Fprintf(&b, "%s  %s\n", r.SHA256, r.Path)
	}
	suffix := ""
	if stack != "" {
		suffix = " -s " + shellQuote(stack)
	}
	b.WriteString("\n# Pulumi stack: the program uploads each bundle to the stack's bucket.\n")
	for _, r := range rs {
		fmt.Fprintf(&b, "pulumi config set --path eksnet:cni.agent.%sPath %s%s\n", r.Arch, shellQuote(r.Path), suffix)
		fmt.Fprintf(&b, "pulumi config set --path eksnet:cni.agent.%sSha256 %s%s\n", r.Arch, r.SHA256, suffix)
	}
	b.WriteString("\n# Hand-made user data: upload the bundles where nodes can fetch them, then\n")
	fmt.Fprintf(&b, "eksnet userdata ... --agent-url 'https://HOST/PATH/%s'", FileName("{arch}"))
	for _, r := range rs {
		fmt.Fprintf(&b, " --agent-sha256 %s=%s", r.Arch, r.SHA256)
	}
	b.WriteString("\n")
	_, err := io.WriteString(w, b.String())
	return err
}

var shellSafe = regexp.MustCompile(`^[A-Za-z0-9_./:@%+=-]+$`)

// shellQuote makes s one shell word, quoting only when it has to, so the
// printed lines can be pasted.
func shellQuote(s string) string {
	if shellSafe.MatchString(s) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

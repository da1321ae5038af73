// Command testreport reads `go test -json` on stdin and prints what a plain
// `go test` prints (a line per package, the output of failing tests only),
// plus every skipped test with the reason it gave. With -strict (CI=true in
// .ci/run) a skip is a failure unless its reason matches -allow: a green CI
// must mean the kernel suites ran, not that they skipped themselves.
//
// It lives in .ci, outside ./..., and is run as `go run .ci/testreport.go`.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strings"
)

// event is one line of test2json's output (go doc test2json).
type event struct {
	Action     string
	ImportPath string // build-output and build-fail events
	Package    string
	Test       string
	Elapsed    float64
	Output     string
}

type skip struct {
	pkg, test, reason string
	accepted          bool
}

type report struct {
	out      io.Writer
	allow    *regexp.Regexp
	buffered map[string][]string // package + "\x00" + test -> output lines
	finished map[string]bool     // package + "\x00" + test, for tests that ended
	skips    []skip
	failed   []string // packages
	skipped  map[string]int
	verbose  bool // print passing tests' output too
	timed    []timed
}

// timed is one top-level test's run time, for the slowest-tests list.
type timed struct {
	name    string
	elapsed float64
}

func key(pkg, test string) string { return pkg + "\x00" + test }

func (r *report) handle(e event) {
	switch e.Action {
	case "build-output":
		fmt.Fprint(r.out, e.Output)
		return
	case "build-fail":
		r.failed = append(r.failed, e.ImportPath)
		return
	}
	k := key(e.Package, e.Test)
	switch e.Action {
	case "output":
		r.buffered[k] = append(r.buffered[k], e.Output)
	case "skip":
		if e.Test == "" {
			// A package with no tests, or none selected by -run.
			fmt.Fprintf(r.out, "?   \t%s\t[no tests run]\n", e.Package)
			return
		}
		r.finished[k] = true
		reason := skipReason(r.buffered[k])
		said := location.ReplaceAllString(reason, "")
		r.skips = append(r.skips, skip{e.Package, e.Test, reason, r.allow != nil && r.allow.MatchString(said)})
		r.skipped[e.Package]++
		delete(r.buffered, k)
	case "pass", "fail":
		if e.Test != "" && !strings.Contains(e.Test, "/") {
			r.timed = append(r.timed, timed{e.Package + " " + e.Test, e.Elapsed})
		}
	}
	switch e.Action {
	case "pass":
		r.finished[k] = true
		if e.Test == "" {
			fmt.Fprintf(r.out, "ok  \t%s\t%.1fs%s\n", e.Package, e.Elapsed, r.skipNote(e.Package))
			r.forget(e.Package)
			return
		}
		if r.verbose {
			r.print(k)
		}
		delete(r.buffered, k)
	case "fail":
		r.finished[k] = true
		if e.Test != "" {
			r.print(k)
			return
		}
		// The package failed: also print tests that never ended (a timeout
		// panic or a crash) and the package's own output.
		for bk := range r.buffered {
			if pkg, test, _ := strings.Cut(bk, "\x00"); pkg == e.Package && test != "" && !r.finished[bk] {
				r.print(bk)
			}
		}
		// go test's own result line is replaced by ours, which adds the skips.
		for _, line := range r.buffered[k] {
			if !strings.HasPrefix(line, "FAIL\t"+e.Package+"\t") {
				fmt.Fprint(r.out, line)
			}
		}
		delete(r.buffered, k)
		fmt.Fprintf(r.out, "FAIL\t%s\t%.1fs%s\n", e.Package, e.Elapsed, r.skipNote(e.Package))
		r.failed = append(r.failed, e.Package)
		r.forget(e.Package)
	}
}

func (r *report) print(k string) {
	for _, line := range r.buffered[k] {
		fmt.Fprint(r.out, line)
	}
	delete(r.buffered, k)
}

func (r *report) forget(pkg string) {
	for k := range r.buffered {
		if strings.HasPrefix(k, pkg+"\x00") {
			delete(r.buffered, k)
		}
	}
	for k := range r.finished {
		if strings.HasPrefix(k, pkg+"\x00") {
			delete(r.finished, k)
		}
	}
}

func (r *report) skipNote(pkg string) string {
	if n := r.skipped[pkg]; n > 0 {
		return fmt.Sprintf(" (%d skipped)", n)
	}
	return ""
}

// location is the "file_test.go:47: " that t.Skip puts before its reason;
// -allow matches the reason without it.
var location = regexp.MustCompile(`(^| )[\w.-]+_test\.go:\d+: `)

// skipReason is what the test said before it skipped: its output without
// test2json's framing lines.
func skipReason(lines []string) string {
	var said []string
	for _, l := range lines {
		t := strings.TrimSpace(l)
		if t == "" || strings.HasPrefix(t, "=== ") || strings.HasPrefix(t, "--- ") {
			continue
		}
		said = append(said, t)
	}
	if len(said) == 0 {
		return "(no reason given)"
	}
	return strings.Join(said, " ")
}

// slowest prints the n top-level tests that took longest: where a step's
// time goes.
func (r *report) slowest(n int) {
	slices.SortFunc(r.timed, func(a, b timed) int {
		switch {
		case a.elapsed > b.elapsed:
			return -1
		case a.elapsed < b.elapsed:
			return 1
		}
		return strings.Compare(a.name, b.name)
	})
	if len(r.timed) < n {
		n = len(r.timed)
	}
	if n == 0 {
		return
	}
	fmt.Fprintf(r.out, "slowest tests:\n")
	for _, t := range r.timed[:n] {
		fmt.Fprintf(r.out, "  %7.1fs  %s\n", t.elapsed, t.name)
	}
}

// summary prints the skips and returns how many are refused.
func (r *report) summary(strict bool) (refused int) {
	if len(r.skips) == 0 {
		fmt.Fprintln(r.out, "skipped tests: none")
		return 0
	}
	slices.SortFunc(r.skips, func(a, b skip) int { return strings.Compare(a.pkg+" "+a.test, b.pkg+" "+b.test) })
	fmt.Fprintf(r.out, "skipped tests: %d\n", len(r.skips))
	for _, s := range r.skips {
		verdict := "accepted"
		if !s.accepted {
			verdict = "not accepted"
			if strict {
				refused++
			}
		}
		fmt.Fprintf(r.out, "  %-12s %s %s: %s\n", verdict, s.pkg, s.test, s.reason)
	}
	return refused
}

func main() {
	strict := flag.Bool("strict", false, "fail when a test skips for a reason -allow does not match")
	allow := flag.String("allow", "", "regular expression of skip reasons that are not failures")
	verbose := flag.Bool("v", false, "print the output of passing tests too")
	note := flag.String("note", "", "file to write a one-line skip count to, for .ci/run's summary")
	slow := flag.Int("slowest", 5, "list this many of the slowest top-level tests")
	flag.Parse()
	r := &report{out: os.Stdout, buffered: map[string][]string{}, finished: map[string]bool{}, skipped: map[string]int{}, verbose: *verbose}
	if *allow != "" {
		re, err := regexp.Compile(*allow)
		if err != nil {
			fmt.Fprintf(os.Stderr, "testreport: -allow: %v\n", err)
			os.Exit(2)
		}
		r.allow = re
	}
	sc := bufio.NewScanner(os.Stdin)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		var e event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			// go test prints some lines (e.g. "go: downloading") as text.
			fmt.Fprintln(r.out, sc.Text())
			continue
		}
		r.handle(e)
	}
	if err := sc.Err(); err != nil {
		fmt.Fprintf(os.Stderr, "testreport: reading go test -json: %v\n", err)
		os.Exit(1)
	}
	r.slowest(*slow)
	refused := r.summary(*strict)
	if *note != "" {
		line := fmt.Sprintf("%d skipped, %d refused", len(r.skips), refused)
		if err := os.WriteFile(*note, []byte(line), 0o644); err != nil {
			fmt.Fprintf(os.Stderr, "testreport: -note: %v\n", err)
		}
	}
	switch {
	case len(r.failed) > 0:
		fmt.Fprintf(r.out, "failed packages: %s\n", strings.Join(r.failed, " "))
		os.Exit(1)
	case refused > 0:
		fmt.Fprintf(r.out, "%d tests skipped for reasons CI does not accept (-allow %q): in CI they must run\n", refused, *allow)
		os.Exit(1)
	}
}

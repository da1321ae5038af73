package infra_test

import (
	"bufio"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/eksnet/eksnet/infra"
	"github.com/eksnet/eksnet/infra/plan"
	"github.com/eksnet/eksnet/internal/stacktest"
	"github.com/eksnet/eksnet/stacks"
)

const (
	tDeployment = "kubernetes:apps/v1:Deployment"
	tIngress    = "kubernetes:networking.k8s.io/v1:Ingress"
)

func demoImageOf(t *testing.T, m *plan.Mocks) string {
	t.Helper()
	d := one(t, m, tDeployment, "addons-2048")
	containers, _ := obj(obj(obj(d.Inputs["spec"])["template"])["spec"])["containers"].([]any)
	if len(containers) != 1 {
		t.Fatalf("demo deployment containers %v", containers)
	}
	return str(obj(containers[0])["image"])
}

// TestDemoImagePinnedByDigest: the demo runs eksnet:addons.demoImage as
// written; a tag (movable) is refused by validation, and an update without
// an image refuses, naming the key, because no digest is knowable offline.
// A plan without one shows the bare repository, never :latest.
func TestDemoImagePinnedByDigest(t *testing.T) {
	cfg := stacktest.Deployable(preset(t, stacks.PresetDev))
	_, m := run(t, cfg)
	if got := demoImageOf(t, m); got != stacktest.DemoImage {
		t.Errorf("demo image %q, want eksnet:addons.demoImage %q", got, stacktest.DemoImage)
	}
	cfg.Addons.DemoImage = ""
	_, m = run(t, cfg)
	if got := demoImageOf(t, m); got != stacks.DemoImageRepository {
		t.Errorf("unpinned demo image in a plan %q, want the bare repository %s", got, stacks.DemoImageRepository)
	}
	if err := infra.RequireDeployable(cfg); err == nil || !strings.Contains(err.Error(), "eksnet:addons.demoImage: not set while demoApp is true") {
		t.Errorf("update without a demo image: %v", err)
	}
	cfg.Addons.DemoImage = stacks.DemoImageRepository + ":latest"
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), `eksnet:addons.demoImage "public.ecr.aws/l6m2t8p7/docker-2048:latest": not pinned by digest`) {
		t.Errorf("demo image by tag: Validate() = %v", err)
	}
}

// TestDemoALBClosedWithoutCIDRs: the controller reads a missing or empty
// inbound-cidrs as the whole internet, so without
// eksnet:addons.demoAllowedCidrs the program registers no demo Ingress,
// and the plan says the ALB is closed and what up would refuse.
func TestDemoALBClosedWithoutCIDRs(t *testing.T) {
	cfg := stacktest.Deployable(preset(t, stacks.PresetDev))
	cfg.Addons.DemoAllowedCIDRs = nil
	_, m := run(t, cfg)
	if ing := m.ByType(tIngress); len(ing) != 0 {
		t.Errorf("demo Ingress registered without demoAllowedCidrs: %v", ing[0].Inputs["metadata"])
	}
	p, err := plan.Run(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Closed) != 1 || !strings.Contains(p.Closed[0], "demo ALB (Ingress game-2048/game-2048): not created while eksnet:addons.demoAllowedCidrs is empty") {
		t.Errorf("plan closed surfaces %q", p.Closed)
	}
	if !slices.ContainsFunc(p.UpRefusals, func(s string) bool { return strings.HasPrefix(s, "eksnet:addons.demoAllowedCidrs: empty") }) {
		t.Errorf("plan up refusals %q", p.UpRefusals)
	}
}

// annotationDoc is one row of the controller's annotation table.
type annotationDoc struct{ typ, def, location string }

// controllerAnnotations reads the annotation table of the controller's
// docs/guide/ingress/annotations.md at LBCAppVersion (testdata, SOURCE.md).
func controllerAnnotations(t *testing.T) map[string]annotationDoc {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "aws-load-balancer-controller", "ingress-annotations-"+infra.LBCAppVersion+".md"))
	if err != nil {
		t.Fatalf("no annotation reference for controller %s: %v", infra.LBCAppVersion, err)
	}
	defer f.Close()
	row := regexp.MustCompile(`^\|\s*\[(alb\.ingress\.kubernetes\.io/[^\]]+)\]\([^)]*\)\s*\|(.*)$`)
	out := map[string]annotationDoc{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		m := row.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		cells := tableCells(m[2])
		if len(cells) < 3 {
			t.Fatalf("annotation row %q: want type, default, location", sc.Text())
		}
		out[m[1]] = annotationDoc{typ: strings.TrimSpace(cells[0]), def: strings.TrimSpace(cells[1]), location: strings.TrimSpace(cells[2])}
	}
	if len(out) < 40 {
		t.Fatalf("read %d annotations from the controller's table, want the whole table", len(out))
	}
	return out
}

// tableCells splits a markdown table row on | not escaped as \| (which
// separates enum values inside a cell).
func tableCells(row string) []string {
	var cells []string
	start := 0
	for i := 0; i < len(row); i++ {
		if row[i] == '|' && (i == 0 || row[i-1] != '\\') {
			cells = append(cells, row[start:i])
			start = i + 1
		}
	}
	return append(cells, row[start:])
}

// TestDemoIngressAsControllerDocuments is judged by the controller's own
// annotation reference: every annotation on the demo Ingress exists for
// Ingress, enum values are documented ones, inbound-cidrs is a stringList
// the controller splits into IPv4 CIDRs (IPv6 ones are dropped on an ipv4
// ALB), and the documented default of inbound-cidrs is why no Ingress is
// registered without a list.
func TestDemoIngressAsControllerDocuments(t *testing.T) {
	doc := controllerAnnotations(t)
	cfg := stacktest.Deployable(preset(t, stacks.PresetDev))
	cfg.Addons.DemoAllowedCIDRs = []string{"203.0.113.0/24", "198.51.100.7/32"}
	_, m := run(t, cfg)
	ing := one(t, m, tIngress, "addons-2048")
	ann := obj(objMeta(ing)["annotations"])
	if len(ann) == 0 {
		t.Fatal("demo Ingress has no annotations")
	}
	for k, v := range ann {
		d, ok := doc[k]
		if !ok {
			t.Errorf("annotation %s is not in the controller %s reference", k, infra.LBCAppVersion)
			continue
		}
		if !strings.Contains(d.location, "Ingress") {
			t.Errorf("annotation %s: the controller reads it on %s, not Ingress", k, d.location)
		}
		val := str(v)
		switch {
		case strings.Contains(d.typ, `\|`):
			var allowed []string
			for _, a := range strings.Split(d.typ, `\|`) {
				allowed = append(allowed, strings.TrimSpace(a))
			}
			if !slices.Contains(allowed, val) {
				t.Errorf("annotation %s %q: the controller accepts %v", k, val, allowed)
			}
		case d.typ == "stringList":
			var items []string
			for _, s := range strings.Split(val, ",") { // the controller's split: trim, drop empties
				if s = strings.TrimSpace(s); s != "" {
					items = append(items, s)
				}
			}
			if k == infra.AnnotationInboundCIDRs {
				if !slices.Equal(items, cfg.Addons.DemoAllowedCIDRs) {
					t.Errorf("inbound-cidrs %q reads as %v, want %v", val, items, cfg.Addons.DemoAllowedCIDRs)
				}
				for _, c := range items {
					if p, err := netip.ParsePrefix(c); err != nil || !p.Addr().Is4() {
						t.Errorf("inbound-cidrs entry %q: not an IPv4 CIDR (%v)", c, err)
					}
				}
			}
		default:
			t.Errorf("annotation %s has type %q, which this test does not check; add it", k, d.typ)
		}
	}
	if d := doc[infra.AnnotationInboundCIDRs]; !strings.Contains(d.def, stacks.Open) {
		t.Errorf("the controller documents inbound-cidrs default %q; TestDemoALBClosedWithoutCIDRs assumes it is open (%s)", d.def, stacks.Open)
	}
	if ann[infra.AnnotationScheme] != "internet-facing" || ann[infra.AnnotationTargetType] != "ip" {
		t.Errorf("demo Ingress scheme/target-type %v", ann)
	}
}

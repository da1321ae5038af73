package stacks

import (
	"strings"
	"testing"

	"github.com/distribution/reference"
)

// imageRefCorpus are references the kubelet meets, well-formed and not.
var imageRefCorpus = []string{
	"nginx", "nginx:1.27", "library/nginx", "docker.io/nginx", "index.docker.io/nginx:1", "docker.io/library/nginx:latest",
	"public.ecr.aws/l6m2t8p7/docker-2048", "public.ecr.aws/l6m2t8p7/docker-2048:latest",
	"public.ecr.aws/l6m2t8p7/docker-2048@sha256:" + strings.Repeat("0a", 32),
	"public.ecr.aws/l6m2t8p7/docker-2048:latest@sha256:" + strings.Repeat("0a", 32),
	"602401143452.dkr.ecr.us-west-2.amazonaws.com/eks/coredns:v1.11.4-eksbuild.2",
	"localhost/app", "localhost:5000/app:dev", "127.0.0.1:5000/a/b/c", "[::1]:5000/app", "[2001:db8::1]/app:x",
	"registry.k8s.io/pause:3.10", "ghcr.io/a__b/c-d.e/f", "quay.io/a--b/c", "a.b/c_d",
	"Example.com/app", "Foo/bar", "foo/Bar", "NGINX", "nginx:", "nginx@", ":tag", "/nginx", "nginx/", "a//b",
	"a/b:" + strings.Repeat("t", 128), "a/b:" + strings.Repeat("t", 129), "a/b:-x", "a/b:.x", "a/b:_x",
	"a/" + strings.Repeat("p", 255), "a/" + strings.Repeat("p", 256), strings.Repeat("p", 247),
	strings.Repeat("ab", 32), strings.Repeat("AB", 32),
	"nginx@sha256:" + strings.Repeat("a", 64), "nginx@sha256:" + strings.Repeat("A", 64), "nginx@sha256:" + strings.Repeat("a", 63),
	"nginx@sha512:" + strings.Repeat("b", 128), "nginx@sha384:" + strings.Repeat("c", 96), "nginx@md5:" + strings.Repeat("d", 32),
	"nginx@sha256+b64:" + strings.Repeat("a", 64), "nginx@Sha256:" + strings.Repeat("a", 64), "nginx@sha256:" + strings.Repeat("a", 31),
	"a.b:80/c@sha256:" + strings.Repeat("e", 64), "a.b:port/c", "-a.b/c", "a-.b/c", "a.b/c..d", "a.b/c._d", "a.b/c.__d",
	"a b/c", "a.b/c d", "a.b/c\n", "é.b/c",
}

// TestImageRefMatchesDistributionReference is judged by the served
// github.com/distribution/reference: ParseImageRef accepts exactly what its
// ParseNormalizedNamed accepts, with the same normalized name, tag and
// digest, so eksnet:addons.demoImage means what the kubelet will pull.
func TestImageRefMatchesDistributionReference(t *testing.T) {
	for _, s := range imageRefCorpus {
		compareImageRef(t, s)
	}
}

// FuzzImageRef runs the same comparison on generated references.
func FuzzImageRef(f *testing.F) {
	for _, s := range imageRefCorpus {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) { compareImageRef(t, s) })
}

func compareImageRef(t *testing.T, s string) {
	t.Helper()
	got, err := ParseImageRef(s)
	named, uerr := reference.ParseNormalizedNamed(s)
	if (err == nil) != (uerr == nil) {
		t.Fatalf("%q: ParseImageRef err = %v, distribution/reference err = %v", s, err, uerr)
	}
	if err != nil {
		return
	}
	var tag, dig string
	if tg, ok := named.(reference.Tagged); ok {
		tag = tg.Tag()
	}
	if d, ok := named.(reference.Digested); ok {
		dig = d.Digest().String()
	}
	if got.Name() != named.Name() || got.Domain != reference.Domain(named) || got.Path != reference.Path(named) || got.Tag != tag || got.Digest != dig {
		t.Fatalf("%q: ParseImageRef = %+v, distribution/reference name %q tag %q digest %q", s, got, named.Name(), tag, dig)
	}
}

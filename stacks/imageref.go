package stacks

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// The container image reference grammar of the distribution project
// (github.com/distribution/reference, the grammar containerd and the
// kubelet resolve images with), written out from its published grammar:
//
//	reference  := name [ ":" tag ] [ "@" digest ]
//	name       := [domain '/'] path
//	domain     := host [':' port]; host := domain-name | '[' IPv6 ']'
//	path       := path-component ['/' path-component]*
//	path-component := [a-z0-9]+ (separator [a-z0-9]+)*; separator := [_.] | __ | -+
//	tag        := [\w][\w.-]{0,127}
//	digest     := algorithm ':' hex; algorithm := [A-Za-z][A-Za-z0-9]* ([-_+.] [A-Za-z][A-Za-z0-9]*)*
//
// TestImageRefMatchesDistributionReference compares ParseImageRef with the
// served module's ParseNormalizedNamed.
var (
	imageRefRE = func() *regexp.Regexp {
		const (
			domainComponent = `(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])`
			host            = `(?:` + domainComponent + `(?:\.` + domainComponent + `)*|\[[a-fA-F0-9:]+\])`
			domain          = host + `(?::[0-9]+)?`
			pathComponent   = `[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*`
			path            = pathComponent + `(?:/` + pathComponent + `)*`
			tag             = `[\w][\w.-]{0,127}`
			digest          = `[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}`
		)
		// The registry is optional here: a first component that looked like
		// a registry but is not one (0.0_0/x) is read as part of the path.
		return regexp.MustCompile(`^(?:(` + domain + `)/)?(` + path + `)(?::(` + tag + `))?(?:@(` + digest + `))?$`)
	}()
	imageIDRE = regexp.MustCompile(`^[a-f0-9]{64}$`)
	// digestHexLen are the digest algorithms registries use (those of
	// github.com/opencontainers/go-digest) with their lower-case hex length.
	digestHexLen = map[string]int{"sha256": 64, "sha384": 96, "sha512": 128}
	lowerHexRE   = regexp.MustCompile(`^[a-f0-9]+$`)
)

// maxImagePath is the longest repository path a registry accepts.
const maxImagePath = 255

// ImageRef is a parsed, normalized container image reference: a name
// without a registry is Docker Hub's (docker.io, library/ for one path
// component), as the kubelet pulls it.
type ImageRef struct {
	Domain string
	Path   string
	Tag    string
	// Digest is algorithm:hex, or "" when the reference has none.
	Digest string
}

// Name is the repository: domain/path (path alone when there is no registry).
func (r ImageRef) Name() string {
	if r.Domain == "" {
		return r.Path
	}
	return r.Domain + "/" + r.Path
}

// ParseImageRef parses s as the kubelet would resolve it.
func ParseImageRef(s string) (ImageRef, error) {
	switch {
	case s == "":
		return ImageRef{}, errors.New("empty image reference")
	case imageIDRE.MatchString(s):
		return ImageRef{}, fmt.Errorf("%q is a 64-hex image ID, not a reference (want registry/repository@sha256:<digest>)", s)
	}
	domain, rest := splitImageDomain(s)
	repo := rest
	if i := strings.IndexAny(rest, ":@"); i >= 0 {
		repo = rest[:i]
	}
	if strings.ToLower(repo) != repo {
		return ImageRef{}, fmt.Errorf("repository %q must be lower case", repo)
	}
	m := imageRefRE.FindStringSubmatch(domain + "/" + rest)
	if m == nil {
		return ImageRef{}, fmt.Errorf("%q is not an image reference (registry/repository[:tag][@sha256:<digest>])", s)
	}
	ref := ImageRef{Domain: m[1], Path: m[2], Tag: m[3], Digest: m[4]}
	if len(ref.Path) > maxImagePath {
		return ImageRef{}, fmt.Errorf("repository path of %q is %d characters, more than %d", s, len(ref.Path), maxImagePath)
	}
	if ref.Digest != "" {
		alg, hex, _ := strings.Cut(ref.Digest, ":")
		n, ok := digestHexLen[alg]
		switch {
		case !ok:
			return ImageRef{}, fmt.Errorf("digest %q: unsupported algorithm %s; accepted are sha256, sha384, sha512", ref.Digest, alg)
		case len(hex) != n || !lowerHexRE.MatchString(hex):
			return ImageRef{}, fmt.Errorf("digest %q: %s wants %d lower-case hex digits", ref.Digest, alg, n)
		}
	}
	return ref, nil
}

// splitImageDomain splits off the registry the way Docker names resolve:
// the first component is a registry when it has a dot or a colon, is
// localhost, or has upper case (a path never does); otherwise the image
// is on Docker Hub, official images under library/.
func splitImageDomain(s string) (domain, rest string) {
	first, after, ok := strings.Cut(s, "/")
	switch {
	case !ok:
		domain, rest = "docker.io", s
	case first == "localhost" || strings.ContainsAny(first, ".:") || strings.ToLower(first) != first:
		domain, rest = first, after
	default:
		domain, rest = "docker.io", s
	}
	if domain == "index.docker.io" {
		domain = "docker.io"
	}
	if domain == "docker.io" && !strings.Contains(rest, "/") {
		rest = "library/" + rest
	}
	return domain, rest
}

// DemoImageRepository is the 2048 demo's image repository. Its digest is
// not knowable offline, so the stack never picks one: the user sets
// eksnet:addons.demoImage to this repository (or a mirror) at a digest.
const DemoImageRepository = "public.ecr.aws/l6m2t8p7/docker-2048"

// checkDemoImage checks eksnet:addons.demoImage: a reference pinned by
// digest, so every node runs the same bytes and a pushed tag changes nothing.
func checkDemoImage(image string) error {
	if image == "" {
		return nil
	}
	ref, err := ParseImageRef(image)
	if err != nil {
		return fmt.Errorf("eksnet:addons.demoImage %q: %w", image, err)
	}
	if ref.Digest == "" {
		return fmt.Errorf("eksnet:addons.demoImage %q: not pinned by digest; a tag can be moved to other bytes, so write the image as %s@sha256:<digest> (look the digest up with `crane digest %s` or `docker buildx imagetools inspect %s`)", image, ref.Name(), image, image)
	}
	return nil
}

package infra

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/s3"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/eksnet/eksnet/bootstrap/bundle"
	"github.com/eksnet/eksnet/stacks"
)

// Architectures the program uploads a node bundle for.
var Architectures = bundle.Architectures

// AgentBinary is one node bundle (eksnet-agent and eksnet-cni for one
// architecture, see bootstrap/bundle) as the program uploads it.
type AgentBinary struct {
	Arch string
	// Path is the local bundle file, or "" for the placeholder.
	Path string
	// Content is the placeholder's bytes when Path is "".
	Content []byte
	SHA256  string
	// Placeholder is true when no bundle was configured.
	Placeholder bool
}

// PlaceholderMessage is what each placeholder member prints before it
// exits 1.
func PlaceholderMessage(member, arch, version string) string {
	return fmt.Sprintf("%s %s/%s placeholder: build the node bundle (eksnet bundle) and set eksnet:cni.agent.%sPath", member, version, arch, arch)
}

// PlaceholderBundle returns the stand-in uploaded when no bundle is
// configured: a valid node bundle whose members (eksnet-agent, eksnet-cni
// and the companion plugins) are scripts that print PlaceholderMessage and exit 1, hashed for real, so
// plan and preview render exactly the user data `up` would (and a node
// booted from it stops with a message instead of running something
// unverified).
func PlaceholderBundle(arch, version string) ([]byte, error) {
	script := func(member string) []byte {
		return []byte("#!/bin/sh\necho '" + strings.ReplaceAll(PlaceholderMessage(member, arch, version), "'", `'\''`) + "' >&2\nexit 1\n")
	}
	contents := map[string][]byte{}
	for _, m := range bundle.Members {
		contents[m] = script(m)
	}
	b, err := bundle.PackNode(contents)
	if err != nil {
		return nil, fmt.Errorf("placeholder %s bundle: %w", arch, err)
	}
	return b, nil
}

// ResolveAgentBinaries decides what is uploaded per architecture: the
// configured bundle (checked to be one, its SHA-256 computed and compared
// with the configured one if given) or the placeholder.
func ResolveAgentBinaries(a stacks.AgentBinaries) ([]AgentBinary, error) {
	var out []AgentBinary
	for _, arch := range Architectures {
		path, want := a.AMD64Path, a.AMD64SHA256
		if arch == "arm64" {
			path, want = a.ARM64Path, a.ARM64SHA256
		}
		b := AgentBinary{Arch: arch, Path: path}
		var content []byte
		var err error
		if path == "" {
			if content, err = PlaceholderBundle(arch, a.Version); err != nil {
				return nil, err
			}
			b.Content, b.Placeholder = content, true
		} else {
			if content, err = os.ReadFile(path); err != nil {
				return nil, fmt.Errorf("eksnet:cni.agent.%sPath: read node bundle: %w", arch, err)
			}
			if err := bundle.Verify(bytes.NewReader(content)); err != nil {
				return nil, fmt.Errorf("eksnet:cni.agent.%sPath %s: not an eksnet node bundle (%w); build one with `eksnet bundle --arch %s` and set eksnet:cni.agent.%sPath to the %s it writes",
					arch, path, err, arch, arch, bundle.FileName(arch))
			}
		}
		sum := sha256.Sum256(content)
		b.SHA256 = hex.EncodeToString(sum[:])
		if want != "" && !strings.EqualFold(want, b.SHA256) {
			return nil, fmt.Errorf("eksnet:cni.agent.%sSha256 %s: the file %s hashes to %s", arch, want, path, b.SHA256)
		}
		out = append(out, b)
	}
	return out, nil
}

// AgentBundle is the private bucket holding the node bundles nodes fetch.
type AgentBundle struct {
	pulumi.ResourceState
	Bucket   *s3.BucketV2
	Objects  map[string]*s3.BucketObjectv2 // by arch
	Binaries []AgentBinary
	// URLs are s3:// URLs by arch, known once the bucket exists.
	URLs pulumi.StringMapOutput
}

// AgentKey is the object key of a node bundle. It carries the bundle's
// SHA-256 because the version alone ("dev" in every preset) names every
// rebuild the same: `up` would overwrite the object a launch template
// version still points at, and any node booted from that version later
// (scale-out, replacement, rollback) would fetch the new bytes, fail the
// digest check in user data and never join. With the digest in the key
// each launch template version keeps the object it was rendered with.
func AgentKey(version, arch, sha256 string) string {
	return "eksnet-node/" + version + "/linux-" + arch + "/" + sha256 + "/eksnet-node.tar.gz"
}

// NewAgentBundle uploads the node bundles to a private, encrypted bucket.
func NewAgentBundle(ctx *pulumi.Context, name string, cfg stacks.Config, opts ...pulumi.ResourceOption) (*AgentBundle, error) {
	c := &AgentBundle{Objects: map[string]*s3.BucketObjectv2{}}
	if err := ctx.RegisterComponentResource("eksnet:infra:AgentBundle", name, c, opts...); err != nil {
		return nil, fmt.Errorf("register agent bundle %s: %w", name, err)
	}
	bins, err := ResolveAgentBinaries(cfg.CNI.Agent)
	if err != nil {
		return nil, err
	}
	c.Binaries = bins
	parent := pulumi.Parent(c)
	c.Bucket, err = s3.NewBucketV2(ctx, name, &s3.BucketV2Args{
		ForceDestroy: pulumi.Bool(!cfg.Protect),
		Tags:         pulumi.StringMap{"eksnet.io/stack": pulumi.String(cfg.Env), TagCluster: pulumi.String(cfg.ClusterName)},
	}, parent, pulumi.Protect(cfg.Protect))
	if err != nil {
		return nil, fmt.Errorf("agent bucket: %w", err)
	}
	block, err := s3.NewBucketPublicAccessBlock(ctx, name, &s3.BucketPublicAccessBlockArgs{
		Bucket: c.Bucket.ID(), BlockPublicAcls: pulumi.Bool(true), BlockPublicPolicy: pulumi.Bool(true),
		IgnorePublicAcls: pulumi.Bool(true), RestrictPublicBuckets: pulumi.Bool(true),
	}, parent)
	if err != nil {
		return nil, fmt.Errorf("agent bucket public access block: %w", err)
	}
	if _, err := s3.NewBucketServerSideEncryptionConfigurationV2(ctx, name, &s3.BucketServerSideEncryptionConfigurationV2Args{
		Bucket: c.Bucket.ID(),
		Rules: s3.BucketServerSideEncryptionConfigurationV2RuleArray{s3.BucketServerSideEncryptionConfigurationV2RuleArgs{
			ApplyServerSideEncryptionByDefault: s3.BucketServerSideEncryptionConfigurationV2RuleApplyServerSideEncryptionByDefaultArgs{SseAlgorithm: pulumi.String("AES256")},
		}},
	}, parent); err != nil {
		return nil, fmt.Errorf("agent bucket encryption: %w", err)
	}
	urls := pulumi.StringMap{}
	for _, b := range bins {
		key := AgentKey(cfg.CNI.Agent.Version, b.Arch, b.SHA256)
		oargs := &s3.BucketObjectv2Args{
			Bucket:      c.Bucket.ID(),
			Key:         pulumi.String(key),
			ContentType: pulumi.String(bundle.ContentType),
			// The metadata carries the digest so anyone can check the object
			// against what user data verifies.
			Metadata: pulumi.StringMap{"sha256": pulumi.String(b.SHA256)},
		}
		if b.Placeholder {
			oargs.ContentBase64 = pulumi.String(toBase64(b.Content))
		} else {
			oargs.Source = pulumi.NewFileAsset(b.Path)
		}
		// A new digest means a new key, which Pulumi implements as a
		// replacement: it would delete the old object once the update is
		// done, although older launch template versions still name it.
		// RetainOnDelete keeps it; the bucket's ForceDestroy (or deleting
		// eksnet-node/ prefixes no launch template version names) clears them.
		obj, err := s3.NewBucketObjectv2(ctx, name+"-"+b.Arch, oargs, parent,
			pulumi.DependsOn([]pulumi.Resource{block}), pulumi.RetainOnDelete(true))
		if err != nil {
			return nil, fmt.Errorf("agent object %s: %w", key, err)
		}
		c.Objects[b.Arch] = obj
		urls[b.Arch] = pulumi.Sprintf("s3://%s/%s", obj.Bucket, obj.Key)
	}
	c.URLs = urls.ToStringMapOutput()
	if err := ctx.RegisterResourceOutputs(c, pulumi.Map{"bucket": c.Bucket.Bucket, "urls": c.URLs}); err != nil {
		return nil, fmt.Errorf("register agent bundle outputs: %w", err)
	}
	return c, nil
}

func toBase64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// RequireDeployable is what an update needs beyond Validate: the real
// node bundles, a named audience for every public surface and nothing
// left floating (stacks.Config.RequirePinned). `eksnet plan` lists the
// same refusals, so a stack that plans clean deploys.
func RequireDeployable(cfg stacks.Config) error {
	return errors.Join(RequireAgentBuilds(cfg), cfg.ValidateExposure(), cfg.RequirePinned())
}

// RequireAgentBuilds refuses placeholder bundles for the architectures the
// node groups run: an update would boot nodes whose agent is a script that
// exits 1. Plans and previews may use placeholders.
func RequireAgentBuilds(cfg stacks.Config) error {
	if cfg.CNI.Mode != stacks.CNIAgent {
		return nil
	}
	bins, err := ResolveAgentBinaries(cfg.CNI.Agent)
	if err != nil {
		return err
	}
	pods, err := cfg.NodeGroupPods()
	if err != nil {
		return err
	}
	var missing []string
	example := ""
	for _, b := range bins {
		if !b.Placeholder {
			continue
		}
		for _, p := range pods {
			if p.Arch == b.Arch {
				missing = append(missing, fmt.Sprintf("eksnet:cni.agent.%sPath (node group %s)", b.Arch, p.Name))
				example = fmt.Sprintf("eksnet bundle --arch %s --stack %s` prints `pulumi config set --path eksnet:cni.agent.%sPath bin/%s -s %s", b.Arch, cfg.Env, b.Arch, bundle.FileName(b.Arch), cfg.Env)
			}
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("agent mode needs the node bundles before up: set %s (e.g. `%s`), or set eksnet:cni.mode to aws-vpc-cni",
			strings.Join(missing, ", "), example)
	}
	return nil
}

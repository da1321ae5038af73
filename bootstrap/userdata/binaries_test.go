package userdata

import (
	"errors"
	"maps"
	"strings"
	"testing"
)

func TestAgentBinaries(t *testing.T) {
	tests := []struct {
		name    string
		url     string
		sums    []string
		want    map[string]AgentBinary
		wantErr string
	}{
		{name: "none", want: nil},
		{name: "bare digest is amd64", url: "https://a.example/agent", sums: []string{testSHAAmd64},
			want: map[string]AgentBinary{"amd64": {URL: "https://a.example/agent", SHA256: testSHAAmd64}}},
		{name: "placeholder expands per arch", url: "s3://bucket/{arch}/eksnet-agent", sums: []string{"amd64=" + testSHAAmd64, "arm64=" + testSHAArm64},
			want: map[string]AgentBinary{
				"amd64": {URL: "s3://bucket/amd64/eksnet-agent", SHA256: testSHAAmd64},
				"arm64": {URL: "s3://bucket/arm64/eksnet-agent", SHA256: testSHAArm64},
			}},
		{name: "digest without URL", sums: []string{testSHAAmd64}, wantErr: "without a URL"},
		{name: "URL without digest", url: "https://a.example/agent", wantErr: "without a SHA-256"},
		{name: "unknown arch", url: "https://a.example/{arch}", sums: []string{"x86_64=" + testSHAAmd64}, wantErr: "amd64, arm64"},
		{name: "two digests for one arch", url: "https://a.example/{arch}", sums: []string{"arm64=" + testSHAArm64, "arm64=" + testSHAAmd64}, wantErr: "second SHA-256 for arm64"},
		{name: "two arches one URL", url: "https://a.example/agent", sums: []string{"amd64=" + testSHAAmd64, "arm64=" + testSHAArm64}, wantErr: "put {arch} in the URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := AgentBinaries(tt.url, tt.sums)
			if tt.wantErr != "" {
				var fe *FieldError
				if !errors.As(err, &fe) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("AgentBinaries error = %v, want a FieldError with %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || !maps.Equal(got, tt.want) {
				t.Errorf("AgentBinaries = %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}

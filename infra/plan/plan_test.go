package plan

import (
	"bytes"
	"context"
	"testing"

	"github.com/eksnet/eksnet/stacks"
)

func TestRunDev(t *testing.T) {
	cfg, err := stacks.Preset("dev", "dev", "us-west-2")
	if err != nil {
		t.Fatal(err)
	}
	p, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := WriteText(&buf, p); err != nil {
		t.Fatal(err)
	}
	t.Log(buf.String())
}

package cloud

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
)

// NewEC2Client builds an EC2 client with the standard credential chain
// (environment, shared config, then the instance role through IMDS at
// imdsEndpoint), the region from IMDS unless AWS_REGION says otherwise, and
// endpoint as the EC2 endpoint when not empty.
//
// The SDK's standard retryer absorbs short throttling bursts (jittered
// exponential backoff, 5 attempts); its client-side retry quota is off
// because the warm pool paces itself on top and must not be locked out of
// EC2 for minutes after a burst of throttles.
//
// onRetry, when set, sees the AWS error code of every attempt the SDK
// retries, so throttling shows in metrics even when a retry then succeeds.
func NewEC2Client(ctx context.Context, region, imdsEndpoint, endpoint string, onRetry func(code string)) (*ec2.Client, error) {
	opts := []func(*awsconfig.LoadOptions) error{
		awsconfig.WithEC2IMDSEndpoint(imdsEndpoint),
		awsconfig.WithRetryer(func() aws.Retryer {
			std := retry.NewStandard(func(o *retry.StandardOptions) {
				o.MaxAttempts = 5
				o.MaxBackoff = 5 * time.Second
				o.RateLimiter = ratelimit.None
			})
			if onRetry == nil {
				return std
			}
			return countingRetryer{RetryerV2: std, onRetry: onRetry}
		}),
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("loading AWS configuration: %w", err)
	}
	if cfg.Region == "" {
		cfg.Region = region
	}
	return ec2.NewFromConfig(cfg, func(o *ec2.Options) {
		if endpoint != "" {
			o.BaseEndpoint = aws.String(endpoint)
		}
	}), nil
}

// countingRetryer reports each retry the SDK is about to make.
type countingRetryer struct {
	aws.RetryerV2
	onRetry func(code string)
}

func (r countingRetryer) RetryDelay(attempt int, err error) (time.Duration, error) {
	code := Code(err)
	if code == "" {
		code = "Transport"
	}
	r.onRetry(code)
	return r.RetryerV2.RetryDelay(attempt, err)
}

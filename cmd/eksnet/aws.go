package main

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/eksnet/eksnet/stacks"
)

// awsConfig is the AWS SDK configuration every command that calls AWS
// directly uses: the stack's region, its aws:profile, and static
// credentials from the app's environment when given (else the SDK's chain).
func (a *app) awsConfig(ctx context.Context, cfg stacks.Config) (aws.Config, error) {
	opts := []func(*config.LoadOptions) error{config.WithRegion(cfg.Region)}
	if p := cfg.Cluster.KubeconfigProfile; p != "" {
		opts = append(opts, config.WithSharedConfigProfile(p))
	}
	if id, secret := a.getenv("AWS_ACCESS_KEY_ID"), a.getenv("AWS_SECRET_ACCESS_KEY"); id != "" && secret != "" {
		opts = append(opts, config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(id, secret, a.getenv("AWS_SESSION_TOKEN"))))
	}
	awsCfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return aws.Config{}, fmt.Errorf("aws config for stack %s: %w", cfg.Env, err)
	}
	return awsCfg, nil
}

// endpoint returns the app's AWS_ENDPOINT_URL_<SERVICE> as a base endpoint
// (nil when unset), as the SDK reads it from the process environment.
func (a *app) endpoint(service string) *string {
	if ep := a.getenv("AWS_ENDPOINT_URL_" + service); ep != "" {
		return aws.String(ep)
	}
	return nil
}

// ssmClient is an SSM client for the stack; AWS_ENDPOINT_URL_SSM moves it.
func (a *app) ssmClient(ctx context.Context, cfg stacks.Config) (*ssm.Client, error) {
	awsCfg, err := a.awsConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	return ssm.NewFromConfig(awsCfg, func(o *ssm.Options) {
		if ep := a.endpoint("SSM"); ep != nil {
			o.BaseEndpoint = ep
		}
	}), nil
}

// ec2Client is an EC2 client for the stack; AWS_ENDPOINT_URL_EC2 moves it
// (the simulated VPC's fake EC2, in tests).
func (a *app) ec2Client(ctx context.Context, cfg stacks.Config) (*ec2.Client, error) {
	awsCfg, err := a.awsConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	return ec2.NewFromConfig(awsCfg, func(o *ec2.Options) {
		if ep := a.endpoint("EC2"); ep != nil {
			o.BaseEndpoint = ep
		}
	}), nil
}

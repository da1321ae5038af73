// Package cloud is the agent's thin adapter to AWS: the EC2 calls it makes
// (behind a consumer-side interface with the SDK's own signatures, so
// *ec2.Client fits and so does an SDK client pointed at the simulated VPC),
// the instance metadata it reads (IMDSv2 only), and the one place that
// classifies AWS error codes into what the warm pool reacts to: throttled
// (slow down), out of addresses (pause), not found (already gone), server
// side (retry later).
package cloud

import (
	"context"
	"errors"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/smithy-go"
)

// Code returns the AWS error code of err ("" when err is not an AWS API error).
func Code(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// IsThrottled reports whether EC2 asked the caller to slow down.
func IsThrottled(err error) bool {
	switch Code(err) {
	case "RequestLimitExceeded", "Throttling", "ThrottlingException", "RequestThrottled",
		"RequestThrottledException", "EC2ThrottledException", "TooManyRequestsException", "SlowDown":
		return true
	}
	return false
}

// IsOutOfAddresses reports whether the subnet cannot give more addresses or
// /28 prefixes; asking again soon only burns API quota, so the warm pool
// pauses growing.
func IsOutOfAddresses(err error) bool {
	switch Code(err) {
	case "InsufficientCidrBlocks", "InsufficientFreeAddressesInSubnet":
		return true
	}
	return false
}

// IsNotFound reports whether the ENI or attachment no longer exists, which a
// delete or detach treats as done.
func IsNotFound(err error) bool {
	switch Code(err) {
	case "InvalidNetworkInterfaceID.NotFound", "InvalidAttachmentID.NotFound", "InvalidNetworkInterfaceId.NotFound":
		return true
	}
	return false
}

// IsServerError reports an AWS-side failure (5xx) worth retrying later.
func IsServerError(err error) bool {
	switch Code(err) {
	case "InternalError", "InternalFailure", "ServiceUnavailable", "Unavailable":
		return true
	}
	return httpStatus(err) >= http.StatusInternalServerError
}

// IsConnectionError reports a failure of the connection rather than an
// answer (reset, refused, closed under a read, a network timeout), by the
// SDK's own rule, so what its standard retryer would retry is retried by
// callers that pace themselves too.
func IsConnectionError(err error) bool {
	return retry.RetryableConnectionError{}.IsErrorRetryable(err) == aws.TrueTernary
}

// IsTransient reports an error worth retrying the same call for:
// throttling, a server-side failure or a broken connection.
func IsTransient(err error) bool {
	return IsThrottled(err) || IsServerError(err) || IsConnectionError(err)
}

// AttachOutcomeUnknown reports an attach error that does not say whether
// the attach took effect: a server error or a broken connection (EC2 may
// have acted before the answer was lost), the caller's deadline, or
// InvalidNetworkInterface.InUse (the ENI is attached, perhaps by that very
// call's lost first attempt). Throttling is a definite no.
func AttachOutcomeUnknown(err error) bool {
	return IsServerError(err) || IsConnectionError(err) || errors.Is(err, context.DeadlineExceeded) ||
		Code(err) == "InvalidNetworkInterface.InUse"
}

// httpStatus returns the HTTP status of an SDK response error (EC2's and
// IMDS's error types differ but both carry it), 0 when there is none.
func httpStatus(err error) int {
	var re interface{ HTTPStatusCode() int }
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

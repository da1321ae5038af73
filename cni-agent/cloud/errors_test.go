package cloud

import (
	"errors"
	"fmt"
	"net/http"
	"testing"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

func TestClassify(t *testing.T) {
	api := func(code string) error {
		return fmt.Errorf("assigning 1 prefixes to ENI eni-1: %w", &smithy.GenericAPIError{Code: code, Message: "m"})
	}
	status := func(code int) error {
		return &awshttp.ResponseError{ResponseError: &smithyhttp.ResponseError{
			Response: &smithyhttp.Response{Response: &http.Response{StatusCode: code}}, Err: errors.New("boom")}}
	}
	for _, tc := range []struct {
		err                                  error
		code                                 string
		throttled, outOfAddr, notFound, five bool
	}{
		{api("RequestLimitExceeded"), "RequestLimitExceeded", true, false, false, false},
		{api("Throttling"), "Throttling", true, false, false, false},
		{api("InsufficientCidrBlocks"), "InsufficientCidrBlocks", false, true, false, false},
		{api("InsufficientFreeAddressesInSubnet"), "InsufficientFreeAddressesInSubnet", false, true, false, false},
		{api("InvalidNetworkInterfaceID.NotFound"), "InvalidNetworkInterfaceID.NotFound", false, false, true, false},
		{api("InvalidAttachmentID.NotFound"), "InvalidAttachmentID.NotFound", false, false, true, false},
		{api("InternalError"), "InternalError", false, false, false, true},
		{status(503), "", false, false, false, true},
		{errors.New("dial tcp: refused"), "", false, false, false, false},
	} {
		if got := Code(tc.err); got != tc.code {
			t.Errorf("Code(%v) = %q, want %q", tc.err, got, tc.code)
		}
		if IsThrottled(tc.err) != tc.throttled || IsOutOfAddresses(tc.err) != tc.outOfAddr ||
			IsNotFound(tc.err) != tc.notFound || IsServerError(tc.err) != tc.five {
			t.Errorf("%v: throttled=%v outOfAddresses=%v notFound=%v server=%v", tc.err,
				IsThrottled(tc.err), IsOutOfAddresses(tc.err), IsNotFound(tc.err), IsServerError(tc.err))
		}
	}
}

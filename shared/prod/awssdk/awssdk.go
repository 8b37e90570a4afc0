// Package awssdk is what every AWS SDK configuration of this project gets,
// in Lambda, in the ops tool and against the local servers alike.
package awssdk

import (
	"context"
	"fmt"
	"io"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// LoadDefault is awsconfig.LoadDefaultConfig, then Apply.
func LoadDefault(ctx context.Context, opts ...func(*awsconfig.LoadOptions) error) (aws.Config, error) {
	cfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return aws.Config{}, err
	}
	return Apply(cfg), nil
}

// Apply returns cfg with the project's SDK middleware added, once: clients
// built from it send request bodies that cannot cut their own response (see
// requestBodyMiddleware). cfg's own APIOptions are not modified.
func Apply(cfg aws.Config) aws.Config {
	cfg.APIOptions = append(slices.Clip(cfg.APIOptions), addRequestBodyMiddleware)
	return cfg
}

// RequestBodyMiddlewareID names the middleware in a client's stack.
const RequestBodyMiddlewareID = "upvest-webhooks/RequestBodyWithoutWriteTo"

func addRequestBodyMiddleware(stack *middleware.Stack) error {
	if _, ok := stack.Finalize.Get(RequestBodyMiddlewareID); ok {
		return nil // Apply ran twice on one config
	}
	return stack.Finalize.Add(requestBodyMiddleware, middleware.After)
}

// requestBodyMiddleware hides io.WriterTo on each attempt's request body.
//
// Why: Go's HTTP transport writes a request in a goroutine of its own and
// returns the response as soon as it arrives, which can be before that
// goroutine has finished. After the body's declared length it copies what is
// left of the body, to check there is nothing more. smithy-go closes the body
// as soon as the transport returns, and its body wrapper's WriteTo then
// answers io.EOF as an error. The transport takes that for a failed write and
// closes the connection, cutting the response while the SDK reads it ("use of
// closed network connection"). The SDK retries the call: a ReceiveMessage's
// messages then stay in flight until their visibility timeout, and a
// conditional write that succeeded fails on its retry. Without WriteTo the
// transport copies with Read, which reports a closed body as a plain end.
// Seen on the local servers under load, where that goroutine is now and then
// late to run; in a Lambda short of CPU it can be late too.
var requestBodyMiddleware = middleware.FinalizeMiddlewareFunc(RequestBodyMiddlewareID,
	func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
		if req, ok := in.Request.(*smithyhttp.Request); ok {
			if body, ok := req.GetStream().(readSeekWriterTo); ok {
				rewrapped, err := req.SetStream(readSeekerOnly{body})
				if err != nil {
					return middleware.FinalizeOutput{}, middleware.Metadata{}, fmt.Errorf("rewrap the request body without WriteTo: %w", err)
				}
				in.Request = rewrapped
			}
		}
		return next.HandleFinalize(ctx, in)
	})

// readSeekWriterTo is a request body the middleware rewraps: only a seekable
// one, so that the SDK can still rewind it for a retry.
type readSeekWriterTo interface {
	io.ReadSeeker
	io.WriterTo
}

// readSeekerOnly is a body with Read and Seek, and no WriteTo.
type readSeekerOnly struct{ io.ReadSeeker }

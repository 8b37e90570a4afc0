package subscription

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	awslambda "github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/signature"
)

// ParameterReader reads the JWKS parameter; *ssm.Client is one.
type ParameterReader interface {
	GetParameter(ctx context.Context, in *ssm.GetParameterInput, opts ...func(*ssm.Options)) (*ssm.GetParameterOutput, error)
}

// FunctionInvoker runs the key sync; *lambda.Client is one.
type FunctionInvoker interface {
	Invoke(ctx context.Context, in *awslambda.InvokeInput, opts ...func(*awslambda.Options)) (*awslambda.InvokeOutput, error)
}

var (
	_ ParameterReader = (*ssm.Client)(nil)
	_ FunctionInvoker = (*awslambda.Client)(nil)
)

// KeysGate is the Handler's KeysReady: the JWKS parameter must hold keys
// verification can use. When it does not yet (a first deploy), the key sync
// function is run once, now, rather than waiting up to 15 minutes for its
// schedule, and the parameter is read again.
type KeysGate struct {
	Params    ParameterReader
	Parameter string
	// Functions and KeySyncFunction run the key sync; empty KeySyncFunction: never.
	Functions       FunctionInvoker
	KeySyncFunction string
}

// Ready reports whether the parameter holds usable keys, running the key sync once if not.
func (g KeysGate) Ready(ctx context.Context) error {
	err := g.check(ctx)
	if err == nil || g.KeySyncFunction == "" {
		return err
	}
	out, ierr := g.Functions.Invoke(ctx, &awslambda.InvokeInput{FunctionName: aws.String(g.KeySyncFunction)})
	switch {
	case ierr != nil:
		return fmt.Errorf("%w; running the key sync failed: %v", err, ierr)
	case out.FunctionError != nil:
		return fmt.Errorf("%w; the key sync failed: %s", err, out.Payload)
	}
	return g.check(ctx)
}

func (g KeysGate) check(ctx context.Context) error {
	out, err := g.Params.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(g.Parameter)})
	if err != nil {
		return fmt.Errorf("read %s: %w", g.Parameter, err)
	}
	if out.Parameter == nil || out.Parameter.Value == nil {
		return errors.New(g.Parameter + " is empty")
	}
	if _, _, err := signature.ParseJWKS([]byte(*out.Parameter.Value)); err != nil {
		return fmt.Errorf("%s: %w", g.Parameter, err)
	}
	return nil
}

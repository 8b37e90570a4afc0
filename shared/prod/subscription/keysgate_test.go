package subscription_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awslambda "github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/signature"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/subscription"
)

// parameter is an SSM parameter that the key sync fills when it runs.
type parameter struct {
	value *string
	reads int
}

func (p *parameter) GetParameter(context.Context, *ssm.GetParameterInput, ...func(*ssm.Options)) (*ssm.GetParameterOutput, error) {
	p.reads++
	if p.value == nil {
		return nil, errors.New("ParameterNotFound")
	}
	return &ssm.GetParameterOutput{Parameter: &ssmtypes.Parameter{Value: p.value}}, nil
}

// keySync writes jwks into the parameter when invoked, or fails.
type keySync struct {
	param   *parameter
	jwks    string
	fail    string // a FunctionError
	invoked []string
}

func (k *keySync) Invoke(_ context.Context, in *awslambda.InvokeInput, _ ...func(*awslambda.Options)) (*awslambda.InvokeOutput, error) {
	k.invoked = append(k.invoked, aws.ToString(in.FunctionName))
	if k.fail != "" {
		return &awslambda.InvokeOutput{FunctionError: aws.String("Unhandled"), Payload: []byte(k.fail)}, nil
	}
	k.param.value = aws.String(k.jwks)
	return &awslambda.InvokeOutput{}, nil
}

func TestKeysGate(t *testing.T) {
	_, jwks, _, err := signature.GenerateDevKey()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name      string
		stored    *string // the parameter before the gate runs
		function  string  // the key sync function's name
		fail      string
		wantErr   string // "" ready
		wantCalls int    // key sync invocations
	}{
		{name: "keys already there", stored: aws.String(string(jwks)), function: "keysync"},
		{name: "empty on a first deploy: the key sync runs once and fills it", function: "keysync", wantCalls: 1},
		{name: "not usable JWKS, no key sync to run", stored: aws.String(`{"keys":[]}`), wantErr: "/jwks"},
		{name: "the key sync fails: both reasons", function: "keysync", fail: "scope refused", wantErr: "the key sync failed: scope refused", wantCalls: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := &parameter{value: tc.stored}
			k := &keySync{param: p, jwks: string(jwks), fail: tc.fail}
			gate := subscription.KeysGate{Params: p, Parameter: "/jwks", Functions: k, KeySyncFunction: tc.function}
			err := gate.Ready(context.Background())
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("Ready: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("Ready = %v, want an error containing %q", err, tc.wantErr)
			}
			if len(k.invoked) != tc.wantCalls || (tc.wantCalls > 0 && k.invoked[0] != tc.function) {
				t.Errorf("key sync invoked %v, want %d call(s) of %q", k.invoked, tc.wantCalls, tc.function)
			}
		})
	}
}

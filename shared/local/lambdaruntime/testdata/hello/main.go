// Command hello is the smallest aws-lambda-go function: the baseline of the
// init-time benchmark and the runtime client the tests of package
// lambdaruntime check the Runtime API against. It echoes the invocation's
// context, fails on {"fail":true}, panics on {"panic":true}, and with
// HELLO_INIT_ERROR set reports an init error the way a custom runtime does.
package main

import (
	"context"
	"errors"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
)

type request struct {
	Name  string `json:"name"`
	Fail  bool   `json:"fail"`
	Panic bool   `json:"panic"`
}

type answer struct {
	Hello       string `json:"hello"`
	RequestID   string `json:"request_id"`
	FunctionARN string `json:"function_arn"`
	DeadlineMs  int64  `json:"deadline_ms"`
	TraceID     string `json:"trace_id"`
	Env         string `json:"env"`
}

func handle(ctx context.Context, req request) (answer, error) {
	if req.Fail {
		return answer{}, errors.New("asked to fail")
	}
	if req.Panic {
		panic("asked to panic")
	}
	lc, _ := lambdacontext.FromContext(ctx)
	deadline, _ := ctx.Deadline()
	trace, _ := ctx.Value("x-amzn-trace-id").(string)
	return answer{
		Hello: req.Name, RequestID: lc.AwsRequestID, FunctionARN: lc.InvokedFunctionArn,
		DeadlineMs: deadline.UnixMilli(), TraceID: trace, Env: os.Getenv("HELLO_ENV"),
	}, nil
}

func main() {
	if msg := os.Getenv("HELLO_INIT_ERROR"); msg != "" {
		url := "http://" + os.Getenv("AWS_LAMBDA_RUNTIME_API") + "/2018-06-01/runtime/init/error"
		body := `{"errorType":"Hello.InitError","errorMessage":"` + msg + `"}`
		req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
		req.Header.Set("Lambda-Runtime-Function-Error-Type", "Hello.InitError")
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
		time.Sleep(time.Minute) // Lambda ends the environment; the test stops it
		os.Exit(1)
	}
	if os.Getenv("HELLO_EXIT") != "" {
		os.Exit(3)
	}
	lambda.Start(handle)
}

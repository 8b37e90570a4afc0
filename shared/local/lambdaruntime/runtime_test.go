package lambdaruntime_test

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/upvest-webhooks/upvest-webhooks/infra/lambdabuild"
	"github.com/upvest-webhooks/upvest-webhooks/shared/local/lambdaruntime"
)

var (
	helloOnce sync.Once
	helloBin  string
	helloDir  string // removed when the tests end
	helloErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if helloDir != "" {
		_ = os.RemoveAll(helloDir) // 6 MB a run on a shared machine
	}
	os.Exit(code)
}

// hello builds testdata/hello (an aws-lambda-go function) once per test binary.
func hello(t *testing.T) string {
	t.Helper()
	helloOnce.Do(func() {
		root, err := lambdabuild.RepoRoot(context.Background())
		if err != nil {
			helloErr = err
			return
		}
		dir, err := os.MkdirTemp("", "lambdaruntime-hello-")
		if err != nil {
			helloErr = err
			return
		}
		helloDir = dir
		bins, err := lambdabuild.Build(context.Background(), root, dir, lambdabuild.Host(), "./shared/local/lambdaruntime/testdata/hello")
		helloBin, helloErr = bins["hello"], err
	})
	if helloErr != nil {
		t.Fatal(helloErr)
	}
	return helloBin
}

func start(t *testing.T, env ...string) *lambdaruntime.Instance {
	t.Helper()
	in, err := lambdaruntime.Start(lambdaruntime.Config{
		Name: "hello", Binary: hello(t), Env: env, Timeout: 10 * time.Second, Region: "eu-west-1",
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := in.Stop(); err != nil {
			t.Error(err)
		}
	})
	return in
}

func ready(t *testing.T, in *lambdaruntime.Instance) time.Duration {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	d, err := in.Ready(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestInvokeSpeaksTheRuntimeClientsContract(t *testing.T) {
	in := start(t, "HELLO_ENV=exactly this")
	if d := ready(t, in); d <= 0 {
		t.Errorf("init time %v", d)
	}
	var ids []string
	for _, name := range []string{"one", "two"} { // the same process serves one invocation after the other
		before := time.Now()
		resp, err := in.Invoke(context.Background(), []byte(`{"name":"`+name+`"}`))
		if err != nil {
			t.Fatal(err)
		}
		if resp.Err != nil {
			t.Fatalf("function error %v", resp.Err)
		}
		var got struct {
			Hello       string `json:"hello"`
			RequestID   string `json:"request_id"`
			FunctionARN string `json:"function_arn"`
			DeadlineMs  int64  `json:"deadline_ms"`
			TraceID     string `json:"trace_id"`
			Env         string `json:"env"`
		}
		if err := json.Unmarshal(resp.Payload, &got); err != nil {
			t.Fatalf("payload %s: %v", resp.Payload, err)
		}
		deadline := time.UnixMilli(got.DeadlineMs)
		if got.Hello != name || got.RequestID != resp.RequestID || got.RequestID == "" {
			t.Errorf("payload %s, request id %q", resp.Payload, resp.RequestID)
		}
		if got.FunctionARN != "arn:aws:lambda:eu-west-1:000000000000:function:hello" {
			t.Errorf("function ARN %q", got.FunctionARN)
		}
		if !strings.HasPrefix(got.TraceID, "Root=1-") {
			t.Errorf("trace id %q", got.TraceID)
		}
		if deadline.Before(before.Add(9*time.Second)) || deadline.After(time.Now().Add(10*time.Second)) {
			t.Errorf("deadline %v is not the 10 s timeout from now", deadline)
		}
		if got.Env != "exactly this" {
			t.Errorf("environment not passed: %q", got.Env)
		}
		ids = append(ids, resp.RequestID)
	}
	if ids[0] == ids[1] {
		t.Errorf("request ids repeat: %v", ids)
	}
}

func TestFunctionErrorsAndPanics(t *testing.T) {
	in := start(t)
	ready(t, in)
	resp, err := in.Invoke(context.Background(), []byte(`{"fail":true}`))
	if err != nil {
		t.Fatal(err)
	}
	if resp.Err == nil || resp.Err.Message != "asked to fail" || resp.Err.Type != "errorString" || resp.Payload != nil {
		t.Errorf("error response %+v (%v)", resp, resp.Err)
	}
	// A handler error leaves the process serving.
	if resp, err := in.Invoke(context.Background(), []byte(`{"name":"again"}`)); err != nil || resp.Err != nil {
		t.Fatalf("after an error: %v %v", err, resp.Err)
	}
	// A panic is reported, then aws-lambda-go ends the process.
	resp, err = in.Invoke(context.Background(), []byte(`{"panic":true}`))
	if err != nil {
		t.Fatal(err)
	}
	if resp.Err == nil || !strings.Contains(resp.Err.Message, "asked to panic") {
		t.Errorf("panic response %+v (%v)", resp, resp.Err)
	}
	if _, err := in.Invoke(context.Background(), []byte(`{}`)); err == nil || !strings.Contains(err.Error(), "process exited") {
		t.Errorf("invoke after the panic: %v", err)
	}
}

func TestInitFailures(t *testing.T) {
	t.Run("init error", func(t *testing.T) {
		in := start(t, "HELLO_INIT_ERROR=no keys")
		_, err := in.Ready(context.Background())
		if err == nil || !strings.Contains(err.Error(), "Hello.InitError: no keys") {
			t.Errorf("Ready = %v", err)
		}
	})
	t.Run("exit before the first next", func(t *testing.T) {
		in := start(t, "HELLO_EXIT=1")
		_, err := in.Ready(context.Background())
		if err == nil || !strings.Contains(err.Error(), "exited during init") || !strings.Contains(err.Error(), "exit status 3") {
			t.Errorf("Ready = %v", err)
		}
	})
}

func TestInvokeTimesOut(t *testing.T) {
	in, err := lambdaruntime.Start(lambdaruntime.Config{Name: "sleepy", Binary: hello(t), Env: []string{"HELLO_INIT_ERROR=x"}, Timeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer in.Stop()
	// The process never asks for work (it sleeps after its init error), so the invocation is never taken.
	if _, err := in.Invoke(context.Background(), []byte(`{}`)); err == nil || !strings.Contains(err.Error(), "not taken within") {
		t.Errorf("Invoke = %v", err)
	}
}

// Package lambdaruntime runs a compiled Lambda binary the way the Lambda
// service does: it serves the Lambda Runtime API (2018-06-01) on a local port,
// starts the binary with AWS_LAMBDA_RUNTIME_API pointing there, and hands it
// one invocation at a time. It is test support for the deploy rehearsal: the
// real bootstrap, its main.go wiring and its environment, without AWS.
//
// The contract is the one aws-lambda-go's runtime client speaks (lambda/
// runtime_api_client.go): GET /runtime/invocation/next answers 200 with the
// event and the Lambda-Runtime-* headers; POST .../{id}/response and
// .../{id}/error answer 202; POST /runtime/init/error reports a failed start.
package lambdaruntime

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The Runtime API's version prefix and the headers of a /next answer.
const (
	apiPrefix = "/2018-06-01/runtime/"

	HeaderRequestID          = "Lambda-Runtime-Aws-Request-Id"
	HeaderDeadlineMs         = "Lambda-Runtime-Deadline-Ms"
	HeaderInvokedFunctionARN = "Lambda-Runtime-Invoked-Function-Arn"
	HeaderTraceID            = "Lambda-Runtime-Trace-Id"
	HeaderFunctionErrorType  = "Lambda-Runtime-Function-Error-Type"

	// EnvRuntimeAPI is where the runtime client finds the API (host:port).
	EnvRuntimeAPI = "AWS_LAMBDA_RUNTIME_API"

	// MaxResponseBytes is Lambda's limit on a synchronous response.
	MaxResponseBytes = 6 << 20
)

// Config describes one execution environment.
type Config struct {
	Name   string // function name, for ARNs and messages
	Binary string // path of the compiled bootstrap
	// Env is the process's complete environment ("KEY=value"); nothing is
	// inherited from the caller. Start adds AWS_LAMBDA_RUNTIME_API.
	Env     []string
	Timeout time.Duration // per invocation, as the function's Timeout; default 30s
	Region  string        // for the invoked function ARN; default eu-central-1
	Stdout  io.Writer     // the function's stdout (its logs in Lambda); default discarded
	Stderr  io.Writer     // default discarded
}

// FunctionError is what the function reported through .../error or init/error.
type FunctionError struct {
	Type    string `json:"errorType"`
	Message string `json:"errorMessage"`
}

func (e *FunctionError) Error() string { return e.Type + ": " + e.Message }

// Response is the outcome of one invocation: the payload the function
// posted, or the error it reported (Payload is then nil).
type Response struct {
	RequestID string
	Payload   []byte
	Err       *FunctionError
}

// Instance is one running function process with its own Runtime API server.
type Instance struct {
	cfg      Config
	listener net.Listener
	server   *http.Server
	cmd      *exec.Cmd
	started  time.Time

	pending chan *invocation // invocations waiting for a /next
	exited  chan struct{}    // closed when the process has ended
	exitErr error            // set before exited is closed

	readyOnce sync.Once
	ready     chan struct{} // closed at the first /next
	readyAt   time.Time     // set before ready is closed

	mu         sync.Mutex
	inFlight   map[string]*invocation
	initErr    *FunctionError
	initFailed chan struct{} // closed at POST init/error

	invokeMu sync.Mutex // one invocation at a time, as in one Lambda environment
	seq      int
	closeErr error
	closed   sync.Once
}

type invocation struct {
	id       string
	payload  []byte
	deadline time.Time
	arn      string
	done     chan Response // buffered(1): the first answer wins
}

// Start serves the Runtime API on 127.0.0.1 (a free port) and starts the
// binary against it. It does not wait for the function to be ready; Ready does.
func Start(cfg Config) (*Instance, error) {
	if cfg.Binary == "" {
		return nil, errors.New("lambdaruntime: no binary")
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.Region == "" {
		cfg.Region = "eu-central-1"
	}
	if cfg.Stdout == nil {
		cfg.Stdout = io.Discard
	}
	if cfg.Stderr == nil {
		cfg.Stderr = io.Discard
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("lambdaruntime %s: listen: %w", cfg.Name, err)
	}
	in := &Instance{
		cfg:        cfg,
		listener:   ln,
		pending:    make(chan *invocation),
		exited:     make(chan struct{}),
		ready:      make(chan struct{}),
		inFlight:   map[string]*invocation{},
		initFailed: make(chan struct{}),
	}
	in.server = &http.Server{Handler: in.routes(), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = in.server.Serve(ln) }() // ends with ErrServerClosed at Stop

	cmd := exec.Command(cfg.Binary)
	cmd.Env = append(append([]string{}, cfg.Env...), EnvRuntimeAPI+"="+ln.Addr().String())
	cmd.Stdout, cmd.Stderr = cfg.Stdout, cfg.Stderr
	in.cmd = cmd
	in.started = time.Now()
	if err := cmd.Start(); err != nil {
		_ = in.server.Close()
		return nil, fmt.Errorf("lambdaruntime %s: start %s: %w", cfg.Name, cfg.Binary, err)
	}
	go func() {
		in.exitErr = cmd.Wait()
		close(in.exited)
	}()
	return in, nil
}

// Ready waits until the function asks for its first invocation, and returns
// the init time: from process start to that first /next. It fails if the
// process exits or reports an init error first.
func (in *Instance) Ready(ctx context.Context) (time.Duration, error) {
	select {
	case <-in.ready:
		return in.readyAt.Sub(in.started), nil
	case <-in.initFailed:
		in.mu.Lock()
		defer in.mu.Unlock()
		return 0, fmt.Errorf("lambdaruntime %s: init error: %w", in.cfg.Name, in.initErr)
	case <-in.exited:
		return 0, fmt.Errorf("lambdaruntime %s: process exited during init: %v", in.cfg.Name, in.exitErr)
	case <-ctx.Done():
		return 0, fmt.Errorf("lambdaruntime %s: not ready: %w", in.cfg.Name, ctx.Err())
	}
}

// Invoke hands payload to the function, as a synchronous invocation, and
// waits for its response or error. An error from Invoke means the
// environment failed (process gone, timeout); a function error is in Response.Err.
func (in *Instance) Invoke(ctx context.Context, payload []byte) (Response, error) {
	in.invokeMu.Lock()
	defer in.invokeMu.Unlock()
	in.seq++
	inv := &invocation{
		id:       fmt.Sprintf("%08d-0000-4000-8000-%012d", in.seq, time.Now().UnixNano()%1e12),
		payload:  payload,
		deadline: time.Now().Add(in.cfg.Timeout),
		arn:      "arn:aws:lambda:" + in.cfg.Region + ":000000000000:function:" + in.cfg.Name,
		done:     make(chan Response, 1),
	}
	timer := time.NewTimer(in.cfg.Timeout)
	defer timer.Stop()
	fail := func(what string) (Response, error) {
		in.forget(inv.id)
		return Response{RequestID: inv.id}, fmt.Errorf("lambdaruntime %s: invocation %s: %s", in.cfg.Name, inv.id, what)
	}
	// Registered before it is offered, so an answer can never precede it.
	in.mu.Lock()
	in.inFlight[inv.id] = inv
	in.mu.Unlock()
	select {
	case in.pending <- inv:
	case <-in.exited:
		return fail(fmt.Sprintf("process exited before taking it: %v", in.exitErr))
	case <-timer.C:
		return fail("not taken within the timeout " + in.cfg.Timeout.String())
	case <-ctx.Done():
		return fail(ctx.Err().Error())
	}
	select {
	case r := <-inv.done:
		return r, nil
	case <-in.exited:
		return fail(fmt.Sprintf("process exited during the invocation: %v", in.exitErr))
	case <-timer.C:
		return fail("timed out after " + in.cfg.Timeout.String())
	case <-ctx.Done():
		return fail(ctx.Err().Error())
	}
}

// Stop kills the process (Lambda freezes and later kills environments; a
// function gets no say) and closes the Runtime API server.
func (in *Instance) Stop() error {
	in.closed.Do(func() {
		select {
		case <-in.exited:
		default:
			if err := in.cmd.Process.Kill(); err != nil {
				in.closeErr = fmt.Errorf("lambdaruntime %s: kill: %w", in.cfg.Name, err)
			}
			<-in.exited
		}
		if err := in.server.Close(); err != nil && in.closeErr == nil {
			in.closeErr = fmt.Errorf("lambdaruntime %s: close server: %w", in.cfg.Name, err)
		}
	})
	return in.closeErr
}

func (in *Instance) forget(id string) {
	in.mu.Lock()
	defer in.mu.Unlock()
	delete(in.inFlight, id)
}

func (in *Instance) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+apiPrefix+"invocation/next", in.next)
	mux.HandleFunc("POST "+apiPrefix+"invocation/{id}/response", in.answer(false))
	mux.HandleFunc("POST "+apiPrefix+"invocation/{id}/error", in.answer(true))
	mux.HandleFunc("POST "+apiPrefix+"init/error", in.initError)
	return mux
}

// next blocks until there is an invocation, as the real API does (the
// runtime client uses no timeout on this call).
func (in *Instance) next(w http.ResponseWriter, r *http.Request) {
	in.readyOnce.Do(func() {
		in.readyAt = time.Now()
		close(in.ready)
	})
	select {
	case inv := <-in.pending:
		h := w.Header()
		h.Set(HeaderRequestID, inv.id)
		h.Set(HeaderDeadlineMs, strconv.FormatInt(inv.deadline.UnixMilli(), 10))
		h.Set(HeaderInvokedFunctionARN, inv.arn)
		h.Set(HeaderTraceID, "Root=1-"+strconv.FormatInt(time.Now().Unix(), 16)+"-"+fmt.Sprintf("%024x", inv.deadline.UnixNano())+";Parent=0000000000000001;Sampled=0")
		h.Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(inv.payload)
	case <-r.Context().Done():
	}
}

// answer takes a function's response (or error) for an invocation in flight.
func (in *Instance) answer(isError bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		body, err := io.ReadAll(io.LimitReader(r.Body, MaxResponseBytes+1))
		if err != nil {
			apiError(w, http.StatusBadRequest, "InvalidRequest", "read body: "+err.Error())
			return
		}
		in.mu.Lock()
		inv, ok := in.inFlight[id]
		delete(in.inFlight, id)
		in.mu.Unlock()
		if !ok {
			apiError(w, http.StatusBadRequest, "InvalidRequestID", "no invocation "+id+" in flight")
			return
		}
		resp := Response{RequestID: id}
		switch {
		case len(body) > MaxResponseBytes:
			resp.Err = &FunctionError{Type: "Function.ResponseSizeTooLarge", Message: "response larger than " + strconv.Itoa(MaxResponseBytes) + " bytes"}
			inv.done <- resp
			apiError(w, http.StatusRequestEntityTooLarge, "RequestEntityTooLarge", resp.Err.Message)
			return
		case isError:
			resp.Err = parseFunctionError(body, r.Header.Get(HeaderFunctionErrorType))
		default:
			resp.Payload = body
		}
		inv.done <- resp
		w.WriteHeader(http.StatusAccepted)
		_, _ = w.Write([]byte(`{"status":"OK"}`))
	}
}

func (in *Instance) initError(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		apiError(w, http.StatusBadRequest, "InvalidRequest", "read body: "+err.Error())
		return
	}
	in.mu.Lock()
	first := in.initErr == nil
	if first {
		in.initErr = parseFunctionError(body, r.Header.Get(HeaderFunctionErrorType))
	}
	in.mu.Unlock()
	if first {
		close(in.initFailed)
	}
	w.WriteHeader(http.StatusAccepted)
	_, _ = w.Write([]byte(`{"status":"OK"}`))
}

// parseFunctionError reads {"errorType","errorMessage"}; the header names
// the type when the body does not.
func parseFunctionError(body []byte, headerType string) *FunctionError {
	fe := &FunctionError{}
	if err := json.Unmarshal(body, fe); err != nil {
		fe.Message = strings.TrimSpace(string(body))
	}
	if fe.Type == "" {
		fe.Type = headerType
	}
	if fe.Type == "" {
		fe.Type = "Unhandled"
	}
	return fe
}

func apiError(w http.ResponseWriter, status int, typ, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	var b bytes.Buffer
	_ = json.NewEncoder(&b).Encode(map[string]string{"errorType": typ, "errorMessage": msg})
	_, _ = w.Write(b.Bytes())
}

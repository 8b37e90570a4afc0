package apigwhttp

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/upvest-webhooks/upvest-webhooks/shared/testkit/golden"

	"github.com/aws/aws-lambda-go/events"
)

var fixedTime = time.Date(2025, 3, 12, 19, 3, 58, 390_000_000, time.UTC)

// deterministic replaces the clock and the random ids so events can be golden files.
func deterministic(c *config) {
	c.now = func() time.Time { return fixedTime }
	c.newID = func() string { return "req-1" }
	c.newTrace = func(time.Time) string { return "Root=1-trace" }
}

// capture returns a handler that records the event it gets and answers 200.
func capture(got *events.APIGatewayV2HTTPRequest) HandlerFunc {
	return func(_ context.Context, e events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		*got = e
		return events.APIGatewayV2HTTPResponse{StatusCode: 200}, nil
	}
}

func TestRequestEvent(t *testing.T) {
	cases := []struct {
		name    string
		method  string
		target  string
		headers [][2]string
		body    []byte
		opts    []Option
	}{
		{
			name: "webhook_json", method: "POST", target: "/webhooks?b=2&a=1&a=x%20y",
			headers: [][2]string{
				{"Content-Type", "application/json"},
				{"Signature-Input", `sig1=("@method" "content-digest");keyid="k1"`},
				{"Signature", "sig1=:AAAA:"},
				{"X-Multi", "one"}, {"x-multi", "two"},
				{"Cookie", "a=1; b=2"}, {"Cookie", "c=3"},
				{"User-Agent", "upvest-webhooks/1"},
			},
			body: []byte(`{"id":"evt-1","payload":[{"ünïcode":"✓"}]}`),
			opts: []Option{WithRouteKey("POST /webhooks")},
		},
		{
			name: "binary_body", method: "POST", target: "/upload",
			headers: [][2]string{{"Content-Type", "application/octet-stream"}},
			body:    []byte{0xff, 0x00, 0x01, 'a'},
		},
		{
			name: "invalid_utf8_text", method: "POST", target: "/webhooks",
			headers: [][2]string{{"Content-Type", "application/json"}},
			body:    []byte{'{', 0xc3, 0x28, '}'},
		},
		{
			name: "gzip_encoded", method: "POST", target: "/webhooks",
			headers: [][2]string{{"Content-Type", "application/json"}, {"Content-Encoding", "gzip"}},
			body:    []byte("not really gzip, but declared so"),
		},
		{
			name: "get_without_body", method: "GET", target: "/health",
			headers: [][2]string{{"X-Forwarded-For", "203.0.113.9"}},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(tc.method, "http://api.example.com"+tc.target, bytes.NewReader(tc.body))
			for _, h := range tc.headers {
				r.Header.Add(h[0], h[1])
			}
			var got events.APIGatewayV2HTTPRequest
			w := httptest.NewRecorder()
			Handler(capture(&got), append(tc.opts, deterministic)...).ServeHTTP(w, r)
			if w.Code != 200 {
				t.Fatalf("status %d: %s", w.Code, w.Body)
			}
			body := []byte(got.Body)
			if got.IsBase64Encoded {
				var err error
				if body, err = base64.StdEncoding.DecodeString(got.Body); err != nil {
					t.Fatalf("body is not base64: %v", err)
				}
			}
			if !bytes.Equal(body, tc.body) && !(len(body) == 0 && len(tc.body) == 0) {
				t.Errorf("body %q, want the request's %q", body, tc.body)
			}
			assertGolden(t, tc.name+".json", got)
		})
	}
}

func assertGolden(t *testing.T, name string, v any) {
	t.Helper()
	golden.AssertJSON(t, filepath.Join("testdata", name), v)
}

// Over a real connection: source IP, port and length come from the socket.
func TestRealServerRequest(t *testing.T) {
	var got events.APIGatewayV2HTTPRequest
	srv := httptest.NewServer(Handler(capture(&got)))
	defer srv.Close()
	resp, err := http.Post(srv.URL+"/webhooks", "application/json", strings.NewReader(`{"a":1}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	_, port, _ := strings.Cut(strings.TrimPrefix(srv.URL, "http://"), ":")
	checks := map[string][2]string{
		"source ip":      {got.RequestContext.HTTP.SourceIP, "127.0.0.1"},
		"forwarded for":  {got.Headers["x-forwarded-for"], "127.0.0.1"},
		"forwarded port": {got.Headers["x-forwarded-port"], port},
		"content length": {got.Headers["content-length"], "7"},
		"host":           {got.Headers["host"], "127.0.0.1:" + port},
		"route key":      {got.RouteKey, "POST /webhooks"},
		"stage":          {got.RequestContext.Stage, "$default"},
		"request id":     {got.RequestContext.RequestID, resp.Header.Get("Apigw-Requestid")},
		"body":           {got.Body, `{"a":1}`},
	}
	for name, c := range checks {
		if c[0] != c[1] {
			t.Errorf("%s: %q, want %q", name, c[0], c[1])
		}
	}
	if !strings.HasPrefix(got.Headers["x-amzn-trace-id"], "Root=1-") || got.RequestContext.RequestID == "" {
		t.Errorf("trace %q request id %q", got.Headers["x-amzn-trace-id"], got.RequestContext.RequestID)
	}
	if d := time.Since(time.UnixMilli(got.RequestContext.TimeEpoch)); d < 0 || d > time.Hour {
		t.Errorf("timeEpoch %d is not the request time", got.RequestContext.TimeEpoch)
	}
}

func TestResponse(t *testing.T) {
	cases := []struct {
		name       string
		resp       events.APIGatewayV2HTTPResponse
		err        error
		wantStatus int
		wantBody   string
		wantHeader map[string][]string
	}{
		{
			name: "text body, headers and cookies",
			resp: events.APIGatewayV2HTTPResponse{
				StatusCode: 202, Body: `{"ok":true}`,
				Headers: map[string]string{"Content-Type": "application/json", "x-custom": "v"},
				Cookies: []string{"a=1; Path=/", "b=2"},
			},
			wantStatus: 202, wantBody: `{"ok":true}`,
			wantHeader: map[string][]string{"Content-Type": {"application/json"}, "X-Custom": {"v"}, "Set-Cookie": {"a=1; Path=/", "b=2"}},
		},
		{
			name:       "base64 body is decoded",
			resp:       events.APIGatewayV2HTTPResponse{StatusCode: 200, Body: base64.StdEncoding.EncodeToString([]byte{0, 1, 0xff}), IsBase64Encoded: true},
			wantStatus: 200, wantBody: string([]byte{0, 1, 0xff}),
		},
		{
			name: "handler error", err: errors.New("boom"),
			wantStatus: 500, wantBody: internalErrorBody,
			wantHeader: map[string][]string{"Content-Type": {"application/json"}},
		},
		{
			name: "no status code", resp: events.APIGatewayV2HTTPResponse{Body: "x"},
			wantStatus: 500, wantBody: internalErrorBody,
		},
		{
			name: "bad base64", resp: events.APIGatewayV2HTTPResponse{StatusCode: 200, Body: "***", IsBase64Encoded: true},
			wantStatus: 500, wantBody: internalErrorBody,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(Handler(func(context.Context, events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
				return tc.resp, tc.err
			}))
			defer srv.Close()
			resp, err := http.Get(srv.URL + "/x")
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.wantStatus || string(body) != tc.wantBody {
				t.Errorf("got %d %q, want %d %q", resp.StatusCode, body, tc.wantStatus, tc.wantBody)
			}
			for k, want := range tc.wantHeader {
				if got := resp.Header.Values(k); !slices.Equal(got, want) {
					t.Errorf("header %s = %q, want %q", k, got, want)
				}
			}
		})
	}
}

// withMaxBodyBytes lowers the body cap (API Gateway's, DefaultMaxBodyBytes) for a test.
func withMaxBodyBytes(n int64) Option { return func(c *config) { c.maxBody = n } }

func TestMaxBodyBytes(t *testing.T) {
	const limit = 16
	for _, size := range []int{limit, limit + 1} {
		t.Run(strconv.Itoa(size), func(t *testing.T) {
			called := false
			var got events.APIGatewayV2HTTPRequest
			h := Handler(func(ctx context.Context, e events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
				called = true
				return capture(&got)(ctx, e)
			}, withMaxBodyBytes(limit))
			w := httptest.NewRecorder()
			h.ServeHTTP(w, httptest.NewRequest("POST", "/webhooks", strings.NewReader(strings.Repeat("x", size))))
			if size <= limit {
				if w.Code != 200 || !called || len(got.Body) != size {
					t.Errorf("at the limit: status %d, called %v, body %d bytes", w.Code, called, len(got.Body))
				}
				return
			}
			if w.Code != http.StatusRequestEntityTooLarge || w.Body.String() != tooLargeBody || called {
				t.Errorf("over the limit: status %d body %q called %v", w.Code, w.Body, called)
			}
		})
	}
}

package webhookclient

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/signature"
)

// Client posts signed webhook requests to one URL.
type Client struct {
	URL   string
	Key   *ecdsa.PrivateKey
	KeyID string
	// HTTP is the client used (default: one with a 30 s timeout).
	HTTP *http.Client
	// Now is the signing clock (default time.Now).
	Now func() time.Time
	// Tamper flips one body byte after signing, so the receiver must refuse it.
	Tamper bool
	// Draft is the signature draft, as Upvest's signers make it (default draft 06).
	Draft signature.Draft
}

// Result is the receiver's answer to one request.
type Result struct {
	Events int
	Status int
	Body   string // the answer's body, trimmed, at most maxAnswerBytes
}

// OK reports whether the receiver accepted the request (exactly 200, as Upvest wants).
func (r Result) OK() bool { return r.Status == http.StatusOK }

const maxAnswerBytes = 4096

var defaultHTTP = &http.Client{Timeout: 30 * time.Second}

// Post sends events as one request and returns the answer.
func (c *Client) Post(ctx context.Context, evs []json.RawMessage) (Result, error) {
	body, err := Envelope(evs)
	if err != nil {
		return Result{}, fmt.Errorf("post: %w", err)
	}
	r, err := c.PostBody(ctx, body)
	r.Events = len(evs)
	return r, err
}

// PostBody signs and sends body as it is, envelope or not (a load generator
// sends bodies Upvest never would, too). Result.Events is left zero.
func (c *Client) PostBody(ctx context.Context, body []byte) (Result, error) {
	target, err := url.Parse(c.URL)
	if err != nil || target.Scheme == "" || target.Host == "" {
		return Result{}, fmt.Errorf("post: %q is not an absolute URL", c.URL)
	}
	body = bytes.Clone(body) // Tamper changes it
	path := target.Path
	if path == "" {
		path = "/" // what the receiver sees for a URL without a path
	}
	header := http.Header{"Content-Type": {"application/json"}}
	now := time.Now
	if c.Now != nil {
		now = c.Now
	}
	draft := c.Draft
	if draft == 0 {
		draft = signature.Draft06
	}
	added, err := signature.SignDraft(draft, signature.Request{
		Method:   http.MethodPost,
		Path:     path,
		RawQuery: target.RawQuery,
		Header:   header,
		Body:     body,
	}, c.Key, c.KeyID, now(), "")
	if err != nil {
		return Result{}, fmt.Errorf("post: %w", err)
	}
	for name, values := range added {
		header[name] = values
	}
	if c.Tamper {
		body[len(body)/2] ^= 0x01
	}

	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target.String(), bytes.NewReader(body))
	if err != nil {
		return Result{}, fmt.Errorf("post: %w", err)
	}
	req.Header = header
	httpClient := c.HTTP
	if httpClient == nil {
		httpClient = defaultHTTP
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return Result{}, fmt.Errorf("post: %w", err) // the error names the URL
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswerBytes))
	if err != nil {
		return Result{}, fmt.Errorf("post %s: read answer: %w", c.URL, err)
	}
	return Result{Status: resp.StatusCode, Body: strings.TrimSpace(string(answer))}, nil
}

// PostAll sends events in requests of at most batch events, one after the
// other, calling each (when not nil) as answers arrive. It stops at the first
// transport error; a non-200 answer is a result, not an error.
func (c *Client) PostAll(ctx context.Context, evs []json.RawMessage, batch int, each func(Result)) ([]Result, error) {
	if len(evs) == 0 {
		return nil, errors.New("post: no events")
	}
	var results []Result
	for _, b := range Batches(evs, batch) {
		r, err := c.Post(ctx, b)
		if err != nil {
			return results, err
		}
		results = append(results, r)
		if each != nil {
			each(r)
		}
	}
	return results, nil
}

package keysync

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Webhook is one of Upvest's webhook subscriptions.
type Webhook struct {
	ID          string        `json:"id"`
	CreatedAt   string        `json:"created_at"`
	UpdatedAt   string        `json:"updated_at"`
	Title       string        `json:"title"`
	URL         string        `json:"url"`
	Enabled     bool          `json:"enabled"`
	Type        []string      `json:"type"`
	ExcludeType []string      `json:"exclude_type,omitempty"`
	Config      WebhookConfig `json:"config"`
}

// WebhookConfig is how Upvest batches deliveries to a subscription.
type WebhookConfig struct {
	Delay          string `json:"delay,omitempty"`            // e.g. "1s": how long Upvest gathers events
	MaxPackageSize int    `json:"max_package_size,omitempty"` // bytes per request (one larger event still goes whole)
}

// WebhookChange is a create body (Title and URL required) or an update body
// (only what is set is sent). Upvest's schemas are closed: nothing else goes.
type WebhookChange struct {
	Title   *string  `json:"title,omitempty"`
	URL     *string  `json:"url,omitempty"`
	Enabled *bool    `json:"enabled,omitempty"`
	Type    []string `json:"type,omitempty"`
	// ExcludeType nil is not sent; empty (not nil) is sent as [], which
	// clears the subscription's exclusions (a PATCH keeps what it leaves out).
	ExcludeType []string       `json:"exclude_type,omitempty"`
	Config      *WebhookConfig `json:"config,omitempty"`
}

// MarshalJSON sends an empty, non-nil ExcludeType as [] (omitempty drops it).
func (c WebhookChange) MarshalJSON() ([]byte, error) {
	type plain WebhookChange
	wire := struct {
		plain
		ExcludeType *[]string `json:"exclude_type,omitempty"` // shadows plain's
	}{plain: plain(c)}
	if c.ExcludeType != nil {
		wire.ExcludeType = &c.ExcludeType
	}
	return json.Marshal(wire)
}

// WebhookList is one page of GET /webhooks.
type WebhookList struct {
	Meta struct {
		Offset     int    `json:"offset"`
		Limit      int    `json:"limit"`
		Count      int    `json:"count"`
		TotalCount int    `json:"total_count"`
		Sort       string `json:"sort,omitempty"`
		Order      string `json:"order,omitempty"`
	} `json:"meta"`
	Data []Webhook `json:"data"`
}

// Limits of a subscription, from Upvest's API (see README, Go live).
const (
	MaxURLBytes       = 1000
	MinMaxPackageSize = 100
	MaxMaxPackageSize = 1048576
	MaxListLimit      = 1000
)

var (
	titlePattern = regexp.MustCompile(`^[a-zA-Z0-9 ()\[\]{}.-]{1,32}$`)
	delayPattern = regexp.MustCompile(`^[1-9][0-9]?[sm]$`)
	typePattern  = regexp.MustCompile(`^[A-Z][A-Z0-9_]*$`)
)

// ValidateTitle checks Upvest's rule: 1–32 of letters, digits, space and ()[]{}.-
func ValidateTitle(s string) error {
	if !titlePattern.MatchString(s) {
		return fmt.Errorf("title %q: 1 to 32 characters of letters, digits, space and ()[]{}.- only", s)
	}
	return nil
}

// ValidateURL checks Upvest's rules: https on a DNS name (not an IP), at most
// 1000 bytes. allowLoopbackHTTP admits http://127.0.0.1 and localhost (the
// fake Upvest of make run; Upvest itself refuses them).
func ValidateURL(s string, allowLoopbackHTTP bool) error {
	if len(s) > MaxURLBytes {
		return fmt.Errorf("url: %d bytes, at most %d", len(s), MaxURLBytes)
	}
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || u.User != nil || u.Fragment != "" {
		return fmt.Errorf("url %q: not an absolute URL", s)
	}
	host := u.Hostname()
	loopback := host == "localhost" || host == "127.0.0.1" || host == "::1"
	if allowLoopbackHTTP && loopback && (u.Scheme == "http" || u.Scheme == "https") {
		return nil
	}
	if u.Scheme != "https" {
		return fmt.Errorf("url %q: Upvest delivers to https:// URLs only", s)
	}
	tld := host[strings.LastIndex(host, ".")+1:]
	if net.ParseIP(host) != nil || !strings.Contains(host, ".") || tld != "" && strings.Trim(tld, "0123456789") == "" {
		return fmt.Errorf("url %q: the host must be a DNS name, not an IP address or a bare name", s)
	}
	return nil
}

// ValidateTypes checks event categories ("ALL", "ORDER", ...). The list is
// open (Upvest adds categories), so any upper-case name passes; ALL stands alone.
func ValidateTypes(field string, types []string) error {
	for _, t := range types {
		if !typePattern.MatchString(t) {
			return fmt.Errorf("%s %q: an upper-case category such as ALL, ORDER or POSITION", field, t)
		}
	}
	if field == "type" && slices.Contains(types, "ALL") && len(types) > 1 {
		return errors.New("type: ALL already holds every category; give it alone")
	}
	if len(types) != len(slicesCompact(types)) {
		return fmt.Errorf("%s: a category is named twice", field)
	}
	return nil
}

func slicesCompact(s []string) []string {
	c := slices.Clone(s)
	slices.Sort(c)
	return slices.Compact(c)
}

// ValidateDelay checks "<1-99><s|m>"; Upvest documents 1s to 30s today.
func ValidateDelay(s string) error {
	if !delayPattern.MatchString(s) {
		return fmt.Errorf("delay %q: a number and s or m, such as 1s (at least 1s)", s)
	}
	if n, _ := strconv.Atoi(s[:len(s)-1]); s[len(s)-1] == 's' && n > 30 || s[len(s)-1] == 'm' {
		return fmt.Errorf("delay %q: Upvest takes at most 30s", s)
	}
	return nil
}

// ValidateMaxPackageSize checks 100..1048576 bytes.
func ValidateMaxPackageSize(n int) error {
	if n < MinMaxPackageSize || n > MaxMaxPackageSize {
		return fmt.Errorf("max package size %d: between %d and %d bytes", n, MinMaxPackageSize, MaxMaxPackageSize)
	}
	return nil
}

// Validate checks every field that is set; create also requires title and url.
func (c WebhookChange) Validate(create, allowLoopbackHTTP bool) error {
	var errs []error
	if create && c.Title == nil {
		errs = append(errs, errors.New("title is required"))
	}
	if create && c.URL == nil {
		errs = append(errs, errors.New("url is required"))
	}
	if c.Title != nil {
		errs = append(errs, ValidateTitle(*c.Title))
	}
	if c.URL != nil {
		errs = append(errs, ValidateURL(*c.URL, allowLoopbackHTTP))
	}
	if c.Type != nil {
		errs = append(errs, ValidateTypes("type", c.Type))
	}
	if c.ExcludeType != nil {
		errs = append(errs, ValidateTypes("exclude_type", c.ExcludeType))
		if len(c.ExcludeType) > 0 && c.Type != nil && !slices.Equal(c.Type, []string{"ALL"}) {
			errs = append(errs, errors.New("exclude_type: Upvest honours it only with type ALL"))
		}
	}
	if c.Config != nil {
		if c.Config.Delay != "" {
			errs = append(errs, ValidateDelay(c.Config.Delay))
		}
		if c.Config.MaxPackageSize != 0 {
			errs = append(errs, ValidateMaxPackageSize(c.Config.MaxPackageSize))
		}
	}
	return errors.Join(errs...)
}

// Webhooks manages the API client's webhook subscriptions, each call with a
// token of the narrowest scope: webhooks:read to read, webhooks:admin to change.
type Webhooks struct{ Client *Client }

var webhookIDPattern = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// ValidateID checks that id is a UUID, as Upvest's webhook ids are.
func ValidateID(id string) error {
	if !webhookIDPattern.MatchString(id) {
		return fmt.Errorf("webhook id %q is not a UUID", id)
	}
	return nil
}

// ListOptions page GET /webhooks; zero values are Upvest's defaults.
type ListOptions struct {
	Offset, Limit int
	Sort, Order   string
}

// List returns one page of subscriptions.
func (w Webhooks) List(ctx context.Context, o ListOptions) (WebhookList, error) {
	q := url.Values{}
	if o.Offset > 0 {
		q.Set("offset", strconv.Itoa(o.Offset))
	}
	if o.Limit > 0 {
		q.Set("limit", strconv.Itoa(o.Limit))
	}
	if o.Sort != "" {
		q.Set("sort", o.Sort)
	}
	if o.Order != "" {
		q.Set("order", o.Order)
	}
	var out WebhookList
	err := w.call(ctx, ScopeRead, http.MethodGet, "/webhooks", q, nil, http.StatusOK, &out)
	return out, err
}

// All returns every subscription, page by page.
func (w Webhooks) All(ctx context.Context) ([]Webhook, error) {
	var all []Webhook
	for offset := 0; ; {
		page, err := w.List(ctx, ListOptions{Offset: offset, Limit: MaxListLimit})
		if err != nil {
			return nil, err
		}
		all = append(all, page.Data...)
		offset += len(page.Data)
		if len(page.Data) == 0 || offset >= page.Meta.TotalCount {
			return all, nil
		}
	}
}

// Get returns one subscription.
func (w Webhooks) Get(ctx context.Context, id string) (Webhook, error) {
	var out Webhook
	err := w.call(ctx, ScopeRead, http.MethodGet, "/webhooks/"+id, nil, nil, http.StatusOK, &out)
	return out, err
}

// Create makes a subscription (Upvest answers 201; new ones may start disabled).
func (w Webhooks) Create(ctx context.Context, c WebhookChange) (Webhook, error) {
	var out Webhook
	err := w.call(ctx, ScopeAdmin, http.MethodPost, "/webhooks", nil, c, http.StatusCreated, &out)
	return out, err
}

// Update PATCHes what c sets.
func (w Webhooks) Update(ctx context.Context, id string, c WebhookChange) (Webhook, error) {
	var out Webhook
	err := w.call(ctx, ScopeAdmin, http.MethodPatch, "/webhooks/"+id, nil, c, http.StatusOK, &out)
	return out, err
}

// Delete removes a subscription (204).
func (w Webhooks) Delete(ctx context.Context, id string) error {
	return w.call(ctx, ScopeAdmin, http.MethodDelete, "/webhooks/"+id, nil, nil, http.StatusNoContent, nil)
}

// Test asks Upvest to send a test delivery (202: it is sent asynchronously).
func (w Webhooks) Test(ctx context.Context, id string) error {
	return w.call(ctx, ScopeAdmin, http.MethodPost, "/webhooks/"+id+"/test", nil, nil, http.StatusAccepted, nil)
}

func (w Webhooks) call(ctx context.Context, scope, method, path string, q url.Values, in any, want int, out any) error {
	if id, ok := strings.CutPrefix(path, "/webhooks/"); ok {
		if err := ValidateID(strings.TrimSuffix(id, "/test")); err != nil {
			return err
		}
	}
	var body []byte
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			return fmt.Errorf("upvest api: %s %s: %w", method, path, err)
		}
	}
	resp, err := w.Client.Call(ctx, scope, method, path, q, body)
	if err != nil {
		return err
	}
	op := method + " " + path
	if method == http.MethodDelete && resp.Status == http.StatusNotFound && resp.Retried {
		return nil // an earlier attempt deleted it; its answer was lost
	}
	// The test call: SPEC says 202; an older tutorial shows 200 with a body. Take both.
	if resp.Status != want && !(strings.HasSuffix(path, "/test") && resp.Status == http.StatusOK) {
		return NewAPIError(op, resp)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(resp.Body, out); err != nil {
		return fmt.Errorf("upvest api: %s: answer is not the expected JSON: %w", op, err)
	}
	return nil
}

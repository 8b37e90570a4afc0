// Package subscription is the logic of the stack-owned Upvest webhook
// subscriptions: a CloudFormation custom resource (the CDK Provider
// framework's onEvent handler) that creates, adopts, updates and, on stack
// deletion, disables (or deletes) one subscription per lane.
package subscription

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/keysync"
)

// Lane is one subscription of the stack: Upvest delivers each subscription
// serially, so categories that must not wait for each other go in separate
// lanes. Lanes are told apart by title.
type Lane struct {
	Title          string   `json:"title"`
	Type           []string `json:"type"`
	ExcludeType    []string `json:"exclude_type,omitempty"`
	Delay          string   `json:"delay,omitempty"`
	MaxPackageSize int      `json:"max_package_size,omitempty"`
}

// What stack deletion does to the subscriptions.
const (
	OnDeleteDisable = "disable" // the default: kept, disabled, adopted again by a later deploy
	OnDeleteDelete  = "delete"
)

// Properties are the custom resource's properties (CloudFormation passes strings).
type Properties struct {
	URL      string `json:"Url"`
	Lanes    string `json:"Lanes"`    // JSON array of Lane
	OnDelete string `json:"OnDelete"` // disable (default) or delete
}

// Event is what the Provider framework passes to onEvent.
type Event struct {
	RequestType           string     `json:"RequestType"` // Create, Update, Delete
	PhysicalResourceID    string     `json:"PhysicalResourceId"`
	ResourceProperties    Properties `json:"ResourceProperties"`
	OldResourceProperties Properties `json:"OldResourceProperties"`
}

// Response is onEvent's answer; Data becomes the resource's attributes.
type Response struct {
	PhysicalResourceID string            `json:"PhysicalResourceId"`
	Data               map[string]string `json:"Data,omitempty"`
}

// Handler manages the subscriptions.
type Handler struct {
	Webhooks keysync.Webhooks
	// KeysReady says whether the key sync has written usable keys; a
	// subscription enabled before that meets 503s that block Upvest's feed.
	KeysReady func(ctx context.Context) error
}

// physicalID names the resource by its URL: a changed URL is a new resource,
// so CloudFormation then deletes (disables) the old URL's subscriptions.
func physicalID(url string) string { return "upvest-webhooks:" + url }

// Handle runs one lifecycle event.
func (h *Handler) Handle(ctx context.Context, ev Event) (Response, error) {
	props := ev.ResourceProperties
	lanes, err := parseLanes(props)
	if err != nil {
		return Response{}, err
	}
	switch ev.RequestType {
	case "Create", "Update":
		if err := h.KeysReady(ctx); err != nil {
			return Response{}, fmt.Errorf("not enabling Upvest's subscriptions before the key sync has written Upvest's keys: %w", err)
		}
		var dropped []Lane
		if ev.RequestType == "Update" && ev.OldResourceProperties.URL == props.URL {
			old, _ := parseLanes(ev.OldResourceProperties)
			for _, l := range old {
				if !slices.ContainsFunc(lanes, func(n Lane) bool { return n.Title == l.Title }) {
					dropped = append(dropped, l)
				}
			}
		}
		ids, err := h.apply(ctx, props.URL, lanes)
		if err != nil {
			return Response{}, err
		}
		if err := h.remove(ctx, props.URL, dropped, props.OnDelete); err != nil {
			return Response{}, err
		}
		return Response{PhysicalResourceID: physicalID(props.URL), Data: map[string]string{"SubscriptionIds": strings.Join(ids, ",")}}, nil
	case "Delete":
		if ev.PhysicalResourceID != physicalID(props.URL) {
			// A Create that failed before naming the resource: nothing of ours.
			return Response{PhysicalResourceID: ev.PhysicalResourceID}, nil
		}
		return Response{PhysicalResourceID: ev.PhysicalResourceID}, h.remove(ctx, props.URL, lanes, props.OnDelete)
	}
	return Response{}, fmt.Errorf("unknown request type %q", ev.RequestType)
}

// Validate checks the properties as Handle does.
func Validate(p Properties) error {
	_, err := parseLanes(p)
	return err
}

func parseLanes(p Properties) ([]Lane, error) {
	if err := keysync.ValidateURL(p.URL, false); err != nil {
		return nil, fmt.Errorf("Url: %w", err)
	}
	var lanes []Lane
	if err := json.Unmarshal([]byte(p.Lanes), &lanes); err != nil || len(lanes) == 0 {
		return nil, fmt.Errorf("Lanes: want a JSON array of at least one {title, type, ...}: %v", err)
	}
	seen := map[string]bool{}
	for _, l := range lanes {
		if seen[l.Title] {
			return nil, fmt.Errorf("Lanes: title %q twice (lanes are told apart by title)", l.Title)
		}
		seen[l.Title] = true
		if err := l.change(p.URL, true).Validate(true, false); err != nil {
			return nil, fmt.Errorf("lane %q: %w", l.Title, err)
		}
	}
	if p.OnDelete != "" && p.OnDelete != OnDeleteDisable && p.OnDelete != OnDeleteDelete {
		return nil, fmt.Errorf("OnDelete %q: disable or delete", p.OnDelete)
	}
	return lanes, nil
}

// change is the body that makes a subscription this lane's.
func (l Lane) change(url string, create bool) keysync.WebhookChange {
	types := l.Type
	if len(types) == 0 {
		types = []string{"ALL"}
	}
	c := keysync.WebhookChange{Title: &l.Title, URL: &url, Type: types, ExcludeType: l.ExcludeType}
	if l.Delay != "" || l.MaxPackageSize != 0 {
		c.Config = &keysync.WebhookConfig{Delay: l.Delay, MaxPackageSize: l.MaxPackageSize}
	}
	if !create {
		on := true
		c.Enabled = &on
	}
	return c
}

// apply makes each lane's subscription exist, match and be enabled: one
// already on the URL with the lane's title is adopted (a retried Create, or
// one registered by hand), never duplicated. When a lane fails, the
// subscriptions this call created or enabled are disabled again before the
// error is returned: the Provider framework drops the Delete that follows a
// failed Create, and CloudFormation sends none for a URL a failed Update did
// not move to, so nothing else would ever turn them off, and Upvest's
// deliveries to an endpoint the rollback removes fail and block their feed.
func (h *Handler) apply(ctx context.Context, url string, lanes []Lane) ([]string, error) {
	all, err := h.Webhooks.All(ctx)
	if err != nil {
		return nil, err
	}
	var ids, turnedOn []string
	for _, l := range lanes {
		var id string
		change := l.change(url, false)
		if existing := find(all, url, l.Title); existing != nil {
			id = existing.ID
			if !existing.Enabled {
				turnedOn = append(turnedOn, id)
			}
			if len(existing.ExcludeType) > 0 && len(l.ExcludeType) == 0 {
				// A PATCH keeps what it leaves out: clear exclusions the lane no longer has.
				change.ExcludeType = []string{}
			}
		} else {
			created, err := h.Webhooks.Create(ctx, l.change(url, true))
			if err != nil {
				return nil, h.undo(ctx, turnedOn, fmt.Errorf("lane %q: %w", l.Title, err))
			}
			id = created.ID
			turnedOn = append(turnedOn, id)
		}
		if _, err := h.Webhooks.Update(ctx, id, change); err != nil {
			return nil, h.undo(ctx, turnedOn, fmt.Errorf("lane %q: subscription %s: %w", l.Title, id, err))
		}
		ids = append(ids, id)
	}
	return ids, nil
}

// undo disables the subscriptions a failed apply created or enabled, and
// returns cause with whatever could not be disabled.
func (h *Handler) undo(ctx context.Context, ids []string, cause error) error {
	errs := []error{cause}
	off := false
	for _, id := range ids {
		if _, err := h.Webhooks.Update(ctx, id, keysync.WebhookChange{Enabled: &off}); err != nil {
			errs = append(errs, fmt.Errorf("subscription %s stays enabled (disable it: ops webhooks disable %s): %w", id, id, err))
		}
	}
	return errors.Join(errs...)
}

// remove disables (or deletes) the lanes' subscriptions; missing ones are fine.
func (h *Handler) remove(ctx context.Context, url string, lanes []Lane, onDelete string) error {
	if len(lanes) == 0 {
		return nil
	}
	all, err := h.Webhooks.All(ctx)
	if err != nil {
		return err
	}
	var errs []error
	for _, l := range lanes {
		existing := find(all, url, l.Title)
		if existing == nil {
			continue
		}
		if onDelete == OnDeleteDelete {
			var apiErr *keysync.APIError
			if err := h.Webhooks.Delete(ctx, existing.ID); err != nil && !(errors.As(err, &apiErr) && apiErr.Status == 404) {
				errs = append(errs, err)
			}
			continue
		}
		off := false
		if _, err := h.Webhooks.Update(ctx, existing.ID, keysync.WebhookChange{Enabled: &off}); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func find(all []keysync.Webhook, url, title string) *keysync.Webhook {
	for i, w := range all {
		if strings.TrimRight(w.URL, "/") == strings.TrimRight(url, "/") && w.Title == title {
			return &all[i]
		}
	}
	return nil
}

package keysynctest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/upvest-webhooks/upvest-webhooks/shared/local/webhookclient"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/keysync"
)

// Webhook is a subscription the fake keeps.
type Webhook = keysync.Webhook

// Delivery is one test delivery the fake sent.
type Delivery struct {
	WebhookID string
	URL       string
	EventID   string
	Status    int    // the receiver's answer; 0 when it gave none
	Error     string // why there was no answer
}

// Webhooks returns the subscriptions the fake holds, oldest first.
func (u *Upvest) Webhooks() []Webhook {
	u.mu.Lock()
	defer u.mu.Unlock()
	out := make([]Webhook, 0, len(u.order))
	for _, id := range u.order {
		out = append(out, *u.hooks[id])
	}
	return out
}

// Deliveries lists the test deliveries sent so far (call Wait first).
func (u *Upvest) Deliveries() []Delivery {
	u.mu.Lock()
	defer u.mu.Unlock()
	return slices.Clone(u.deliveries)
}

// decodeChange reads a create or update body as Upvest does: a closed schema.
func decodeChange(body []byte) (keysync.WebhookChange, error) {
	var c keysync.WebhookChange
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return c, fmt.Errorf("body: %v", err)
	}
	return c, nil
}

func (u *Upvest) createWebhook(w http.ResponseWriter, r *http.Request, body []byte) {
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		u.problem(w, http.StatusBadRequest, "bad_request", "content-type "+ct+", want application/json")
		return
	}
	c, err := decodeChange(body)
	if err == nil {
		if c.Enabled != nil {
			err = fmt.Errorf("body: unknown field \"enabled\" (create takes no enabled)")
		} else {
			err = c.Validate(true, u.cfg.AllowHTTPLoopback)
		}
	}
	if err != nil {
		u.problem(w, http.StatusBadRequest, "bad_request", err.Error())
		return
	}
	now := time.Now().UTC().Format(time.RFC3339)
	hook := &Webhook{ID: newUUID(), CreatedAt: now, UpdatedAt: now, Title: *c.Title, URL: *c.URL, Type: []string{"ALL"},
		Config: keysync.WebhookConfig{Delay: "1s", MaxPackageSize: 12400}}
	apply(hook, c)
	u.mu.Lock()
	u.hooks[hook.ID] = hook
	u.order = append(u.order, hook.ID)
	out := *hook
	u.mu.Unlock()
	u.logf("fake upvest: created subscription %s on %s (disabled)", out.ID, out.URL)
	writeJSON(w, http.StatusCreated, out)
}

func apply(h *Webhook, c keysync.WebhookChange) {
	if c.Title != nil {
		h.Title = *c.Title
	}
	if c.URL != nil {
		h.URL = *c.URL
	}
	if c.Enabled != nil {
		h.Enabled = *c.Enabled
	}
	if c.Type != nil {
		h.Type = slices.Clone(c.Type)
	}
	if c.ExcludeType != nil {
		h.ExcludeType = slices.Clone(c.ExcludeType)
	}
	if c.Config != nil {
		if c.Config.Delay != "" {
			h.Config.Delay = c.Config.Delay
		}
		if c.Config.MaxPackageSize != 0 {
			h.Config.MaxPackageSize = c.Config.MaxPackageSize
		}
	}
}

func (u *Upvest) listWebhooks(w http.ResponseWriter, r *http.Request, _ []byte) {
	q := r.URL.Query()
	intParam := func(name string, def, lo, hi int) (int, bool) {
		v := q.Get(name)
		if v == "" {
			return def, true
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < lo || n > hi {
			u.problem(w, http.StatusBadRequest, "bad_request", fmt.Sprintf("%s=%s: an integer %d..%d", name, v, lo, hi))
			return 0, false
		}
		return n, true
	}
	offset, ok := intParam("offset", 0, 0, 1<<31-1)
	if !ok {
		return
	}
	limit, ok := intParam("limit", 100, 0, keysync.MaxListLimit)
	if !ok {
		return
	}
	sortBy, order := q.Get("sort"), q.Get("order")
	if sortBy == "" {
		sortBy = "created_at"
	}
	if order == "" {
		order = "ASC"
	}
	if !slices.Contains([]string{"created_at", "updated_at", "title", "url", "enabled"}, sortBy) || (order != "ASC" && order != "DESC") {
		u.problem(w, http.StatusBadRequest, "bad_request", "sort "+sortBy+" order "+order)
		return
	}
	all := u.Webhooks()
	slices.SortStableFunc(all, func(a, b Webhook) int {
		key := func(h Webhook) string {
			switch sortBy {
			case "updated_at":
				return h.UpdatedAt
			case "title":
				return h.Title
			case "url":
				return h.URL
			case "enabled":
				return strconv.FormatBool(h.Enabled)
			}
			return h.CreatedAt
		}
		c := strings.Compare(key(a), key(b))
		if order == "DESC" {
			c = -c
		}
		return c
	})
	page := all[min(offset, len(all)):min(offset+limit, len(all))]
	list := keysync.WebhookList{Data: page}
	if list.Data == nil {
		list.Data = []Webhook{}
	}
	list.Meta.Offset, list.Meta.Limit, list.Meta.Count, list.Meta.TotalCount = offset, limit, len(page), len(all)
	list.Meta.Sort, list.Meta.Order = sortBy, order
	writeJSON(w, http.StatusOK, list)
}

// find returns a copy of the subscription, or answers 404.
func (u *Upvest) find(w http.ResponseWriter, id string) (Webhook, bool) {
	u.mu.Lock()
	h, ok := u.hooks[id]
	u.mu.Unlock()
	if !ok {
		u.problem(w, http.StatusNotFound, "not_found", "webhook "+id+" not found")
		return Webhook{}, false
	}
	return *h, true
}

func (u *Upvest) getWebhook(w http.ResponseWriter, id string) {
	if h, ok := u.find(w, id); ok {
		writeJSON(w, http.StatusOK, h)
	}
}

func (u *Upvest) updateWebhook(w http.ResponseWriter, id string, body []byte) {
	if _, ok := u.find(w, id); !ok {
		return
	}
	c, err := decodeChange(body)
	if err == nil {
		err = c.Validate(false, u.cfg.AllowHTTPLoopback)
	}
	if err != nil {
		u.problem(w, http.StatusBadRequest, "bad_request", err.Error())
		return
	}
	u.mu.Lock()
	h := u.hooks[id]
	apply(h, c)
	h.UpdatedAt = time.Now().UTC().Format(time.RFC3339)
	out := *h
	u.mu.Unlock()
	u.logf("fake upvest: updated subscription %s (enabled %v, url %s)", out.ID, out.Enabled, out.URL)
	writeJSON(w, http.StatusOK, out)
}

func (u *Upvest) deleteWebhook(w http.ResponseWriter, id string) {
	if _, ok := u.find(w, id); !ok {
		return
	}
	u.mu.Lock()
	delete(u.hooks, id)
	u.order = slices.DeleteFunc(u.order, func(s string) bool { return s == id })
	u.mu.Unlock()
	u.logf("fake upvest: deleted subscription %s", id)
	w.WriteHeader(http.StatusNoContent)
}

// testWebhook answers 202 and then, as Upvest does, sends the subscription's
// URL a signed (draft 06) delivery of one event carrying its webhook_id.
func (u *Upvest) testWebhook(w http.ResponseWriter, id string) {
	h, ok := u.find(w, id)
	if !ok {
		return
	}
	if u.cfg.WebhookKey == nil {
		u.problem(w, http.StatusInternalServerError, "internal_server_error", "this fake has no webhook signing key")
		return
	}
	u.delivering.Add(1)
	go func() {
		defer u.delivering.Done()
		u.deliverTest(h)
	}()
	w.WriteHeader(http.StatusAccepted)
}

// TestEventType is the type of the event a test delivery carries (Upvest does
// not document its own; a USER.CREATED is routable and changes one new user).
const TestEventType = "USER.CREATED"

func (u *Upvest) deliverTest(h Webhook) {
	now := time.Now().UTC()
	d := Delivery{WebhookID: h.ID, URL: h.URL, EventID: newUUID()}
	event, _ := json.Marshal(map[string]any{
		"id": d.EventID, "created_at": now.Format(time.RFC3339Nano), "type": TestEventType, "webhook_id": h.ID,
		"object": map[string]any{"id": newUUID(), "created_at": now.Format(time.RFC3339Nano), "status": "ACTIVE", "first_name": "Upvest", "last_name": "Test delivery"},
	})
	client := &webhookclient.Client{URL: h.URL, Key: u.cfg.WebhookKey, KeyID: u.cfg.WebhookKeyID, HTTP: &http.Client{Timeout: 10 * time.Second}}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	res, err := client.Post(ctx, []json.RawMessage{event})
	if err != nil {
		d.Error = err.Error()
	}
	d.Status = res.Status
	u.mu.Lock()
	u.deliveries = append(u.deliveries, d)
	u.mu.Unlock()
	u.logf("fake upvest: test delivery of event %s to %s: status %d %s", d.EventID, h.URL, d.Status, d.Error)
}

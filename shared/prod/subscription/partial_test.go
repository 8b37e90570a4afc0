package subscription_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	neturl "net/url"
	"sync"
	"testing"

	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/keysync"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/keysync/keysynctest"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/subscription"
)

// refuseNth puts a proxy between h and the fake that answers the nth
// "METHOD path" request with Upvest's 400 instead of passing it on, as
// Upvest refuses a lane it does not take (a category it does not know).
func refuseNth(t *testing.T, h *subscription.Handler, fake *keysynctest.Upvest, method, path string, nth int) {
	t.Helper()
	target, err := neturl.Parse(fake.URL)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	var mu sync.Mutex
	seen := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		if r.Method == method && r.URL.Path == path {
			seen++
		}
		refuse := r.Method == method && r.URL.Path == path && seen == nth
		mu.Unlock()
		if refuse {
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(`{"type":"bad_request","status":400,"title":"Bad Request","detail":"type: unknown category"}`))
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	h.Webhooks.Client.BaseURL = srv.URL
}

func enabledTitles(fake *keysynctest.Upvest, u string) []string {
	var out []string
	for _, w := range fake.Webhooks() {
		if w.Enabled && w.URL == u {
			out = append(out, w.Title)
		}
	}
	return out
}

// The Provider framework never passes on the Delete that follows a failed
// Create (nor does CloudFormation send one for a URL an Update failed to
// move to), so a lane a failed call enabled would stay enabled on an
// endpoint that the rollback removes: Upvest's deliveries to it fail and
// block that subscription's feed. A failed call disables what it enabled.
func TestFailedCallLeavesNothingItEnabled(t *testing.T) {
	ctx := context.Background()
	t.Run("create", func(t *testing.T) {
		h, fake, _ := newHandler(t)
		refuseNth(t, h, fake, http.MethodPost, "/webhooks", 2) // the second lane's create
		create := event("Create", subscription.Properties{URL: url, Lanes: lanes})
		create.PhysicalResourceID = ""
		if _, err := h.Handle(ctx, create); err == nil {
			t.Fatal("create succeeded although Upvest refused a lane")
		}
		if len(fake.Webhooks()) != 1 {
			t.Fatalf("subscriptions %+v", fake.Webhooks())
		}
		if on := enabledTitles(fake, url); len(on) != 0 {
			t.Errorf("a failed create left %v enabled", on)
		}
	})
	t.Run("update to a new URL", func(t *testing.T) {
		h, fake, _ := newHandler(t)
		old := subscription.Properties{URL: url, Lanes: lanes}
		if _, err := h.Handle(ctx, event("Create", old)); err != nil {
			t.Fatal(err)
		}
		const moved = "https://webhooks.example.com/webhooks"
		refuseNth(t, h, fake, http.MethodPost, "/webhooks", 2)
		update := event("Update", subscription.Properties{URL: moved, Lanes: lanes})
		update.PhysicalResourceID = "upvest-webhooks:" + url
		update.OldResourceProperties = old
		if _, err := h.Handle(ctx, update); err == nil {
			t.Fatal("update succeeded although Upvest refused a lane")
		}
		if on := enabledTitles(fake, moved); len(on) != 0 {
			t.Errorf("a failed update left %v enabled on %s", on, moved)
		}
		if on := enabledTitles(fake, url); len(on) != 2 {
			t.Errorf("the old URL's lanes: %v enabled, want both", on)
		}
	})
	t.Run("an adopted enabled subscription stays enabled", func(t *testing.T) {
		h, fake, _ := newHandler(t)
		title, u, on := "orders", url, true
		byHand, err := h.Webhooks.Create(ctx, keysync.WebhookChange{Title: &title, URL: &u})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := h.Webhooks.Update(ctx, byHand.ID, keysync.WebhookChange{Enabled: &on}); err != nil {
			t.Fatal(err)
		}
		refuseNth(t, h, fake, http.MethodPost, "/webhooks", 1) // the snapshots lane's create
		if _, err := h.Handle(ctx, event("Create", subscription.Properties{URL: url, Lanes: lanes})); err == nil {
			t.Fatal("create succeeded although Upvest refused a lane")
		}
		if on := enabledTitles(fake, url); len(on) != 1 || on[0] != "orders" {
			t.Errorf("enabled %v, want the one enabled by hand before", on)
		}
	})
}

// A lane whose exclude_type is dropped (or a subscription adopted with
// exclusions the lane does not have) must lose them at Upvest: PATCH leaves
// out what it does not name, so the excluded events would never come.
func TestDroppedExclusionsAreClearedAtUpvest(t *testing.T) {
	ctx := context.Background()
	h, fake, _ := newHandler(t)
	excluding := subscription.Properties{URL: url, Lanes: `[{"title":"all","type":["ALL"],"exclude_type":["REPORT","TREASURY_REPORT"]}]`}
	if _, err := h.Handle(ctx, event("Create", excluding)); err != nil {
		t.Fatal(err)
	}
	if w := fake.Webhooks(); len(w) != 1 || len(w[0].ExcludeType) != 2 {
		t.Fatalf("after create %+v", w)
	}
	update := event("Update", subscription.Properties{URL: url, Lanes: `[{"title":"all","type":["ALL"]}]`})
	update.OldResourceProperties = excluding
	if _, err := h.Handle(ctx, update); err != nil {
		t.Fatal(err)
	}
	if w := fake.Webhooks(); len(w) != 1 || len(w[0].ExcludeType) != 0 || !w[0].Enabled {
		t.Errorf("after dropping the exclusions %+v", w)
	}

	// The lane narrows to categories: the exclusions (ignored by Upvest
	// without ALL) go too, so that a later ALL does not bring them back.
	if _, err := h.Handle(ctx, event("Create", excluding)); err != nil {
		t.Fatal(err)
	}
	narrowed := event("Update", subscription.Properties{URL: url, Lanes: `[{"title":"all","type":["ORDER"]}]`})
	narrowed.OldResourceProperties = excluding
	if _, err := h.Handle(ctx, narrowed); err != nil {
		t.Fatal(err)
	}
	if w := fake.Webhooks(); len(w) != 1 || len(w[0].ExcludeType) != 0 {
		t.Errorf("after narrowing to ORDER %+v", w)
	}
}

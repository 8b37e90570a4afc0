package subscription_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/keysync"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/keysync/keysynctest"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/signature"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/subscription"
)

const (
	url   = "https://abc123.execute-api.eu-central-1.amazonaws.com/webhooks"
	lanes = `[{"title":"orders","type":["ORDER","EXECUTION"],"delay":"1s"},{"title":"snapshots","type":["POSITION","CASH_BALANCE"],"max_package_size":102400}]`
)

func newHandler(t *testing.T) (*subscription.Handler, *keysynctest.Upvest, *error) {
	t.Helper()
	pemBytes, jwks, kid, err := signature.GenerateDevKey()
	if err != nil {
		t.Fatal(err)
	}
	keys, _, _ := signature.ParseJWKS(jwks)
	key, _ := keysync.LoadSigningKey(pemBytes, "")
	fake := keysynctest.Start(t, keysynctest.Config{ClientID: "c1d2e3f4-0000-4000-8000-000000000001", ClientSecret: "s", KeyID: kid, PublicKey: keys[kid], JWKS: jwks})
	client := &keysync.Client{BaseURL: fake.URL, Credentials: keysync.StaticCredentials(keysync.Credentials{
		ClientID: "c1d2e3f4-0000-4000-8000-000000000001", ClientSecret: "s", SigningKey: key, SigningKeyID: kid}),
		Sleep: func(context.Context, time.Duration) error { return nil }}
	var keysErr error
	h := &subscription.Handler{Webhooks: keysync.Webhooks{Client: client}, KeysReady: func(context.Context) error { return keysErr }}
	return h, fake, &keysErr
}

func event(kind string, props subscription.Properties) subscription.Event {
	return subscription.Event{RequestType: kind, ResourceProperties: props, PhysicalResourceID: "upvest-webhooks:" + props.URL}
}

func TestCreateRetriedCreateUpdateDelete(t *testing.T) {
	ctx := context.Background()
	h, fake, _ := newHandler(t)
	props := subscription.Properties{URL: url, Lanes: lanes}
	create := event("Create", props)
	create.PhysicalResourceID = ""
	resp, err := h.Handle(ctx, create)
	if err != nil {
		t.Fatal(err)
	}
	hooks := fake.Webhooks()
	if len(hooks) != 2 || !hooks[0].Enabled || !hooks[1].Enabled || !slices.Equal(hooks[0].Type, []string{"ORDER", "EXECUTION"}) ||
		hooks[1].Config.MaxPackageSize != 102400 {
		t.Fatalf("after create: %+v", hooks)
	}
	ids := hooks[0].ID + "," + hooks[1].ID
	if resp.PhysicalResourceID != "upvest-webhooks:"+url || resp.Data["SubscriptionIds"] != ids {
		t.Fatalf("response %+v", resp)
	}

	// CloudFormation retries a Create whose answer was lost: adopted, not duplicated.
	again, err := h.Handle(ctx, create)
	if err != nil || again.Data["SubscriptionIds"] != ids || len(fake.Webhooks()) != 2 {
		t.Fatalf("retried create: %+v, %v, %d subscriptions", again, err, len(fake.Webhooks()))
	}

	// Update: one lane changes, one is dropped (disabled), one is added.
	update := event("Update", subscription.Properties{URL: url, Lanes: `[{"title":"orders","type":["ORDER"]},{"title":"reports","type":["REPORT"]}]`})
	update.OldResourceProperties = props
	if _, err := h.Handle(ctx, update); err != nil {
		t.Fatal(err)
	}
	byTitle := map[string]keysync.Webhook{}
	for _, w := range fake.Webhooks() {
		byTitle[w.Title] = w
	}
	if o := byTitle["orders"]; !o.Enabled || !slices.Equal(o.Type, []string{"ORDER"}) || o.ID != hooks[0].ID {
		t.Errorf("orders after update %+v", o)
	}
	if s := byTitle["snapshots"]; s.Enabled {
		t.Errorf("dropped lane still enabled: %+v", s)
	}
	if r := byTitle["reports"]; !r.Enabled {
		t.Errorf("added lane %+v", r)
	}

	// Delete disables by default: a later deploy adopts them again.
	del := event("Delete", update.ResourceProperties)
	if _, err := h.Handle(ctx, del); err != nil {
		t.Fatal(err)
	}
	for _, w := range fake.Webhooks() {
		if w.Enabled {
			t.Errorf("after delete %s is enabled", w.Title)
		}
	}
	if len(fake.Webhooks()) != 3 {
		t.Errorf("%d subscriptions after a disabling delete", len(fake.Webhooks()))
	}
	// OnDelete=delete removes them; a second delete finds nothing and succeeds.
	del.ResourceProperties.OnDelete = subscription.OnDeleteDelete
	for range 2 {
		if _, err := h.Handle(ctx, del); err != nil {
			t.Fatal(err)
		}
	}
	if left := fake.Webhooks(); len(left) != 1 || left[0].Title != "snapshots" {
		t.Errorf("left %+v", left)
	}
}

func TestCreateAdoptsOneRegisteredByHand(t *testing.T) {
	ctx := context.Background()
	h, fake, _ := newHandler(t)
	title, u := "orders", url
	byHand, err := h.Webhooks.Create(ctx, keysync.WebhookChange{Title: &title, URL: &u})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := h.Handle(ctx, event("Create", subscription.Properties{URL: url, Lanes: `[{"title":"orders","type":["ALL"]}]`}))
	if err != nil || resp.Data["SubscriptionIds"] != byHand.ID {
		t.Fatalf("%+v, %v", resp, err)
	}
	if w := fake.Webhooks(); len(w) != 1 || !w[0].Enabled {
		t.Errorf("%+v", w)
	}
}

func TestNothingIsEnabledBeforeTheKeysAreWritten(t *testing.T) {
	h, fake, keysErr := newHandler(t)
	*keysErr = errors.New("parameter /upvest-webhooks/sandbox/jwks not found")
	_, err := h.Handle(context.Background(), event("Create", subscription.Properties{URL: url, Lanes: lanes}))
	if err == nil || !strings.Contains(err.Error(), "key sync") {
		t.Fatalf("err %v", err)
	}
	if calls := fake.Calls(); len(calls) != 0 {
		t.Errorf("calls to Upvest before the keys: %v", calls)
	}
}

func TestURLChangeIsANewResource(t *testing.T) {
	ctx := context.Background()
	h, _, _ := newHandler(t)
	old := subscription.Properties{URL: url, Lanes: lanes}
	if _, err := h.Handle(ctx, event("Create", old)); err != nil {
		t.Fatal(err)
	}
	update := event("Update", subscription.Properties{URL: "https://webhooks.example.com/webhooks", Lanes: lanes})
	update.OldResourceProperties = old
	resp, err := h.Handle(ctx, update)
	if err != nil || resp.PhysicalResourceID != "upvest-webhooks:https://webhooks.example.com/webhooks" {
		t.Fatalf("%+v, %v", resp, err)
	}
}

func TestBadPropertiesAreRefusedBeforeAnyCall(t *testing.T) {
	h, fake, _ := newHandler(t)
	for _, p := range []subscription.Properties{
		{URL: "http://insecure.example.com/webhooks", Lanes: lanes},
		{URL: url, Lanes: `[]`},
		{URL: url, Lanes: `[{"title":"a/b"}]`},
		{URL: url, Lanes: `[{"title":"a"},{"title":"a"}]`},
		{URL: url, Lanes: `[{"title":"a","delay":"5m"}]`},
		{URL: url, Lanes: lanes, OnDelete: "archive"},
	} {
		if _, err := h.Handle(context.Background(), event("Create", p)); err == nil {
			t.Errorf("%+v accepted", p)
		}
	}
	if calls := fake.Calls(); len(calls) != 0 {
		t.Errorf("calls %v", calls)
	}
}

package rehearsal

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/upvest-webhooks/upvest-webhooks/infra/stack"
	"github.com/upvest-webhooks/upvest-webhooks/shared/local/lambdaruntime"
	"github.com/upvest-webhooks/upvest-webhooks/shared/local/localaws"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/config"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/keysync/keysynctest"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/signature"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/subscription"
	"github.com/upvest-webhooks/upvest-webhooks/shared/testkit/syncbuf"
)

// TestSubscriptionCustomResourceRehearsal runs the subscription function's
// real bootstrap under the local Runtime API with the events the Provider
// framework sends it, against the fake Upvest, SSM and Secrets Manager.
func TestSubscriptionCustomResourceRehearsal(t *testing.T) {
	b := setup(t)
	const (
		clientID  = "5a1f2e3d-4c5b-4a69-8788-99aabbccddee"
		secretARN = "arn:aws:secretsmanager:eu-central-1:000000000000:secret:upvest-api-AbCdEf"
		param     = "/upvest-webhooks/sandbox/jwks"
		url       = "https://webhooks.example.com/webhooks"
	)
	apiPEM, apiJWKS, apiKid, err := signature.GenerateDevKey()
	if err != nil {
		t.Fatal(err)
	}
	apiKeys, _, _ := signature.ParseJWKS(apiJWKS)
	_, hookJWKS, _, _ := signature.GenerateDevKey()
	fake := keysynctest.Start(t, keysynctest.Config{ClientID: clientID, ClientSecret: "s3cret", KeyID: apiKid, PublicKey: apiKeys[apiKid], JWKS: hookJWKS})
	secret, _ := json.Marshal(map[string]string{"client_id": clientID, "client_secret": "s3cret", "signing_key_pem": string(apiPEM), "signing_key_id": apiKid})
	secrets := keysynctest.NewSecretsManager(t, map[string]string{secretARN: string(secret)})

	start := func(t *testing.T, ssm *keysynctest.SSM) *lambdaruntime.Instance {
		t.Helper()
		env := append([]string{
			config.EnvUpvestAPIBaseURL + "=" + fake.URL, config.EnvUpvestAPISecret + "=" + secretARN,
			config.EnvKeySyncSSMParameter + "=" + param, stack.EnvLogLevel + "=info",
			"AWS_ACCESS_KEY_ID=rehearsal", "AWS_SECRET_ACCESS_KEY=rehearsal",
			"AWS_ENDPOINT_URL_SSM=" + ssm.URL, "AWS_ENDPOINT_URL_SECRETS_MANAGER=" + secrets.URL,
		}, lambdaruntime.ReservedEnv("SubscriptionFunction", stack.SubscriptionMemoryMB, localaws.Region)...)
		stderr := &syncbuf.Buffer{}
		in, err := lambdaruntime.Start(lambdaruntime.Config{Name: "SubscriptionFunction", Binary: b.binaries["subscription"], Env: env,
			Timeout: stack.SubscriptionTimeout, Region: localaws.Region, Stderr: stderr, Stdout: stderr})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if err := in.Stop(); err != nil {
				t.Error(err)
			}
			if t.Failed() {
				t.Logf("function output:\n%s", stderr.String())
			}
		})
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if _, err := in.Ready(ctx); err != nil {
			t.Fatalf("%v\n%s", err, stderr.String())
		}
		return in
	}
	send := func(t *testing.T, in *lambdaruntime.Instance, ev map[string]any) (subscription.Response, *lambdaruntime.FunctionError) {
		t.Helper()
		payload, _ := json.Marshal(ev)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		resp, err := in.Invoke(ctx, payload)
		if err != nil {
			t.Fatal(err)
		}
		var out subscription.Response
		if resp.Err == nil {
			decode(t, "response", resp.Payload, &out)
		}
		return out, resp.Err
	}
	lanes := `[{"title":"orders","type":["ORDER","EXECUTION"]},{"title":"snapshots","type":["POSITION","CASH_BALANCE"]}]`
	props := map[string]any{"ServiceToken": "arn:aws:lambda:eu-central-1:000000000000:function:relay", "Url": url, "Lanes": lanes, "OnDelete": "disable"}
	base := map[string]any{"RequestId": "r1", "StackId": "arn:aws:cloudformation:eu-central-1:000000000000:stack/upvest-webhooks-sandbox/x",
		"LogicalResourceId": "SubscriptionResource", "ResourceType": stack.SubscriptionResourceType}
	with := func(kv ...any) map[string]any {
		ev := map[string]any{}
		for k, v := range base {
			ev[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			ev[kv[i].(string)] = kv[i+1]
		}
		return ev
	}

	t.Run("no keys yet: nothing enabled", func(t *testing.T) {
		in := start(t, keysynctest.NewSSM(t, nil))
		_, ferr := send(t, in, with("RequestType", "Create", "ResourceProperties", props))
		if ferr == nil || !strings.Contains(ferr.Message, "key sync") {
			t.Fatalf("create without keys: %v", ferr)
		}
		if n := len(fake.Webhooks()); n != 0 {
			t.Fatalf("%d subscriptions made before the keys", n)
		}
	})

	in := start(t, keysynctest.NewSSM(t, map[string]string{param: string(hookJWKS)}))
	created, ferr := send(t, in, with("RequestType", "Create", "ResourceProperties", props))
	hooks := fake.Webhooks()
	if ferr != nil || len(hooks) != 2 || !hooks[0].Enabled || !hooks[1].Enabled {
		t.Fatalf("create: %v, %+v", ferr, hooks)
	}
	ids := hooks[0].ID + "," + hooks[1].ID
	if created.PhysicalResourceID != "upvest-webhooks:"+url || created.Data["SubscriptionIds"] != ids {
		t.Fatalf("create answered %+v", created)
	}
	// CloudFormation retries a Create (its answer lost): adopted, never duplicated.
	again, ferr := send(t, in, with("RequestType", "Create", "ResourceProperties", props))
	if ferr != nil || again.Data["SubscriptionIds"] != ids || len(fake.Webhooks()) != 2 {
		t.Fatalf("retried create: %+v, %v, %d subscriptions", again, ferr, len(fake.Webhooks()))
	}
	newProps := map[string]any{"ServiceToken": props["ServiceToken"], "Url": url, "Lanes": `[{"title":"orders","type":["ORDER"],"delay":"2s"}]`, "OnDelete": "disable"}
	updated, ferr := send(t, in, with("RequestType", "Update", "PhysicalResourceId", created.PhysicalResourceID, "ResourceProperties", newProps, "OldResourceProperties", props))
	if ferr != nil || updated.PhysicalResourceID != created.PhysicalResourceID || updated.Data["SubscriptionIds"] != hooks[0].ID {
		t.Fatalf("update: %+v, %v", updated, ferr)
	}
	after := fake.Webhooks()
	if after[0].Config.Delay != "2s" || len(after[0].Type) != 1 || after[1].Enabled {
		t.Fatalf("after update: %+v", after)
	}
	if _, ferr := send(t, in, with("RequestType", "Delete", "PhysicalResourceId", created.PhysicalResourceID, "ResourceProperties", newProps)); ferr != nil {
		t.Fatal(ferr)
	}
	for _, h := range fake.Webhooks() {
		if h.Enabled {
			t.Errorf("after stack deletion %s (%s) is still enabled", h.ID, h.Title)
		}
	}
	if len(fake.Webhooks()) != 2 {
		t.Errorf("stack deletion deleted subscriptions; it disables them")
	}
	if r := fake.Refusals(); len(r) != 0 {
		t.Errorf("the fake Upvest refused %v", r)
	}
}

package ops

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/upvest-webhooks/upvest-webhooks/events"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/awssdk"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/config"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/keysync"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/ledger"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/schema"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/signature"
)

// Environment of `ops golive` when deployed (besides the Upvest API's and LEDGER_TABLE).
const (
	EnvWebhookURL = "WEBHOOK_URL" // the stack's WebhookUrl output
)

// ErrNotLive means a go-live check failed; the report says which and why.
var ErrNotLive = errors.New("not live")

// GoLive checks, in order, that Upvest's deliveries can reach the ledger.
type GoLive struct {
	WebhookURL string
	// JWKS reads what the ingest function verifies with; Where names it.
	JWKS      func(ctx context.Context) ([]byte, error)
	JWKSWhere string
	Upvest    *keysync.Client
	// WebhookID picks the subscription; empty: the one on WebhookURL.
	WebhookID string
	// Ledger finds verified, recorded events of a subscription since a time.
	Ledger LedgerSearch
	Wait   time.Duration // for the test delivery; default 2 min
	Poll   time.Duration // default 1 s
	HTTP   *http.Client
	// Now is this machine's clock (default time.Now). The ledger is searched by
	// the endpoint's clock, read from the probe's Date header, as they differ.
	Now func() time.Time

	offset time.Duration // the endpoint's clock less this machine's, from the probe
}

func (g *GoLive) now() time.Time {
	if g.Now != nil {
		return g.Now()
	}
	return time.Now()
}

// LedgerSearch returns the records received since since carrying webhookID.
type LedgerSearch func(ctx context.Context, webhookID string, since time.Time) ([]ledger.Stored, error)

// Step is one check's verdict.
type Step struct {
	Name    string `json:"name"`
	OK      bool   `json:"ok"`
	Verdict string `json:"verdict"`
	Fix     string `json:"fix,omitempty"`
}

// Run runs the checks in order, stopping at the first failure (each needs
// the one before), and reports each step to report as it ends.
func (g *GoLive) Run(ctx context.Context, report func(Step)) []Step {
	var steps []Step
	add := func(s Step) bool {
		steps = append(steps, s)
		report(s)
		return s.OK
	}
	if !add(g.probe(ctx)) {
		return steps
	}
	if !add(g.keys(ctx)) {
		return steps
	}
	hook, s := g.subscription(ctx)
	if !add(s) {
		return steps
	}
	add(g.delivery(ctx, hook))
	return steps
}

func (g *GoLive) httpClient() *http.Client {
	if g.HTTP != nil {
		return g.HTTP
	}
	return &http.Client{Timeout: 15 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// probe posts an unsigned request: a live endpoint refuses it with 401.
func (g *GoLive) probe(ctx context.Context) Step {
	s := Step{Name: "endpoint"}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, g.WebhookURL, strings.NewReader(`{"payload":[]}`))
	if err != nil {
		s.Verdict, s.Fix = fmt.Sprintf("%q is not a URL", g.WebhookURL), "set WEBHOOK_URL to the stack's WebhookUrl output"
		return s
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := g.httpClient().Do(req)
	if err != nil {
		s.Verdict = fmt.Sprintf("no answer from %s: %v", g.WebhookURL, err)
		s.Fix = "wrong URL, or the stack is not deployed (or `make run` not up): use the WebhookUrl output"
		return s
	}
	defer resp.Body.Close()
	if date, err := http.ParseTime(resp.Header.Get("Date")); err == nil {
		g.offset = date.Sub(g.now())
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	switch code := resp.StatusCode; {
	case code == http.StatusUnauthorized:
		s.OK, s.Verdict = true, fmt.Sprintf("%s refuses an unsigned request with 401, as it should", g.WebhookURL)
	case code == http.StatusForbidden && ingestRefusal(body, "forbidden"):
		// Ingest's allowlist admits Upvest's addresses, not the operator's: this
		// is the stack's endpoint answering, and the test delivery, sent from
		// Upvest's address, proves that signed requests get through.
		s.OK = true
		s.Verdict = fmt.Sprintf("%s is this stack's ingest; it refuses this machine's address (IP allowlist), so the signature check "+
			"is proven by the test delivery", g.WebhookURL)
	case code == http.StatusForbidden:
		s.Verdict = "403: the endpoint refuses this machine's address (IP allowlist)"
		s.Fix = "run golive from an allowed address, or check IP_ALLOWLIST holds Upvest's addresses (sandbox or live) and not only yours"
	case code >= 500:
		s.Verdict = fmt.Sprintf("%d (5xx) to an unsigned probe: %s", code, strings.TrimSpace(string(body)))
		s.Fix = "the ingest function fails before it checks signatures: 503 usually means no keys in the JWKS parameter (run `ops keys sync`); see the ingest logs"
	case code >= 300 && code < 400:
		s.Verdict = fmt.Sprintf("%d redirect to %s: Upvest does not follow redirects", code, resp.Header.Get("Location"))
		s.Fix = "wrong URL: register the stack's WebhookUrl output itself"
	case code == http.StatusNotFound || code == http.StatusMethodNotAllowed:
		s.Verdict = fmt.Sprintf("%d: nothing takes POST at %s", code, g.WebhookURL)
		s.Fix = "wrong URL: use the stack's WebhookUrl output (path /webhooks)"
	default:
		s.Verdict = fmt.Sprintf("%d to an unsigned probe, want 401: the endpoint does not check signatures", code)
		s.Fix = "wrong URL (not this stack's ingest endpoint?)"
	}
	return s
}

// ingestRefusal says whether body is ingest's own error answer with this
// code ({"error":"forbidden",...}), not a gateway's or another server's.
func ingestRefusal(body []byte, code string) bool {
	var b struct {
		Error string `json:"error"`
	}
	return json.Unmarshal(body, &b) == nil && b.Error == code
}

// keys checks the JWKS the ingest function reads: usable P-521 keys, and
// the ones Upvest publishes now (otherwise every signature is refused).
func (g *GoLive) keys(ctx context.Context) Step {
	s := Step{Name: "keys"}
	fix := "run `ops keys sync` (or invoke the KeySyncFunctionName output) so that " + g.JWKSWhere + " holds Upvest's keys"
	stored, err := g.JWKS(ctx)
	if err != nil {
		s.Verdict, s.Fix = fmt.Sprintf("keys missing: %s: %v", g.JWKSWhere, err), fix
		return s
	}
	have, _, err := signature.ParseJWKS(stored)
	if err != nil {
		s.Verdict, s.Fix = fmt.Sprintf("keys unusable: %s: %v", g.JWKSWhere, err), fix
		return s
	}
	published, err := g.Upvest.FetchJWKS(ctx)
	if err != nil {
		s.Verdict = fmt.Sprintf("%s holds %d usable P-521 key(s), but Upvest's keys could not be fetched to compare: %v", g.JWKSWhere, len(have), err)
		s.Fix = "check the API client's credentials (UPVEST_API_SECRET_ID) and scope"
		return s
	}
	want, _, err := signature.ParseJWKS(published)
	if err != nil {
		s.Verdict, s.Fix = fmt.Sprintf("Upvest's published key set is unusable: %v", err), "ask Upvest"
		return s
	}
	var missing []string
	for kid, k := range want {
		if h, ok := have[kid]; !ok || !h.Equal(k) {
			missing = append(missing, kid)
		}
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		s.Verdict = fmt.Sprintf("signatures will be refused: %s lacks Upvest's current key(s) %s", g.JWKSWhere, strings.Join(missing, ", "))
		s.Fix = fix
		return s
	}
	s.OK, s.Verdict = true, fmt.Sprintf("%s holds %d usable P-521 key(s), Upvest's current ones", g.JWKSWhere, len(have))
	return s
}

// subscription finds the subscription and checks it is enabled and ours.
func (g *GoLive) subscription(ctx context.Context) (keysync.Webhook, Step) {
	s := Step{Name: "subscription"}
	api := keysync.Webhooks{Client: g.Upvest}
	var hook keysync.Webhook
	if g.WebhookID != "" {
		h, err := api.Get(ctx, g.WebhookID)
		if err != nil {
			s.Verdict, s.Fix = fmt.Sprintf("subscription %s: %v", g.WebhookID, err), "check the id with `ops webhooks list`"
			return hook, s
		}
		hook = h
	} else {
		all, err := api.All(ctx)
		if err != nil {
			s.Verdict, s.Fix = fmt.Sprintf("list subscriptions: %v", err), "check the API client's credentials and its webhooks:read scope"
			return hook, s
		}
		var ours, enabled []keysync.Webhook
		for _, h := range all {
			if sameURL(h.URL, g.WebhookURL) {
				ours = append(ours, h)
				if h.Enabled {
					enabled = append(enabled, h)
				}
			}
		}
		if len(ours) > 1 && len(enabled) == 1 {
			// The others are disabled: leftovers such as a dropped or renamed lane.
			ours = enabled
		}
		switch {
		case len(ours) == 0:
			s.Verdict = fmt.Sprintf("none of the %d subscription(s) points at %s", len(all), g.WebhookURL)
			s.Fix = "create one: ops webhooks create -title <title> -url " + g.WebhookURL
			return hook, s
		case len(ours) > 1:
			var ids []string
			for _, h := range ours {
				ids = append(ids, h.ID)
			}
			s.Verdict = fmt.Sprintf("%d subscriptions point at %s (%s)", len(ours), g.WebhookURL, strings.Join(ids, ", "))
			s.Fix = "say which with -webhook-id (lanes: check each)"
			return hook, s
		}
		hook = ours[0]
	}
	switch {
	case !sameURL(hook.URL, g.WebhookURL):
		s.Verdict = fmt.Sprintf("wrong URL: subscription %s points at %s, not this stack's %s", hook.ID, hook.URL, g.WebhookURL)
		s.Fix = fmt.Sprintf("ops webhooks update %s -url %s", hook.ID, g.WebhookURL)
	case !hook.Enabled:
		s.Verdict = fmt.Sprintf("subscription %s on %s is disabled", hook.ID, hook.URL)
		s.Fix = "ops webhooks enable " + hook.ID
	default:
		s.OK = true
		s.Verdict = fmt.Sprintf("subscription %s (%s) is enabled on %s for %s", hook.ID, hook.Title, hook.URL, strings.Join(hook.Type, ","))
	}
	return hook, s
}

func sameURL(a, b string) bool { return strings.TrimRight(a, "/") == strings.TrimRight(b, "/") }

// delivery asks Upvest for a test delivery and waits until the ledger holds
// a verified, recorded event from that subscription.
func (g *GoLive) delivery(ctx context.Context, hook keysync.Webhook) Step {
	s := Step{Name: "delivery"}
	// By the endpoint's clock (its Date has whole seconds), which writes received_at.
	since := g.now().Add(g.offset).Add(-2 * time.Second)
	if err := (keysync.Webhooks{Client: g.Upvest}).Test(ctx, hook.ID); err != nil {
		s.Verdict, s.Fix = fmt.Sprintf("test delivery not requested: %v", err), testRefusalFix(err, hook.ID)
		return s
	}
	wait, poll := g.Wait, g.Poll
	if wait <= 0 {
		wait = 2 * time.Minute
	}
	if poll <= 0 {
		poll = time.Second
	}
	deadline := time.Now().Add(wait)
	for {
		recs, err := g.Ledger(ctx, hook.ID, since)
		if err != nil {
			s.Verdict, s.Fix = fmt.Sprintf("read the ledger: %v", err), "check LEDGER_TABLE and your AWS credentials"
			return s
		}
		if len(recs) > 0 {
			r := recs[0]
			s.OK = r.Status != ledger.Parked
			s.Verdict = fmt.Sprintf("Upvest's test delivery reached the ledger: event %s (%s) from subscription %s, verified and recorded, status %s",
				r.EventID, r.EventType, hook.ID, r.Status)
			if !s.OK {
				s.Verdict += ": " + r.Reason
				s.Fix = "the event was verified but parked: see `ops inspect " + r.EventID + "`"
			}
			return s
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			break
		}
		select {
		case <-ctx.Done():
		case <-time.After(poll):
		}
	}
	s.Verdict = fmt.Sprintf("no verified request from subscription %s reached the ledger within %s", hook.ID, wait)
	s.Fix = "the endpoint refused Upvest's request or it never arrived: signature refused (keys differ or the clock is off: see the ingest logs for 401s), " +
		"IP allowlist (403s in the logs: IP_ALLOWLIST must hold Upvest's addresses), 5xx (ingest errors and alarms), or Upvest is slow (try -wait 5m)"
	return s
}

// testRefusalFix says what to do about a refused test request, by Upvest's answer.
func testRefusalFix(err error, id string) string {
	var apiErr *keysync.APIError
	if !errors.As(err, &apiErr) {
		return "Upvest did not answer: check UPVEST_API_BASE_URL and the network, then try again"
	}
	switch {
	case apiErr.Status == http.StatusForbidden || strings.Contains(apiErr.Op, "/auth/token"):
		return "the API client needs the webhooks:admin scope (and its credentials must be right)"
	case apiErr.Status == http.StatusNotFound:
		return "subscription " + id + " is gone at Upvest: check with `ops webhooks list`"
	case apiErr.Status == http.StatusTooManyRequests || apiErr.Status >= 500:
		return "Upvest is busy or failing: try again in a minute (quote the upvest-request-id to Upvest if it persists)"
	}
	return "see Upvest's answer above; quote its upvest-request-id to Upvest's support"
}

// ScanLedger is a LedgerSearch over the ledger table: a scan of what was
// received since (a fresh stack's ledger is small; the scan is bounded by
// the wait), reading each record's bytes for its webhook_id.
func ScanLedger(db interface {
	ledger.DynamoAPI
	Scan(ctx context.Context, in *dynamodb.ScanInput, optFns ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error)
}, table string) LedgerSearch {
	l := ledger.NewDynamo(db, table)
	return func(ctx context.Context, webhookID string, since time.Time) ([]ledger.Stored, error) {
		var out []ledger.Stored
		var start map[string]types.AttributeValue
		for {
			page, err := db.Scan(ctx, &dynamodb.ScanInput{
				TableName:                aws.String(table),
				FilterExpression:         aws.String("#r >= :since AND attribute_exists(#t)"),
				ProjectionExpression:     aws.String("#id"),
				ExpressionAttributeNames: map[string]string{"#r": schema.LedgerReceivedAt, "#id": schema.LedgerPK, "#t": "event_type"},
				ExpressionAttributeValues: map[string]types.AttributeValue{
					":since": &types.AttributeValueMemberS{Value: events.SortableTime(since)},
				},
				ExclusiveStartKey: start,
			})
			if err != nil {
				return nil, fmt.Errorf("scan ledger %s: %w", table, err)
			}
			for _, item := range page.Items {
				id, ok := item[schema.LedgerPK].(*types.AttributeValueMemberS)
				if !ok {
					continue
				}
				rec, err := l.Read(ctx, id.Value)
				if err != nil {
					return nil, err
				}
				var ev struct {
					WebhookID string `json:"webhook_id"`
				}
				if json.Unmarshal(rec.Raw, &ev) == nil && ev.WebhookID == webhookID {
					out = append(out, rec)
				}
			}
			if start = page.LastEvaluatedKey; len(start) == 0 {
				return out, nil
			}
		}
	}
}

// golive runs `ops golive`.
func (c *CLI) golive(ctx context.Context, args []string) error {
	fs, local := c.flags("golive")
	asJSON := fs.Bool("json", false, "print the steps as JSON")
	g := &GoLive{}
	fs.StringVar(&g.WebhookID, "webhook-id", "", "the subscription to check (default: the one on the endpoint's URL)")
	fs.DurationVar(&g.Wait, "wait", 2*time.Minute, "how long to wait for the test delivery")
	if err := c.parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return fmt.Errorf("%w: golive takes no arguments", ErrUsage)
	}
	if g.WebhookID != "" {
		if err := keysync.ValidateID(g.WebhookID); err != nil {
			return fmt.Errorf("%w: %v", ErrUsage, err)
		}
	}
	if g.Wait <= 0 || g.Wait > 30*time.Minute {
		return fmt.Errorf("%w: -wait between 1s and 30m", ErrUsage)
	}
	if *local {
		lc, err := config.LoadLocal(c.Getenv)
		if err != nil {
			return err
		}
		g.WebhookURL = lc.WebhookURL
		path := c.Getenv(config.EnvJWKSFile)
		if path == "" {
			path = filepath.Join(lc.Dir, config.LocalDevJWKSFile)
		}
		g.JWKSWhere = "the JWKS file " + path
		g.JWKS = func(context.Context) ([]byte, error) { return os.ReadFile(path) }
	} else {
		g.WebhookURL = c.Getenv(EnvWebhookURL)
		param := c.Getenv(config.EnvJWKSParameter)
		if param == "" {
			param = c.Getenv(config.EnvKeySyncSSMParameter)
		}
		// Every missing variable at once, not one group per attempt.
		var problems []string
		if g.WebhookURL == "" {
			problems = append(problems, EnvWebhookURL+" is required (the WebhookUrl output)")
		}
		if param == "" {
			problems = append(problems, config.EnvJWKSParameter+" is required (the JWKS parameter's name)")
		}
		if _, err := config.LoadOps(c.Getenv, config.OpsNeeds{Ledger: true}); err != nil {
			problems = append(problems, err.Error())
		}
		if c.UpvestAPI == nil {
			if _, err := config.LoadUpvestAPI(c.Getenv); err != nil {
				problems = append(problems, err.Error())
			}
		}
		if len(problems) > 0 {
			return fmt.Errorf("golive needs: %s", strings.Join(problems, "; "))
		}
		cfg, err := c.awsConfig(ctx)
		if err != nil {
			return err
		}
		client := ssm.NewFromConfig(cfg)
		g.JWKSWhere = "the SSM parameter " + param
		g.JWKS = func(ctx context.Context) ([]byte, error) {
			out, err := client.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(param)})
			if err != nil {
				return nil, err
			}
			return []byte(aws.ToString(out.Parameter.Value)), nil
		}
	}
	t, err := c.connect(ctx, *local, config.OpsNeeds{Ledger: true})
	if err != nil {
		return err
	}
	if g.Upvest, err = c.upvestAPI(ctx, *local); err != nil {
		return err
	}
	g.Ledger = ScanLedger(t.db, t.res.LedgerTable)
	return c.runGoLive(ctx, g, *asJSON)
}

func (c *CLI) runGoLive(ctx context.Context, g *GoLive, asJSON bool) error {
	names := []string{"endpoint", "keys", "subscription", "delivery"}
	steps := g.Run(ctx, func(s Step) {
		if asJSON {
			return
		}
		mark := "FAIL"
		if s.OK {
			mark = "ok  "
		}
		fmt.Fprintf(c.Stdout, "%s %d/4 %-12s %s\n", mark, slices.Index(names, s.Name)+1, s.Name, s.Verdict)
		if s.Fix != "" {
			fmt.Fprintf(c.Stdout, "          fix: %s\n", s.Fix)
		}
	})
	live := len(steps) == len(names) && steps[len(steps)-1].OK
	if asJSON {
		var buf bytes.Buffer
		if err := writeJSON(&buf, map[string]any{"live": live, "steps": steps}); err != nil {
			return err
		}
		if _, err := c.Stdout.Write(buf.Bytes()); err != nil {
			return err
		}
	} else if live {
		fmt.Fprintln(c.Stdout, "LIVE: Upvest's deliveries reach the ledger")
	}
	if !live {
		last := steps[len(steps)-1]
		return fmt.Errorf("%w: %s: %s", ErrNotLive, last.Name, last.Verdict)
	}
	return nil
}

// awsConfig loads the operator's AWS configuration (c.AWS in tests).
func (c *CLI) awsConfig(ctx context.Context) (aws.Config, error) {
	load := c.AWS
	if load == nil {
		load = func(ctx context.Context) (aws.Config, error) { return awssdk.LoadDefault(ctx) }
	}
	cfg, err := load(ctx)
	if err != nil {
		return aws.Config{}, fmt.Errorf("aws configuration: %w", err)
	}
	return cfg, nil
}

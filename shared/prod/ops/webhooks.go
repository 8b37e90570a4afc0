package ops

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/config"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/keysync"
)

// WebhooksUsage is the help of `ops webhooks`.
const WebhooksUsage = `usage: go run ./functions/ops webhooks <action> [flags] [id]

  list    [-limit N] [-offset N] [-sort created_at|updated_at|title|url|enabled] [-order ASC|DESC]
  show    <id>
  create  -title T -url URL [-type ALL|CAT,CAT...] [-exclude-type CAT,...] [-delay 1s] [-max-package-size N] [-enable=true]
  update  <id> [-title T] [-url URL] [-type ...] [-exclude-type ...] [-delay D] [-max-package-size N]
  enable  <id>
  disable <id>
  delete  <id>
  test    <id>        ask Upvest for a test delivery (sent asynchronously)

Every action takes -json (print Upvest's JSON) and -local (the fake Upvest of ` + "`make run`" + `;
create's -url then defaults to the local endpoint). Reads use a webhooks:read token, changes
webhooks:admin. Deployed: UPVEST_API_BASE_URL, UPVEST_API_SECRET_ID (as the key sync) and your AWS
credentials. New subscriptions start disabled at Upvest: create enables it unless -enable=false; run
` + "`ops keys sync`" + ` first, or its first deliveries meet a 503.
`

// upvestAPI returns the Upvest API client for -local or the deployed variables.
func (c *CLI) upvestAPI(ctx context.Context, local bool) (*keysync.Client, error) {
	if c.UpvestAPI != nil {
		return c.UpvestAPI(ctx, local)
	}
	if local {
		lc, err := config.LoadLocal(c.Getenv)
		if err != nil {
			return nil, err
		}
		base, creds, err := keysync.ReadLocalAPI(lc.Dir)
		if err != nil {
			return nil, err
		}
		return &keysync.Client{BaseURL: base, Credentials: keysync.StaticCredentials(creds)}, nil
	}
	cfg, err := config.LoadUpvestAPI(c.Getenv)
	if err != nil {
		return nil, err
	}
	awsCfg, err := c.awsConfig(ctx)
	if err != nil {
		return nil, err
	}
	return &keysync.Client{
		BaseURL: cfg.BaseURL, APIVersion: cfg.APIVersion,
		Credentials: keysync.SecretsManagerCredentials(secretsmanager.NewFromConfig(awsCfg), cfg.SecretID),
		HTTP:        &http.Client{Timeout: 15 * time.Second},
	}, nil
}

// listFlag is a comma-separated list of categories.
type listFlag struct {
	values []string
	set    bool
}

func (l *listFlag) String() string { return strings.Join(l.values, ",") }
func (l *listFlag) Set(s string) error {
	l.set = true
	l.values = nil
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			l.values = append(l.values, strings.ToUpper(v))
		}
	}
	if len(l.values) == 0 {
		return errors.New("empty list")
	}
	return nil
}

// webhooks runs `ops webhooks <action>`. Every flag and id is checked before
// any call to Upvest.
func (c *CLI) webhooks(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: webhooks needs an action", ErrUsage)
	}
	if isHelp(args[0]) {
		_, err := io.WriteString(c.Stdout, WebhooksUsage)
		return err
	}
	action, args := args[0], args[1:]
	fs, local := c.flags("webhooks " + action)
	asJSON := fs.Bool("json", false, "print Upvest's JSON")
	var list keysync.ListOptions
	var change keysync.WebhookChange
	var title, url, delay string
	var size int
	var types, exclude listFlag
	enable := true
	needID := true
	switch action {
	case "list":
		needID = false
		fs.IntVar(&list.Limit, "limit", 0, "at most this many (1..1000; Upvest's default 100)")
		fs.IntVar(&list.Offset, "offset", 0, "skip this many")
		fs.StringVar(&list.Sort, "sort", "", "created_at, updated_at, title, url or enabled")
		fs.StringVar(&list.Order, "order", "", "ASC or DESC")
	case "create", "update":
		needID = action == "update"
		fs.StringVar(&title, "title", "", "1-32 of letters, digits, space and ()[]{}.-")
		fs.StringVar(&url, "url", "", "the https:// endpoint (the stack's WebhookUrl output)")
		fs.Var(&types, "type", "categories, comma-separated, or ALL (create's default)")
		fs.Var(&exclude, "exclude-type", "event types left out (with -type ALL only)")
		fs.StringVar(&delay, "delay", "", "how long Upvest gathers events per request, 1s..30s")
		fs.IntVar(&size, "max-package-size", 0, "bytes per request, 100..1048576")
		if action == "create" {
			fs.BoolVar(&enable, "enable", true, "enable it once created (new subscriptions start disabled)")
			needID = false
		}
	case "show", "enable", "disable", "delete", "test":
	default:
		return fmt.Errorf("%w: unknown webhooks action %q", ErrUsage, action)
	}
	// The id may come before, between or after the flags (update -local <id> -title x).
	var rest []string
	for {
		if err := c.parse(fs, args); err != nil {
			return err
		}
		if fs.NArg() == 0 {
			break
		}
		rest, args = append(rest, fs.Arg(0)), fs.Args()[1:]
	}
	var id string
	switch {
	case needID && len(rest) != 1:
		return fmt.Errorf("%w: webhooks %s takes one webhook id", ErrUsage, action)
	case !needID && len(rest) != 0:
		return fmt.Errorf("%w: webhooks %s takes no arguments, got %q", ErrUsage, action, rest)
	case needID:
		id = rest[0]
		if err := keysync.ValidateID(id); err != nil {
			return fmt.Errorf("%w: %v", ErrUsage, err)
		}
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if action == "create" && !set["url"] && *local {
		lc, err := config.LoadLocal(c.Getenv)
		if err != nil {
			return err
		}
		url, set["url"] = lc.WebhookURL, true
	}
	if action == "create" || action == "update" {
		if set["title"] {
			change.Title = &title
		}
		if set["url"] {
			change.URL = &url
		}
		change.Type, change.ExcludeType = types.values, exclude.values
		if set["delay"] || set["max-package-size"] {
			change.Config = &keysync.WebhookConfig{Delay: delay, MaxPackageSize: size}
			if set["max-package-size"] && size == 0 {
				size = -1 // 0 would be dropped as "not set"; let validation refuse it
				change.Config.MaxPackageSize = size
			}
			if set["delay"] && delay == "" {
				return fmt.Errorf("%w: -delay is empty", ErrUsage)
			}
		}
		if err := change.Validate(action == "create", *local); err != nil {
			return fmt.Errorf("%w: %v", ErrUsage, err)
		}
		changes := []string{"title", "url", "type", "exclude-type", "delay", "max-package-size"}
		if action == "update" && !slices.ContainsFunc(changes, func(name string) bool { return set[name] }) {
			return fmt.Errorf("%w: webhooks update: say what to change (-title, -url, -type, ...)", ErrUsage)
		}
	}
	if action == "list" {
		if list.Limit < 0 || list.Limit > keysync.MaxListLimit || list.Offset < 0 {
			return fmt.Errorf("%w: -limit 1..%d, -offset at least 0", ErrUsage, keysync.MaxListLimit)
		}
		if list.Sort != "" && !strings.Contains(" created_at updated_at title url enabled ", " "+list.Sort+" ") {
			return fmt.Errorf("%w: -sort %q: created_at, updated_at, title, url or enabled", ErrUsage, list.Sort)
		}
		if list.Order = strings.ToUpper(list.Order); list.Order != "" && list.Order != "ASC" && list.Order != "DESC" {
			return fmt.Errorf("%w: -order %q: ASC or DESC", ErrUsage, list.Order)
		}
	}

	client, err := c.upvestAPI(ctx, *local)
	if err != nil {
		return err
	}
	api := keysync.Webhooks{Client: client}
	out := &webhookPrinter{w: c.Stdout, json: *asJSON}
	err = func() error {
		switch action {
		case "list":
			page, err := api.List(ctx, list)
			if err != nil {
				return err
			}
			return out.list(page)
		case "show":
			h, err := api.Get(ctx, id)
			if err != nil {
				return err
			}
			return out.one("", h)
		case "create":
			h, err := api.Create(ctx, change)
			if err != nil {
				return err
			}
			if enable && !h.Enabled {
				on := true
				created := h.ID
				if h, err = api.Update(ctx, created, keysync.WebhookChange{Enabled: &on}); err != nil {
					return fmt.Errorf("created %s, but enabling it failed (run: ops webhooks enable %s): %w", created, created, err)
				}
			}
			return out.one("created", h)
		case "update":
			h, err := api.Update(ctx, id, change)
			if err != nil {
				return err
			}
			return out.one("updated", h)
		case "enable", "disable":
			on := action == "enable"
			h, err := api.Update(ctx, id, keysync.WebhookChange{Enabled: &on})
			if err != nil {
				return err
			}
			return out.one(action+"d", h)
		case "delete":
			if err := api.Delete(ctx, id); err != nil {
				return err
			}
			return out.done(id, "deleted")
		case "test":
			if err := api.Test(ctx, id); err != nil {
				return err
			}
			return out.done(id, "test delivery requested (Upvest sends it asynchronously; `ops golive` waits for it)")
		}
		return nil
	}()
	var apiErr *keysync.APIError
	if err != nil && *asJSON && errors.As(err, &apiErr) {
		_ = json.NewEncoder(c.Stdout).Encode(map[string]any{"error": map[string]any{
			"type": apiErr.Type, "status": apiErr.Status, "title": apiErr.Title, "detail": apiErr.Detail,
			"upvest_request_id": apiErr.RequestID, "operation": apiErr.Op,
		}})
	}
	return err
}

type webhookPrinter struct {
	w    io.Writer
	json bool
}

func (p *webhookPrinter) encode(v any) error {
	return writeJSON(p.w, v)
}

func (p *webhookPrinter) list(page keysync.WebhookList) error {
	if p.json {
		return p.encode(page)
	}
	tw := tabwriter.NewWriter(p.w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tENABLED\tTITLE\tTYPE\tURL")
	for _, h := range page.Data {
		fmt.Fprintf(tw, "%s\t%v\t%s\t%s\t%s\n", h.ID, h.Enabled, h.Title, strings.Join(h.Type, ","), h.URL)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(p.w, "%d of %d subscription(s) from offset %d\n", page.Meta.Count, page.Meta.TotalCount, page.Meta.Offset)
	return err
}

func (p *webhookPrinter) one(verb string, h keysync.Webhook) error {
	if p.json {
		return p.encode(h)
	}
	if verb != "" {
		fmt.Fprintf(p.w, "%s %s\n", verb, h.ID)
	}
	tw := tabwriter.NewWriter(p.w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "id\t%s\ntitle\t%s\nurl\t%s\nenabled\t%v\ntype\t%s\n", h.ID, h.Title, h.URL, h.Enabled, strings.Join(h.Type, ","))
	if len(h.ExcludeType) > 0 {
		fmt.Fprintf(tw, "exclude_type\t%s\n", strings.Join(h.ExcludeType, ","))
	}
	fmt.Fprintf(tw, "delay\t%s\nmax_package_size\t%d\ncreated_at\t%s\nupdated_at\t%s\n", h.Config.Delay, h.Config.MaxPackageSize, h.CreatedAt, h.UpdatedAt)
	return tw.Flush()
}

func (p *webhookPrinter) done(id, what string) error {
	if p.json {
		return p.encode(map[string]string{"id": id, "result": strings.Fields(what)[0]})
	}
	_, err := fmt.Fprintf(p.w, "%s: %s\n", id, what)
	return err
}

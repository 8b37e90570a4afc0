package replay

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/upvest-webhooks/upvest-webhooks/events"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/fanout"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/ledger"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/longrun"
)

// Scanner is what a filtered replay reads the ledger with; *ledger.Dynamo is one.
type Scanner interface {
	ScanEvents(ctx context.Context, q ledger.ScanQuery, from []ledger.Cursor, fn func(context.Context, ledger.ScanPage) error) error
	Read(ctx context.Context, eventID string) (ledger.Stored, error)
}

var _ Scanner = (*ledger.Dynamo)(nil)

// Bulk replays every ledger record a Filter selects, or with Plan only counts
// what it would send. Both go through one decision per record, so a plan's
// counts are what the replay then sends (unless the ledger changes between).
//
// Parked records take the single-record path (Replayer: reopened in the
// ledger, then sent). Every other record is sent to the queue its type routes
// to now, with its original id and exact bytes, and its ledger record is left
// as it is: workers are idempotent, so an event already applied comes out as a
// duplicate or stale, and one that was lost is applied.
type Bulk struct {
	Ledger     Scanner
	Replayer   *Replayer // for parked records; its DryRun must equal Plan
	Publisher  fanout.Publisher
	Plan       bool
	Segments   int                     // parallel Scan segments; 0: 4
	Limiter    *longrun.Limiter        // one unit per event sent; nil: no limit
	Checkpoint *longrun.CheckpointFile // nil: not resumable
	Progress   *longrun.Progress       // nil: silent
	Total      int64                   // approximate ledger items, for the ETA of a Scan (a run by ids counts its ids)
	// Source names the ledger read (its table, local or deployed). It is part
	// of the run's identity, so a checkpoint of a run on another ledger is refused.
	Source string
}

// Key is a group of selected records: where it goes, its type, its status
// (settled statuses count as RECEIVED, a replayed record still listed as PARKED: see RecordGroup).
type Key struct {
	Domain events.Domain `json:"domain"`
	Type   string        `json:"type"`
	Status ledger.Status `json:"status"`
}

// Group is the count of one Key.
type Group struct {
	Key
	Count int `json:"count"`
}

// BulkSummary is what a filtered replay did, or a plan would do.
type BulkSummary struct {
	Plan      bool            `json:"plan"`
	Resumed   bool            `json:"resumed"`
	Evaluated int             `json:"ledger_items_read"`
	ReadUnits float64         `json:"read_units"`
	Sent      int             `json:"sent"` // a plan: would send
	Groups    []Group         `json:"groups"`
	NotSent   map[Outcome]int `json:"not_sent,omitempty"`
}

const defaultSegments = 4

// counter names in the checkpoint
const (
	cEvaluated = "evaluated"
	cReadMilli = "read_units_milli"
	cSend      = "send\x1f"
	cNotSent   = "not_sent\x1f"
)

// Run replays (or plans) the selection. On error or cancellation the
// checkpoint holds every page finished, and the same command resumes.
func (b *Bulk) Run(ctx context.Context, f Filter) (BulkSummary, error) {
	if b.Replayer == nil || b.Replayer.DryRun != b.Plan {
		return BulkSummary{}, errors.New("replay: the parked-record replayer must be a dry run exactly when planning")
	}
	segments := b.Segments
	if segments <= 0 {
		segments = defaultSegments
	}
	cpf := b.Checkpoint
	if cpf == nil {
		cpf = &longrun.CheckpointFile{}
	}
	job := "replay " + f.Describe()
	if b.Source != "" {
		job += " from " + b.Source
	}
	if f.IDs != nil {
		segments = 1
	}
	cp, resumed, err := cpf.Load(job, segments)
	if err != nil {
		return BulkSummary{}, err
	}
	total := b.Total
	if f.IDs != nil {
		total = int64(len(f.IDs)) // read one by one: the ledger's size says nothing of this run's
	}
	b.Progress.Start(total, int64(cp.Counters[cEvaluated]))
	if f.IDs != nil {
		err = b.byIDs(ctx, f, cp.Cursors[0], cpf)
	} else {
		err = b.Ledger.ScanEvents(ctx, f.Query(segments), cp.Cursors, func(ctx context.Context, p ledger.ScanPage) error {
			return b.page(ctx, f, p, cpf)
		})
	}
	b.Progress.Done()
	sum := summarize(cpf.Counters(), b.Plan, resumed)
	if err != nil {
		return sum, err
	}
	return sum, cpf.Finish()
}

// byIDs reads the listed records one by one (no Scan), in id order, 25 a page.
func (b *Bulk) byIDs(ctx context.Context, f Filter, c ledger.Cursor, cpf *longrun.CheckpointFile) error {
	ids := make([]string, 0, len(f.IDs))
	for id := range f.IDs {
		if id > c.After {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	for chunk := range slices.Chunk(ids, 25) {
		p := ledger.ScanPage{Next: ledger.Cursor{After: chunk[len(chunk)-1]}}
		for _, id := range chunk {
			s, err := b.Ledger.Read(ctx, id)
			if errors.Is(err, ledger.ErrNotFound) {
				p.Evaluated++
				p.Records = append(p.Records, ledger.Stored{EventID: id, Kind: "missing"})
				continue
			}
			if err != nil {
				return err
			}
			p.Evaluated++
			p.Records = append(p.Records, s)
		}
		if err := b.page(ctx, f, p, cpf); err != nil {
			return err
		}
	}
	return cpf.Advance(0, ledger.Cursor{Done: true}, nil)
}

// page decides, sends and counts one page, then moves the checkpoint past it.
func (b *Bulk) page(ctx context.Context, f Filter, p ledger.ScanPage, cpf *longrun.CheckpointFile) error {
	counts := map[string]int{cEvaluated: p.Evaluated, cReadMilli: int(p.ReadUnits * 1000)}
	var msgs []fanout.Message
	matched := 0
	for _, s := range p.Records {
		if s.Kind == "missing" {
			counts[cNotSent+string(NotInTheLedger)]++
			continue
		}
		if !f.Match(s) {
			continue
		}
		matched++
		if RecordGroup(s) == ledger.Parked {
			if !b.Plan {
				if err := b.Limiter.Wait(ctx, 1); err != nil {
					return err
				}
			}
			res, err := b.Replayer.one(ctx, s.EventID)
			if err != nil {
				return err
			}
			if res.Outcome == Requeued || res.Outcome == WouldRequeue {
				counts[sendKey(Key{res.Domain, s.EventType, RecordGroup(s)})]++
			} else {
				counts[cNotSent+string(res.Outcome)]++
			}
			continue
		}
		e, route, err := events.ClassifyRaw(s.Raw)
		if err != nil {
			counts[cNotSent+string(StillUnusable)]++
			continue
		}
		msgs = append(msgs, fanout.Message{EventID: s.EventID, EventType: e.Type, Domain: route.Domain, Raw: s.Raw})
		counts[sendKey(Key{route.Domain, s.EventType, RecordGroup(s)})]++
	}
	if len(msgs) > 0 && !b.Plan {
		if err := b.Limiter.Wait(ctx, float64(len(msgs))); err != nil {
			return err
		}
		if err := b.Publisher.Publish(ctx, msgs); err != nil {
			return fmt.Errorf("send %d events (the checkpoint is before them; run the command again): %w", len(msgs), err)
		}
	}
	b.Progress.Add(p.Evaluated, matched)
	return cpf.Advance(p.Segment, p.Next, counts)
}

func sendKey(k Key) string {
	return cSend + string(k.Domain) + "\x1f" + k.Type + "\x1f" + string(k.Status)
}

func summarize(c map[string]int, plan, resumed bool) BulkSummary {
	s := BulkSummary{Plan: plan, Resumed: resumed, Evaluated: c[cEvaluated], ReadUnits: float64(c[cReadMilli]) / 1000, Groups: []Group{}}
	for k, n := range c {
		switch {
		case strings.HasPrefix(k, cSend):
			parts := strings.Split(strings.TrimPrefix(k, cSend), "\x1f")
			s.Groups = append(s.Groups, Group{Key{events.Domain(parts[0]), parts[1], ledger.Status(parts[2])}, n})
			s.Sent += n
		case strings.HasPrefix(k, cNotSent):
			if s.NotSent == nil {
				s.NotSent = map[Outcome]int{}
			}
			s.NotSent[Outcome(strings.TrimPrefix(k, cNotSent))] += n
		}
	}
	sort.Slice(s.Groups, func(i, j int) bool {
		a, b := s.Groups[i].Key, s.Groups[j].Key
		return a.Domain < b.Domain || a.Domain == b.Domain && (a.Type < b.Type || a.Type == b.Type && a.Status < b.Status)
	})
	return s
}

// Describe is the filter as a checkpoint's job name: a resume must select the same records.
func (f Filter) Describe() string {
	var parts []string
	add := func(name string, vals ...string) {
		vals = slices.DeleteFunc(vals, func(v string) bool { return v == "" })
		if len(vals) > 0 {
			slices.Sort(vals)
			parts = append(parts, name+"="+strings.Join(vals, ","))
		}
	}
	var ds, ss []string
	for _, d := range f.Domains {
		ds = append(ds, string(d))
	}
	for _, s := range f.Statuses {
		ss = append(ss, string(s))
	}
	add("domain", ds...)
	add("type", f.Types...)
	add("status", ss...)
	if !f.Since.IsZero() {
		add("since", f.Since.Format("2006-01-02T15:04:05.999999999Z07:00"))
	}
	if !f.Until.IsZero() {
		add("until", f.Until.Format("2006-01-02T15:04:05.999999999Z07:00"))
	}
	add("by", string(f.By))
	if f.IDs != nil {
		add("ids", idsDigest(f.IDs))
	}
	return strings.Join(parts, " ")
}

// idsDigest names a set of ids by its size and content: two files of as many
// different ids are different runs, and must not resume each other.
func idsDigest(ids map[string]bool) string {
	h := sha256.New()
	for _, id := range slices.Sorted(maps.Keys(ids)) {
		h.Write([]byte(id))
		h.Write([]byte{'\n'})
	}
	return strconv.Itoa(len(ids)) + " sha256:" + hex.EncodeToString(h.Sum(nil)[:8])
}

// Package awscount counts what a program asks of AWS: requests per service and
// operation, and the write and read capacity DynamoDB reports for them,
// indexes included. It is SDK middleware: Counter.Attach puts it on an
// aws.Config, and every client built from that config is counted. The
// benchmarks use it to model cost per event; it is not meant for production.
package awscount

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go/middleware"
)

// Counter sums requests and DynamoDB capacity. Safe for concurrent use.
type Counter struct {
	mu    sync.Mutex
	calls map[string]int // "Service.Operation" → HTTP attempts (each is billed)
	wcu   map[string]float64
	rcu   map[string]float64
	index map[string]float64 // "DynamoDB.Operation" → the part of wcu written to indexes
	table map[string]float64 // table name → write units, its indexes included
}

// New returns an empty Counter.
func New() *Counter {
	return &Counter{calls: map[string]int{}, wcu: map[string]float64{}, rcu: map[string]float64{}, index: map[string]float64{}, table: map[string]float64{}}
}

// Attach returns a copy of cfg whose clients report to c.
func (c *Counter) Attach(cfg aws.Config) aws.Config {
	cfg = cfg.Copy()
	cfg.APIOptions = append(cfg.APIOptions, c.register)
	return cfg
}

func (c *Counter) register(stack *middleware.Stack) error {
	if err := stack.Initialize.Add(middleware.InitializeMiddlewareFunc("awscount.Capacity", c.capacity), middleware.After); err != nil {
		return fmt.Errorf("awscount: %w", err)
	}
	// The deserialize step runs once per HTTP attempt, retries included.
	if err := stack.Deserialize.Add(middleware.DeserializeMiddlewareFunc("awscount.Requests", c.request), middleware.After); err != nil {
		return fmt.Errorf("awscount: %w", err)
	}
	return nil
}

func (c *Counter) request(ctx context.Context, in middleware.DeserializeInput, next middleware.DeserializeHandler) (middleware.DeserializeOutput, middleware.Metadata, error) {
	name := awsmiddleware.GetServiceID(ctx) + "." + awsmiddleware.GetOperationName(ctx)
	c.mu.Lock()
	c.calls[name]++
	c.mu.Unlock()
	return next.HandleDeserialize(ctx, in)
}

// capacity asks DynamoDB for the capacity of every call, indexes included,
// and adds what it reports. A conditional write that fails still costs write
// units, but DynamoDB's error carries no figure: it is estimated from the
// larger of the item sent and the item returned, as DynamoDB bills it.
func (c *Counter) capacity(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
	if awsmiddleware.GetServiceID(ctx) != dynamodb.ServiceID {
		return next.HandleInitialize(ctx, in)
	}
	op := awsmiddleware.GetOperationName(ctx)
	var sent map[string]types.AttributeValue
	indexes := types.ReturnConsumedCapacityIndexes
	switch p := in.Parameters.(type) {
	case *dynamodb.PutItemInput:
		p.ReturnConsumedCapacity, sent = indexes, p.Item
	case *dynamodb.UpdateItemInput:
		p.ReturnConsumedCapacity = indexes
	case *dynamodb.DeleteItemInput:
		p.ReturnConsumedCapacity = indexes
	case *dynamodb.GetItemInput:
		p.ReturnConsumedCapacity = indexes
	case *dynamodb.QueryInput:
		p.ReturnConsumedCapacity = indexes
	case *dynamodb.ScanInput:
		p.ReturnConsumedCapacity = indexes
	case *dynamodb.BatchWriteItemInput:
		p.ReturnConsumedCapacity = indexes
	case *dynamodb.BatchGetItemInput:
		p.ReturnConsumedCapacity = indexes
	case *dynamodb.TransactWriteItemsInput:
		p.ReturnConsumedCapacity = indexes
	}
	out, md, err := next.HandleInitialize(ctx, in)
	var failed *types.ConditionalCheckFailedException
	switch {
	case err == nil:
		c.addReported(op, out.Result)
	case asConditionalFailure(err, &failed):
		units := math.Ceil(float64(max(ItemSize(sent), ItemSize(failed.Item))) / 1024)
		c.add(op, max(units, 1), 0)
		c.mu.Lock()
		c.table[tableOf(in.Parameters)] += max(units, 1)
		c.mu.Unlock()
	}
	return out, md, err
}

func (c *Counter) addReported(op string, result any) {
	var caps []types.ConsumedCapacity
	switch r := result.(type) {
	case *dynamodb.PutItemOutput:
		caps = one(r.ConsumedCapacity)
	case *dynamodb.UpdateItemOutput:
		caps = one(r.ConsumedCapacity)
	case *dynamodb.DeleteItemOutput:
		caps = one(r.ConsumedCapacity)
	case *dynamodb.GetItemOutput:
		caps = one(r.ConsumedCapacity)
	case *dynamodb.QueryOutput:
		caps = one(r.ConsumedCapacity)
	case *dynamodb.ScanOutput:
		caps = one(r.ConsumedCapacity)
	case *dynamodb.BatchWriteItemOutput:
		caps = r.ConsumedCapacity
	case *dynamodb.BatchGetItemOutput:
		caps = r.ConsumedCapacity
	case *dynamodb.TransactWriteItemsOutput:
		caps = r.ConsumedCapacity
	}
	for _, cc := range caps {
		// The total includes the indexes; it is read units for a read
		// operation, write units for any other.
		total := aws.ToFloat64(cc.CapacityUnits)
		indexUnits := 0.0
		for _, ix := range cc.GlobalSecondaryIndexes {
			indexUnits += aws.ToFloat64(ix.CapacityUnits)
		}
		if isRead(op) {
			c.add(op, 0, total)
			continue
		}
		c.add(op, total, 0)
		c.mu.Lock()
		c.index[dynamodb.ServiceID+"."+op] += indexUnits
		c.table[aws.ToString(cc.TableName)] += total
		c.mu.Unlock()
	}
}

func isRead(op string) bool {
	switch op {
	case "GetItem", "Query", "Scan", "BatchGetItem", "TransactGetItems":
		return true
	}
	return false
}

func one(cc *types.ConsumedCapacity) []types.ConsumedCapacity {
	if cc == nil {
		return nil
	}
	return []types.ConsumedCapacity{*cc}
}

func (c *Counter) add(op string, wcu, rcu float64) {
	if wcu == 0 && rcu == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.wcu[dynamodb.ServiceID+"."+op] += wcu
	c.rcu[dynamodb.ServiceID+"."+op] += rcu
}

// Snapshot is what a Counter has seen so far.
type Snapshot struct {
	Calls map[string]int     // "Service.Operation" → requests
	WCU   map[string]float64 // "DynamoDB.Operation" → write capacity units, indexes included
	RCU   map[string]float64 // "DynamoDB.Operation" → read capacity units
	// IndexWCU is the part of WCU written to global secondary indexes.
	IndexWCU map[string]float64
	// TableWCU is the write units by table name, indexes included.
	TableWCU map[string]float64
}

// Snapshot copies the current counts.
func (c *Counter) Snapshot() Snapshot {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := Snapshot{Calls: map[string]int{}, WCU: map[string]float64{}, RCU: map[string]float64{}, IndexWCU: map[string]float64{}, TableWCU: map[string]float64{}}
	for k, v := range c.calls {
		s.Calls[k] = v
	}
	for k, v := range c.wcu {
		s.WCU[k] = v
	}
	for k, v := range c.rcu {
		s.RCU[k] = v
	}
	for k, v := range c.index {
		s.IndexWCU[k] = v
	}
	for k, v := range c.table {
		s.TableWCU[k] = v
	}
	return s
}

// Requests is the number of requests to one service ("" for all).
func (s Snapshot) Requests(service string) int {
	n := 0
	for name, v := range s.Calls {
		if service == "" || strings.HasPrefix(name, service+".") {
			n += v
		}
	}
	return n
}

// WriteUnits is the sum of DynamoDB write capacity units, indexes included.
func (s Snapshot) WriteUnits() float64 { return sum(s.WCU) }

// IndexWriteUnits is the part of WriteUnits written to indexes.
func (s Snapshot) IndexWriteUnits() float64 { return sum(s.IndexWCU) }

// ReadUnits is the sum of DynamoDB read capacity units.
func (s Snapshot) ReadUnits() float64 { return sum(s.RCU) }

func sum(m map[string]float64) float64 {
	total := 0.0
	for _, v := range m {
		total += v
	}
	return total
}

// String lists the calls, one "Service.Operation n" per line, sorted.
func (s Snapshot) String() string {
	names := make([]string, 0, len(s.Calls))
	for name := range s.Calls {
		names = append(names, name)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, name := range names {
		fmt.Fprintf(&b, "%s %d", name, s.Calls[name])
		if w := s.WCU[name]; w > 0 {
			fmt.Fprintf(&b, " (%.1f WCU, %.1f of them to indexes)", w, s.IndexWCU[name])
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// tableOf names the table of a single-item write.
func tableOf(params any) string {
	switch p := params.(type) {
	case *dynamodb.PutItemInput:
		return aws.ToString(p.TableName)
	case *dynamodb.UpdateItemInput:
		return aws.ToString(p.TableName)
	case *dynamodb.DeleteItemInput:
		return aws.ToString(p.TableName)
	}
	return ""
}

func asConditionalFailure(err error, target **types.ConditionalCheckFailedException) bool {
	return errors.As(err, target)
}

// ItemSize is an item's size as DynamoDB bills it: attribute names plus
// values (strings and binaries by length, numbers about one byte per two
// digits, one byte for a boolean or null, three bytes of overhead per map or list).
func ItemSize(item map[string]types.AttributeValue) int {
	n := 0
	for name, v := range item {
		n += len(name) + valueSize(v)
	}
	return n
}

func valueSize(v types.AttributeValue) int {
	switch v := v.(type) {
	case *types.AttributeValueMemberS:
		return len(v.Value)
	case *types.AttributeValueMemberB:
		return len(v.Value)
	case *types.AttributeValueMemberN:
		return (len(v.Value)+1)/2 + 1
	case *types.AttributeValueMemberBOOL, *types.AttributeValueMemberNULL:
		return 1
	case *types.AttributeValueMemberM:
		return 3 + len(v.Value) + ItemSize(v.Value)
	case *types.AttributeValueMemberL:
		n := 3 + len(v.Value)
		for _, e := range v.Value {
			n += valueSize(e)
		}
		return n
	case *types.AttributeValueMemberSS:
		n := 0
		for _, s := range v.Value {
			n += len(s)
		}
		return n
	case *types.AttributeValueMemberBS:
		n := 0
		for _, b := range v.Value {
			n += len(b)
		}
		return n
	case *types.AttributeValueMemberNS:
		n := 0
		for _, s := range v.Value {
			n += (len(s)+1)/2 + 1
		}
		return n
	}
	return 0
}

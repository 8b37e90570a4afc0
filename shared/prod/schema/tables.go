package schema

import "sort"

// Table is the shape of a DynamoDB table: the one definition from which both
// the CDK stack (infra/stack/tables.go) and the local provisioning
// (shared/local/localaws) build their tables. Every key attribute is a string.
type Table struct {
	PartitionKey string
	Indexes      []Index    // global secondary indexes, in a fixed order
	StreamView   StreamView // "" for no stream
	TTLAttribute string     // "" for no TTL
}

// Index is a global secondary index.
type Index struct {
	Name         string
	PartitionKey string
	SortKey      string // "" for none
	Projection   Projection
}

// Projection is which attributes an index copies, named as DynamoDB names them.
type Projection string

const (
	ProjectAll      Projection = "ALL"
	ProjectKeysOnly Projection = "KEYS_ONLY"
)

// StreamView is what a table's stream records carry, named as DynamoDB names it.
type StreamView string

const StreamNewAndOldImages StreamView = "NEW_AND_OLD_IMAGES"

// KeyAttributes are the attributes the table and its indexes are keyed on,
// sorted: the attribute definitions DynamoDB requires.
func (t Table) KeyAttributes() []string {
	seen := map[string]bool{t.PartitionKey: true}
	for _, ix := range t.Indexes {
		seen[ix.PartitionKey], seen[ix.SortKey] = true, true
	}
	delete(seen, "")
	out := make([]string, 0, len(seen))
	for name := range seen {
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}

// LedgerTable is the event log and dedup record: one item per event id,
// expiring by TTL, with a sparse index of parked events. The parked index
// projects everything: an operator reads parked events whole, and there are few.
var LedgerTable = Table{
	PartitionKey: LedgerPK,
	Indexes: []Index{
		{Name: LedgerParkedIndex, PartitionKey: LedgerParked, SortKey: LedgerReceivedAt, Projection: ProjectAll},
	},
	TTLAttribute: LedgerExpiresAt,
}

// StateTable is one domain's current state: one item per entity, streamed with
// both images so that consumers see what changed. The query indexes are sparse,
// keys only and keyed by the id alone (a reader fetches the rows it needs by
// pk). An index entry is written only when one of its keys changes, so with
// the id as the only key an ordinary update (new object, status, ordered_at)
// writes no index entry: measured on DynamoDB Local, an update moving
// ordered_at cost 2 extra write units per index with ordered_at as sort key
// (delete + put), and none without it (shared/prod/state's TestUpdateWritesNoIndexEntry).
var StateTable = Table{
	PartitionKey: StatePK,
	Indexes: []Index{
		{Name: StateByUserIndex, PartitionKey: StateUserID, Projection: ProjectKeysOnly},
		{Name: StateByAccountIndex, PartitionKey: StateAccountID, Projection: ProjectKeysOnly},
		{Name: StateByAccountGroupIndex, PartitionKey: StateAccountGroupID, Projection: ProjectKeysOnly},
	},
	StreamView: StreamNewAndOldImages,
}

// DefaultCapacityTargetUtilization (percent) is the share of provisioned
// capacity auto scaling keeps in use when the stack runs with
// capacityMode=provisioned; shared/testkit/perf prices writes at it.
const DefaultCapacityTargetUtilization = 70

// Package permissions lists the AWS actions each function's own code performs,
// by resource. The stack grants exactly these (infra/stack), and the local run
// refuses any other DynamoDB or SQS call as IAM would (localaws.Policy), so a
// code path that needs an action nobody granted fails the tests, not the
// first delivery that takes it in production.
package permissions

// Resource is one kind of resource a function works on. The stack maps it to
// ARNs, the local run to table names and queue URLs.
type Resource string

const (
	Ledger        Resource = "ledger"
	StateTable    Resource = "state table"   // a worker's own domain's
	DomainQueues  Resource = "domain queues" // every domain's queue
	JWKSParameter Resource = "JWKS parameter"
)

// Permission is what a function does to one of its resources.
type Permission struct {
	Resource Resource
	Actions  []string // IAM action names, e.g. "dynamodb:PutItem"
}

// Ingest is what the ingest function does.
var Ingest = []Permission{
	// The conditional put that dedupes (a prior record comes back with the
	// failed condition, no read needed), the status updates, and the read of a
	// recorded event whose id came again with other bytes while it is still
	// RECEIVED: its recorded bytes are sent again, not the new ones.
	{Resource: Ledger, Actions: []string{"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"}},
	// SendMessageBatch is authorised by sqs:SendMessage.
	{Resource: DomainQueues, Actions: []string{"sqs:SendMessage"}},
	// Upvest's keys, which the operator loads and rotates outside the deployment.
	{Resource: JWKSParameter, Actions: []string{"ssm:GetParameter"}},
}

// Worker is what a domain's worker function does (the event source mapping's
// receives and deletes are the Lambda service's, granted by the stack).
var Worker = []Permission{
	// Every state write, the parent views included, is a conditional update.
	{Resource: StateTable, Actions: []string{"dynamodb:UpdateItem"}},
	// Parks and releases are updates (a worker writes no settled outcome, but
	// both exceptions remain); a claim-checked event is read back.
	{Resource: Ledger, Actions: []string{"dynamodb:GetItem", "dynamodb:UpdateItem"}},
}

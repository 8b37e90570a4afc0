package schema

import "time"

// Queue and worker settings shared by the deployed stack (infra/) and the
// local run, so that retries and dead-lettering behave the same in both.
const (
	WorkerTimeout          = 30 * time.Second
	DefaultBatchWindow     = 1 * time.Second
	DefaultMaxReceiveCount = 5
)

// QueueVisibilityTimeout leaves a message invisible while any worker could
// still hold it: AWS's advice of 6 × the function timeout, plus the batching window.
func QueueVisibilityTimeout(batchWindow time.Duration) time.Duration {
	return 6*WorkerTimeout + batchWindow
}

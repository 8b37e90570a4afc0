package tracing

// instrumentationName is the tracer name of the AWS SDK spans.
const instrumentationName = "github.com/upvest-webhooks/upvest-webhooks/shared/prod/tracing"

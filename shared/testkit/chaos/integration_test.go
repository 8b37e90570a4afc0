package chaos_test

import (
	"context"
	"testing"
	"time"

	"github.com/upvest-webhooks/upvest-webhooks/shared/local/faults"
	"github.com/upvest-webhooks/upvest-webhooks/shared/local/localaws/awstest"
	"github.com/upvest-webhooks/upvest-webhooks/shared/local/localrun"
	"github.com/upvest-webhooks/upvest-webhooks/shared/local/webhookclient"
	"github.com/upvest-webhooks/upvest-webhooks/shared/testkit/chaos"
)

// runPipeline runs the local pipeline in this process on env's tables, with
// the faults of spec injected, and returns a client signing for it.
func runPipeline(t *testing.T, env awstest.Environment, spec string) *webhookclient.Client {
	t.Helper()
	keys, err := localrun.EnsureDevKeys(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := faults.Parse(spec)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- localrun.Run(ctx, localrun.Options{
			AWS: env.Config, Names: env.Names, Addr: "127.0.0.1:0", JWKSFile: keys.JWKSPath,
			VisibilityTimeout: 2 * time.Second, MaxReceiveCount: 10, Workers: true,
			Ready:     func(url string) { ready <- url },
			AdjustAWS: faults.New(cfg, faults.Options{Seed: 3}).Install,
		})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("pipeline: %v", err)
		}
	})
	select {
	case url := <-ready:
		key, kid, err := webhookclient.LoadSigningKey(keys.PrivateKeyPath, keys.KeyID, keys.JWKSPath)
		if err != nil {
			t.Fatal(err)
		}
		return &webhookclient.Client{URL: url, Key: key, KeyID: kid}
	case err := <-done:
		t.Fatalf("pipeline did not start: %v", err)
	case <-time.After(2 * time.Minute):
		t.Fatal("pipeline did not start")
	}
	return nil
}

// A small storm with poison through the in-process pipeline, SDK faults on:
// the oracle finds nothing lost, wrong or applied twice.
func TestStormThroughTheLocalPipelineWithSDKFaults(t *testing.T) {
	t.Parallel()
	env := awstest.Env(t)
	client := runPipeline(t, env, "error=0.03,throttle=0.03,conn=0.03,final=0.005,timeout=0.03,partial=0.2,race=0.1")
	plan, err := chaos.NewPlan(chaos.PlanOptions{Events: 150, PoisonRate: 0.1, Seed: 5})
	if err != nil {
		t.Fatal(err)
	}
	storm := chaos.Storm(context.Background(), plan, chaos.StormOptions{Client: client, BackoffUnit: 20 * time.Millisecond, MaxBackoff: 500 * time.Millisecond, Seed: 5})
	checker := chaos.NewChecker(env.Config, env.Names)
	ctx := context.Background()
	if n, err := checker.WaitSettled(ctx, plan, storm.Acked, time.Minute, nil); err != nil || n > 0 {
		t.Errorf("%d events unsettled (%v)", n, err)
	}
	v, err := checker.Check(ctx, plan, storm.Acked)
	if err != nil {
		t.Fatal(err)
	}
	if !v.OK() || v.Entities == 0 {
		t.Fatalf("verdict %+v", v)
	}
	if storm.Redeliveries == 0 || storm.Retries == 0 {
		t.Errorf("storm without redeliveries or retries: %+v", storm)
	}
}

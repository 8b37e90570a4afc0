package main

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// A bad setting is refused before any server starts, naming the variable.
func TestSettingsAreCheckedBeforeAnythingStarts(t *testing.T) {
	for _, tt := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"LOCAL_VISIBILITY_TIMEOUT": "1500ms"}, "LOCAL_VISIBILITY_TIMEOUT"},
		{map[string]string{"LOCAL_VISIBILITY_TIMEOUT": "soon"}, "LOCAL_VISIBILITY_TIMEOUT"},
		{map[string]string{"UPVEST_FAULTS": "error=2"}, "UPVEST_FAULTS"},
		{map[string]string{"UPVEST_FAULTS": "error=0.1", "UPVEST_FAULTS_SEED": "x"}, "UPVEST_FAULTS_SEED"},
		{map[string]string{"LOCAL_ADDR": "8080"}, "LOCAL_ADDR"},
		{map[string]string{"LOCAL_SQS_PORT": "0"}, "LOCAL_SQS_PORT"},
	} {
		_, err := loadSettings(func(k string) string { return tt.env[k] })
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%v: %v, want an error naming %s", tt.env, err, tt.want)
		}
	}
	s, err := loadSettings(func(k string) string {
		return map[string]string{"LOCAL_VISIBILITY_TIMEOUT": "3s", "UPVEST_FAULTS": "error=0.1", "LOCAL_ADDR": "127.0.0.1:0"}[k]
	})
	if err != nil || s.visibility != 3*time.Second || s.local.Addr != "127.0.0.1:0" {
		t.Errorf("good settings: %+v, %v", s, err)
	}
}

// An endpoint address already taken is refused before the servers start (a
// JVM's start takes a while), naming LOCAL_ADDR, the setting that moves it.
func TestATakenEndpointAddressIsRefusedBeforeTheServersStart(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	free := make([]string, 2)
	var picked []net.Listener // open until both are picked, so that they differ
	for i := range free {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		picked = append(picked, l)
		free[i] = strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	}
	for _, l := range picked {
		l.Close()
	}
	dir := t.TempDir()
	t.Setenv("LOCAL_DIR", dir)
	t.Setenv("LOCAL_ADDR", busy.Addr().String())
	t.Setenv("LOCAL_DYNAMODB_PORT", free[0])
	t.Setenv("LOCAL_SQS_PORT", free[1])
	t.Setenv("LOCAL_UPVEST_ADDR", "127.0.0.1:0")
	err = run()
	if err == nil || !strings.Contains(err.Error(), "LOCAL_ADDR="+busy.Addr().String()) {
		t.Fatalf("run with LOCAL_ADDR taken: %v; want an error naming LOCAL_ADDR", err)
	}
	if _, statErr := os.Stat(filepath.Join(dir, "logs", "dynamodb.log")); statErr == nil {
		t.Errorf("DynamoDB Local was started before the taken address was found (%v)", err)
	}
}

package main

import (
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

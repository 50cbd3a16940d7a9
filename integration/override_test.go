package integration

import (
	"net/http"
	"testing"
	"time"

	"github.com/wakegate/wakegate/envoy"
)

// TestMessageTimeoutOverrideFlag: with a short message_timeout, max_message_timeout and
// wakegate's --message-timeout-override, a hold longer than message_timeout still ends in
// the app's answer; without the flag Envoy cuts it at message_timeout.
func TestMessageTimeoutOverrideFlag(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		args []string
		want int
	}{{"override", []string{"--message-timeout-override"}, http.StatusOK}, {"no override", nil, http.StatusGatewayTimeout}} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := startStack(t, stackOptions{startupDelay: "1500ms", args: tt.args, envoy: func(l *envoy.Local) {
				l.MessageTimeout, l.MaxMessageTimeout, l.FailureModeAllow = 500*time.Millisecond, time.Minute, false
			}})
			r := s.get(t, appHost)
			t.Logf("%s: status %d after %v", tt.name, r.status, r.elapsed.Round(time.Millisecond))
			if r.status != tt.want {
				t.Fatalf("status %d, want %d (body %.200q)", r.status, tt.want, r.body)
			}
			if tt.want == http.StatusOK {
				assertStat(t, s.envoy, "override_message_timeout_received", 1)
			}
		})
	}
}

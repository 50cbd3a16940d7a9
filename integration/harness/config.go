package harness

import (
	"encoding/json"
	"fmt"
	"os"
)

// LocalConfig is a `wakegate local --config` file. It is written as JSON, which is YAML.
// Durations are Go duration strings ("1s").
type LocalConfig struct {
	Targets []LocalTarget `json:"targets"`
}

// LocalTarget is one target of a LocalConfig.
type LocalTarget struct {
	Name            string         `json:"name"`
	Match           Match          `json:"match"`
	Process         ProcessSpec    `json:"process"`
	Readiness       ReadinessCheck `json:"readiness"`
	IdleTimeout     string         `json:"idleTimeout,omitempty"`
	HoldTimeout     string         `json:"holdTimeout,omitempty"`
	WaitingPage     string         `json:"waitingPage,omitempty"` // onTimeout, immediate or off
	StopGracePeriod string         `json:"stopGracePeriod,omitempty"`
	MaxHeld         int            `json:"maxHeld,omitempty"`
}

// Match selects the requests of a target.
type Match struct {
	Hosts        []string          `json:"hosts,omitempty"`
	PathPrefixes []string          `json:"pathPrefixes,omitempty"`
	Headers      map[string]string `json:"headers,omitempty"`
}

// ProcessSpec is the command wakegate runs for a target.
type ProcessSpec struct {
	Command []string          `json:"command"`
	Dir     string            `json:"dir,omitempty"`
	Env     map[string]string `json:"env,omitempty"`
}

// ReadinessCheck says when a target is ready: an HTTP URL or a TCP address.
type ReadinessCheck struct {
	HTTP     string `json:"http,omitempty"`
	TCP      string `json:"tcp,omitempty"`
	Interval string `json:"interval,omitempty"`
}

// WriteFile writes c to path.
func (c LocalConfig) WriteFile(path string) error {
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return fmt.Errorf("encode wakegate config: %w", err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write wakegate config: %w", err)
	}
	return nil
}

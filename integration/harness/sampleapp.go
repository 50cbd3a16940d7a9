package harness

import (
	"context"
	"fmt"
	"path/filepath"
)

// SampleAppOptions describe an examples/sample-app process.
type SampleAppOptions struct {
	Bin          string
	Listen       string // host:port; required (the app cannot report an OS-chosen port)
	Name         string // --name, and the name for messages and files; "sample-app" if empty
	StartupDelay string // --startup-delay, e.g. "2s"; "" for none
}

// Command returns the command line that runs the app, for a wakegate target's process.
func (o SampleAppOptions) Command() []string {
	cmd := []string{o.Bin, "--listen", o.Listen}
	if o.Name != "" {
		cmd = append(cmd, "--name", o.Name)
	}
	if o.StartupDelay != "" {
		cmd = append(cmd, "--startup-delay", o.StartupDelay)
	}
	return cmd
}

// HealthURL returns the app's /healthz URL.
func (o SampleAppOptions) HealthURL() string { return "http://" + o.Listen + "/healthz" }

// SampleApp is a sample app started by the harness itself (not by wakegate).
type SampleApp struct {
	*Process
	Addr string
}

// StartSampleApp starts the app and waits until /healthz answers. The caller must call Stop.
func StartSampleApp(ctx context.Context, dir string, opts SampleAppOptions) (*SampleApp, error) {
	name := opts.Name
	if name == "" {
		name = "sample-app"
	}
	cmd := opts.Command()
	p, err := StartProcess(ProcessOptions{Name: name, Path: cmd[0], Args: cmd[1:], LogPath: filepath.Join(dir, name+".log")})
	if err != nil {
		return nil, err
	}
	err = Poll(ctx, func() (bool, error) {
		select {
		case <-p.Done():
			return false, GiveUp(fmt.Errorf("%w: %v", errExited, p.ExitErr()))
		default:
		}
		_, err := httpGet(ctx, opts.HealthURL())
		return err == nil, err
	})
	if err != nil {
		_ = p.Stop(StopGrace)
		return nil, fmt.Errorf("start %s: %w\n%s", name, err, tail(p.Log(), 30))
	}
	return &SampleApp{Process: p, Addr: opts.Listen}, nil
}

// SampleAppForTest starts the app for t and stops it in t.Cleanup.
func SampleAppForTest(t TB, opts SampleAppOptions) *SampleApp {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), StartTimeout)
	defer cancel()
	a, err := StartSampleApp(ctx, t.TempDir(), opts)
	if err != nil {
		t.Fatalf("%v", err)
	}
	a.stopOnCleanup(t)
	return a
}

package harness

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
)

// Binaries are the paths of the programs the harness starts.
type Binaries struct {
	Wakegate  string
	SampleApp string
}

// BuildOptions say where and how to build the binaries.
type BuildOptions struct {
	Dir  string // output directory; required
	Race bool   // build with the race detector (RaceEnabled tells whether the caller runs with it)
}

// Build compiles cmd/wakegate and examples/sample-app from the repository into opts.Dir.
// It runs the go command, so a program calling it needs the Go toolchain.
func Build(ctx context.Context, opts BuildOptions) (Binaries, error) {
	root, err := RepoRoot()
	if err != nil {
		return Binaries{}, err
	}
	bins := Binaries{Wakegate: filepath.Join(opts.Dir, "wakegate"), SampleApp: filepath.Join(opts.Dir, "sample-app")}
	for _, b := range []struct{ out, pkg string }{{bins.Wakegate, "./cmd/wakegate"}, {bins.SampleApp, "./examples/sample-app"}} {
		args := []string{"build", "-o", b.out}
		if opts.Race {
			args = append(args, "-race")
		}
		cmd := exec.CommandContext(ctx, "go", append(args, b.pkg)...)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			return Binaries{}, fmt.Errorf("go build %s: %w\n%s", b.pkg, err, out)
		}
	}
	return bins, nil
}

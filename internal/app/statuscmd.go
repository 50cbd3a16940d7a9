package app

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// statusFlags are `wakegate status`'s flags.
type statusFlags struct {
	adminAddr string
	timeout   time.Duration
	output    string
}

// maxStatusBody bounds how much of a /status answer the command reads.
const maxStatusBody = 16 << 20

func (f *statusFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.adminAddr, "admin-addr", "127.0.0.1:8080",
		"the replica's admin `address`: host:port (its --admin-addr; e.g. after kubectl port-forward) or an http(s):// URL")
	fs.DurationVar(&f.timeout, "timeout", 5*time.Second, "give up on /status after this long")
	fs.StringVar(&f.output, "output", "table", "output format: table or json (the /status document as served)")
}

// statusURL returns the /status URL of the replica at f.adminAddr; the error names the flag.
func (f *statusFlags) statusURL() (string, error) {
	a := f.adminAddr
	if strings.Contains(a, "://") {
		u, err := url.Parse(a)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return "", fmt.Errorf("--admin-addr %q: want host:port or an http:// or https:// URL", a)
		}
		return strings.TrimSuffix(u.String(), "/") + "/status", nil
	}
	host, port, err := net.SplitHostPort(a)
	if err != nil || port == "" {
		return "", fmt.Errorf("--admin-addr %q: want host:port or an http:// or https:// URL", a)
	}
	if host == "" {
		a = net.JoinHostPort("127.0.0.1", port) // ":8080", as the server's own flag is written
	}
	return "http://" + a + "/status", nil
}

// validate returns the /status URL, or every problem with the flags.
func (f *statusFlags) validate() (string, error) {
	var errs []error
	u, err := f.statusURL()
	if err != nil {
		errs = append(errs, err)
	}
	if f.timeout <= 0 {
		errs = append(errs, fmt.Errorf("--timeout %s: must be positive", f.timeout))
	}
	if f.output != "table" && f.output != "json" {
		errs = append(errs, fmt.Errorf("--output %q: want table or json", f.output))
	}
	return u, errors.Join(errs...)
}

// runStatus is `wakegate status`: it fetches one replica's /status and prints its targets
// with the counts merged over the replicas it hears from, then its peers.
func runStatus(ctx context.Context, env Env, args []string) error {
	fs := flag.NewFlagSet("status", flag.ContinueOnError)
	var f statusFlags
	f.register(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	u, err := f.validate()
	if err != nil {
		return &UsageError{Err: err}
	}
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	body, err := fetchStatus(ctx, u)
	if err != nil {
		return err
	}
	var doc statusDoc
	if err := json.Unmarshal(body, &doc); err != nil {
		return fmt.Errorf("GET %s: not a /status document: %w", u, err)
	}
	if f.output == "json" {
		_, err = env.Stdout.Write(body)
		return err
	}
	return writeStatusTable(env.Stdout, doc)
}

// fetchStatus GETs u and returns the body of a 200 answer.
func fetchStatus(ctx context.Context, u string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", u, err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // it repeats the method and URL
		}
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return nil, fmt.Errorf("GET %s: no answer within --timeout: %w", u, err)
		}
		return nil, fmt.Errorf("GET %s: %w", u, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxStatusBody))
	if err != nil {
		return nil, fmt.Errorf("GET %s: read: %w", u, err)
	}
	if resp.StatusCode != http.StatusOK {
		first, _, _ := strings.Cut(strings.TrimSpace(string(body)), "\n")
		return nil, fmt.Errorf("GET %s: %s: %.200s", u, resp.Status, first)
	}
	return body, nil
}

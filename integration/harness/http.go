package harness

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
)

// maxBody bounds what the harness reads from an admin endpoint.
const maxBody = 8 << 20

// httpGet fetches url and returns the body of a 200 answer.
func httpGet(ctx context.Context, url string) ([]byte, error) { return GetBody(ctx, url, maxBody) }

// GetBody fetches url and returns the body of a 200 answer, read up to limit bytes. On any
// other status the error carries the start of the body, and the body is returned too.
func GetBody(ctx context.Context, url string, limit int64) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", url, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit))
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		return body, fmt.Errorf("GET %s: status %d: %.200s", url, resp.StatusCode, body)
	}
	return body, nil
}

func httpGetString(ctx context.Context, url string) (string, error) {
	b, err := httpGet(ctx, url)
	return string(b), err
}

func httpGetJSON(ctx context.Context, url string, v any) error {
	b, err := httpGet(ctx, url)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("GET %s: decode: %w", url, err)
	}
	return nil
}

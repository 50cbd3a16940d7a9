package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// heldClient sends many concurrent requests to Envoy over HTTP/2 without TLS (prior
// knowledge), spread over several connections: one http.Transport, hence one connection,
// per group of streamsPerConn requests. HTTP/1 would need a connection (two file
// descriptors on loopback) per held request. Safe for concurrent use.
type heldClient struct {
	clients []*http.Client
}

func newHeldClient(requests, streamsPerConn int) *heldClient {
	n := (requests + streamsPerConn - 1) / streamsPerConn
	c := &heldClient{clients: make([]*http.Client, n)}
	for i := range c.clients {
		var p http.Protocols
		p.SetUnencryptedHTTP2(true)
		c.clients[i] = &http.Client{Transport: &http.Transport{Protocols: &p, Proxy: nil}}
	}
	return c
}

// client returns the client of request i; requests i and i+len(clients) share one.
func (c *heldClient) client(i int) *http.Client { return c.clients[i%len(c.clients)] }

// close closes the idle connections of every client.
func (c *heldClient) close() {
	for _, hc := range c.clients {
		hc.CloseIdleConnections()
	}
}

// heldResult is how one held request ended.
type heldResult struct {
	End    time.Time
	Status int
	Err    error
}

// batch is a set of requests in flight. Results are written by one goroutine each and may
// be read once Done is closed.
type batch struct {
	Results  []heldResult
	Started  time.Time
	finished atomic.Int64
	first    atomic.Pointer[string] // how the first request to end ended
	done     chan struct{}
}

// Finished returns how many requests have ended so far.
func (b *batch) Finished() int64 { return b.finished.Load() }

// FirstEnded describes how the first request to end ended ("" if none has).
func (b *batch) FirstEnded() string {
	if p := b.first.Load(); p != nil {
		return *p
	}
	return ""
}

// Done is closed when every request has ended.
func (b *batch) Done() <-chan struct{} { return b.done }

// sendAll starts n GET requests to url, request i with the Host host(i), each bounded by
// timeout (and ctx). It returns at once.
func (c *heldClient) sendAll(ctx context.Context, url string, n int, host func(int) string, timeout time.Duration) *batch {
	b := &batch{Results: make([]heldResult, n), Started: time.Now(), done: make(chan struct{})}
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			r := c.get(ctx, i, url, host(i), timeout)
			b.Results[i] = r
			if b.first.Load() == nil {
				desc := fmt.Sprintf("request %d (Host %s): status %d, error %v", i, host(i), r.Status, r.Err)
				b.first.CompareAndSwap(nil, &desc)
			}
			b.finished.Add(1) // after first: Finished() > 0 implies FirstEnded() != ""
		})
	}
	go func() {
		wg.Wait()
		close(b.done)
	}()
	return b
}

func (c *heldClient) get(ctx context.Context, i int, url, host string, timeout time.Duration) heldResult {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return heldResult{End: time.Now(), Err: err}
	}
	req.Host = host
	resp, err := c.client(i).Do(req)
	if err != nil {
		return heldResult{End: time.Now(), Err: err}
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return heldResult{End: time.Now(), Status: resp.StatusCode, Err: err}
}

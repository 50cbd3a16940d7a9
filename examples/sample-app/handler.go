package main

import (
	"html/template"
	"net/http"
	"time"
)

var page = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>{{.Name}}</title>
<style>body{font-family:system-ui,sans-serif;margin:3rem;color:#222}code{background:#eee;padding:0 .3em}</style>
</head>
<body>
<h1>{{.Greeting}} from {{.Name}}</h1>
<p>You asked for <code>{{.Path}}</code>.</p>
<p>This process has been up for {{.Uptime}}.</p>
</body>
</html>
`))

type pageData struct {
	Greeting, Name, Path string
	Uptime               time.Duration
}

// newHandler serves /healthz and the greeting page. It is safe for concurrent use.
func newHandler(o options, start time.Time) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok"))
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		data := pageData{Greeting: o.greeting, Name: o.name, Path: r.URL.Path,
			Uptime: time.Since(start).Round(time.Millisecond)}
		_ = page.Execute(w, data)
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("x-sample-app", o.name)
		if v, ok := r.Header[http.CanonicalHeaderKey("x-wakegate-cold-start")]; ok && len(v) > 0 {
			w.Header().Set("x-seen-cold-start", v[0])
		}
		mux.ServeHTTP(w, r)
	})
}

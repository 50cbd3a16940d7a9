package tlsreload

import (
	"crypto/tls"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestNewErrors(t *testing.T) {
	ca := newAuthority(t, "test CA")
	good, other := ca.issue(t, 2, "server", false), ca.issue(t, 3, "other", false)
	tests := []struct {
		name     string
		cert     []byte
		key      []byte
		ca       []byte // nil: no CA file
		noCert   bool   // Files.Cert empty
		wantFile string // named in the error: "cert", "key", "ca" or "" (both names)
		wantText string
	}{
		{name: "no cert file given", noCert: true, wantText: "both a cert file and a key file are required"},
		{name: "cert missing", cert: nil, key: good.key, wantFile: "cert", wantText: "no such file"},
		{name: "cert not PEM", cert: []byte("garbage"), key: good.key, wantFile: "cert", wantText: "failed to find any PEM data"},
		{name: "cert truncated", cert: append(append([]byte{}, good.cert...), ca.pem[:len(ca.pem)/2]...), key: good.key,
			wantFile: "cert", wantText: "truncated"},
		{name: "key truncated", cert: good.cert, key: good.key[:len(good.key)-40], wantFile: "key", wantText: "truncated"},
		{name: "key of another cert", cert: good.cert, key: other.key, wantText: "private key does not match public key"},
		{name: "CA not PEM", cert: good.cert, key: good.key, ca: []byte("nope"), wantFile: "ca", wantText: "no PEM CERTIFICATE block"},
		{name: "CA truncated", cert: good.cert, key: good.key, ca: append(append([]byte{}, ca.pem...), ca.pem[:40]...),
			wantFile: "ca", wantText: "truncated"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			f := Files{Cert: filepath.Join(dir, "tls.crt"), Key: filepath.Join(dir, "tls.key")}
			if tc.cert != nil {
				writeFile(t, f.Cert, tc.cert)
			}
			writeFile(t, f.Key, tc.key)
			if tc.ca != nil {
				f.CA = filepath.Join(dir, "ca.crt")
				writeFile(t, f.CA, tc.ca)
			}
			if tc.noCert {
				f.Cert = ""
			}
			_, err := New(f, nil)
			if err == nil {
				t.Fatal("New succeeded, want an error")
			}
			names := map[string][]string{"cert": {f.Cert}, "key": {f.Key}, "ca": {f.CA}, "": {f.Cert, f.Key}}[tc.wantFile]
			for _, n := range append(names, tc.wantText) {
				if !strings.Contains(err.Error(), n) {
					t.Errorf("error %q does not mention %q", err, n)
				}
			}
		})
	}
}

func TestClientCertificates(t *testing.T) {
	ca, stranger := newAuthority(t, "test CA"), newAuthority(t, "stranger CA")
	server := ca.issue(t, 10, "server", false)
	client, foreign := ca.issue(t, 20, "client", true).tlsCert(t), stranger.issue(t, 30, "foreign", true).tlsCert(t)

	open := newFixture(t, server, nil)
	if serial, err := call(t, serve(t, open.r), ca.pool, nil); err != nil || serial != 10 {
		t.Errorf("without a CA file, no client cert: serial %d, %v; want 10, nil", serial, err)
	}

	mutual := newFixture(t, server, ca)
	addr := serve(t, mutual.r)
	if serial, err := call(t, addr, ca.pool, &client); err != nil || serial != 10 {
		t.Errorf("valid client cert: serial %d, %v; want 10, nil", serial, err)
	}
	for name, c := range map[string]*tls.Certificate{"no client cert": nil, "cert of another CA": &foreign} {
		if _, err := call(t, addr, ca.pool, c); status.Code(err) != codes.Unavailable {
			t.Errorf("%s: %v, want the connection refused (Unavailable)", name, err)
		}
	}
}

// A rewrite in place is served to new connections once the interval has passed; not
// before, and existing connections are not disturbed.
func TestRotateInPlace(t *testing.T) {
	ca := newAuthority(t, "test CA")
	f := newFixture(t, ca.issue(t, 1, "server-1", false), nil)
	addr := serve(t, f.r)
	expectSerial(t, addr, ca, 1)

	f.write(t, ca.issue(t, 2, "server-2", false))
	f.clock.advance(DefaultCheckInterval - time.Nanosecond)
	expectSerial(t, addr, ca, 1) // within the interval: not checked yet
	f.clock.advance(time.Nanosecond)
	expectSerial(t, addr, ca, 2)
	if got := f.r.Leaf().SerialNumber.Int64(); got != 2 {
		t.Errorf("Leaf serial %d, want 2", got)
	}
	f.write(t, ca.issue(t, 3, "server-3", false))
	expectSerial(t, addr, ca, 2) // checked a moment ago: the next check waits an interval
	f.clock.advance(DefaultCheckInterval)
	expectSerial(t, addr, ca, 3)
	if w := f.logs.warnings(); len(w) != 0 {
		t.Errorf("warnings %q, want none", w)
	}
}

// Broken files keep the current pair, warn once per distinct failure, and are retried
// when they change again.
func TestBrokenFilesKeepCurrent(t *testing.T) {
	ca := newAuthority(t, "test CA")
	first, second := ca.issue(t, 1, "server-1", false), ca.issue(t, 2, "server-2", false)
	f := newFixture(t, first, nil)
	addr := serve(t, f.r)
	steps := []struct {
		name       string
		cert, key  []byte
		wantSerial int64
		wantWarns  int
	}{
		{"half-written cert", second.cert[:len(second.cert)/2], first.key, 1, 1},
		{"unchanged broken files warn once", second.cert[:len(second.cert)/2], first.key, 1, 1},
		{"new cert, old key", second.cert, first.key, 1, 2},
		{"new key too", second.cert, second.key, 2, 2},
		{"garbage", []byte("not a certificate"), second.key, 2, 3},
		{"key file missing", second.cert, nil, 2, 4},
		{"key file still missing warns once", second.cert, nil, 2, 4},
	}
	for _, st := range steps {
		writeFile(t, f.files.Cert, st.cert)
		if st.key != nil {
			writeFile(t, f.files.Key, st.key)
		} else if err := os.Remove(f.files.Key); err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		f.clock.advance(DefaultCheckInterval)
		if serial, err := call(t, addr, ca.pool, nil); err != nil || serial != st.wantSerial {
			t.Errorf("%s: serial %d, %v; want %d", st.name, serial, err, st.wantSerial)
		}
		if w := f.logs.warnings(); len(w) != st.wantWarns {
			t.Errorf("%s: warnings %q, want %d", st.name, w, st.wantWarns)
		}
	}
	if err := f.r.Reload(); err == nil || !strings.Contains(err.Error(), f.files.Key) {
		t.Errorf("Reload without the key file = %v, want an error naming it", err)
	}
	expectSerial(t, addr, ca, 2)
	f.write(t, ca.issue(t, 3, "server-3", false))
	if err := f.r.Reload(); err != nil {
		t.Fatalf("Reload: %v", err)
	}
	expectSerial(t, addr, ca, 3)
}

// Kubernetes Secret volumes point each file through the "..data" symlink, which is
// swapped atomically to a new directory. Reload picks that up at once.
func TestSecretVolumeSymlinkSwap(t *testing.T) {
	ca := newAuthority(t, "test CA")
	dir := t.TempDir()
	version := func(name string, p pair) {
		t.Helper()
		if err := os.Mkdir(filepath.Join(dir, name), 0o700); err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(dir, name, "tls.crt"), p.cert)
		writeFile(t, filepath.Join(dir, name, "tls.key"), p.key)
		link := filepath.Join(dir, "..data_tmp")
		if err := os.Symlink(name, link); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(link, filepath.Join(dir, "..data")); err != nil {
			t.Fatal(err)
		}
	}
	version("..v1", ca.issue(t, 1, "server-1", false))
	for _, n := range []string{"tls.crt", "tls.key"} {
		if err := os.Symlink(filepath.Join("..data", n), filepath.Join(dir, n)); err != nil {
			t.Fatal(err)
		}
	}
	r := newWithClock(t, Files{Cert: filepath.Join(dir, "tls.crt"), Key: filepath.Join(dir, "tls.key")}, &recorder{}, &fakeClock{})
	addr := serve(t, r)
	expectSerial(t, addr, ca, 1)
	version("..v2", ca.issue(t, 2, "server-2", false))
	if err := r.Reload(); err != nil {
		t.Fatalf("Reload: %v", err)
	}
	expectSerial(t, addr, ca, 2)
}

// A new CA bundle changes which client certificates are accepted.
func TestRotateClientCA(t *testing.T) {
	oldCA, newCA := newAuthority(t, "old CA"), newAuthority(t, "new CA")
	oldClient, newClient := oldCA.issue(t, 20, "c1", true).tlsCert(t), newCA.issue(t, 21, "c2", true).tlsCert(t)
	f := newFixture(t, oldCA.issue(t, 1, "server", false), oldCA)
	addr := serve(t, f.r)
	if _, err := call(t, addr, oldCA.pool, &newClient); status.Code(err) != codes.Unavailable {
		t.Errorf("client of the new CA before rotation: %v, want Unavailable", err)
	}
	writeFile(t, f.files.CA, newCA.pem)
	f.clock.advance(DefaultCheckInterval)
	if _, err := call(t, addr, oldCA.pool, &newClient); err != nil {
		t.Errorf("client of the new CA after rotation: %v", err)
	}
	if _, err := call(t, addr, oldCA.pool, &oldClient); status.Code(err) != codes.Unavailable {
		t.Errorf("client of the old CA after rotation: %v, want Unavailable", err)
	}
}

// Concurrent handshakes during rotations (for the race detector): each sees one of the
// two certificates, never an error.
func TestConcurrentHandshakes(t *testing.T) {
	ca := newAuthority(t, "test CA")
	pairs := []pair{ca.issue(t, 1, "server-1", false), ca.issue(t, 2, "server-2", false)}
	f := newFixture(t, pairs[0], nil)
	addr := serve(t, f.r)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 5 {
				if serial, err := call(t, addr, ca.pool, nil); err != nil || (serial != 1 && serial != 2) {
					t.Errorf("serial %d, %v; want 1 or 2", serial, err)
				}
			}
		})
	}
	for i := range 6 {
		f.write(t, pairs[i%2])
		f.clock.advance(DefaultCheckInterval)
		_ = f.r.Reload() // may race with a half-written file from the clock-driven check: both keep a good pair
	}
	wg.Wait()
}

func expectSerial(t *testing.T, addr string, ca *authority, want int64) {
	t.Helper()
	if serial, err := call(t, addr, ca.pool, nil); err != nil || serial != want {
		t.Errorf("serial %d, %v; want %d", serial, err, want)
	}
}

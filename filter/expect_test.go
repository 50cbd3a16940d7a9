package filter

import (
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"github.com/google/go-cmp/cmp"
)

// expectKind checks the answer is of kind T and, where it has one, its status is CONTINUE
// without mutations.
func expectKind[T any]() func(*testing.T, *extprocv3.ProcessingResponse) {
	return func(t *testing.T, r *extprocv3.ProcessingResponse) {
		t.Helper()
		if _, ok := r.GetResponse().(T); !ok {
			t.Fatalf("answer is %T, want %T", r.GetResponse(), *new(T))
		}
		var common *extprocv3.CommonResponse
		switch v := r.GetResponse().(type) {
		case *extprocv3.ProcessingResponse_ResponseHeaders:
			common = v.ResponseHeaders.GetResponse()
		case *extprocv3.ProcessingResponse_RequestBody:
			common = v.RequestBody.GetResponse()
		case *extprocv3.ProcessingResponse_ResponseBody:
			common = v.ResponseBody.GetResponse()
		default:
			return
		}
		if common.GetStatus() != extprocv3.CommonResponse_CONTINUE || common.GetHeaderMutation() != nil || common.GetBodyMutation() != nil {
			t.Errorf("answer %v, want a plain CONTINUE", r)
		}
	}
}

// expectRequestContinue checks a request_headers CONTINUE that sets exactly set (nil: no
// mutation at all).
func expectRequestContinue(set map[string]string) func(*testing.T, *extprocv3.ProcessingResponse) {
	return func(t *testing.T, r *extprocv3.ProcessingResponse) {
		t.Helper()
		rh, ok := r.GetResponse().(*extprocv3.ProcessingResponse_RequestHeaders)
		if !ok {
			t.Fatalf("answer is %T (%v), want request_headers", r.GetResponse(), r)
		}
		common := rh.RequestHeaders.GetResponse()
		if common.GetStatus() != extprocv3.CommonResponse_CONTINUE {
			t.Errorf("status = %v, want CONTINUE", common.GetStatus())
		}
		m := common.GetHeaderMutation()
		if set == nil {
			if m != nil {
				t.Errorf("header mutation %v, want none", m)
			}
			return
		}
		if diff := cmp.Diff(set, mutationMap(t, m)); diff != "" {
			t.Errorf("headers set (-want +got):\n%s", diff)
		}
	}
}

// expectImmediate checks a 503 immediate response.
func expectImmediate(details, retryAfter, contentType string, bodyHas ...string) func(*testing.T, *extprocv3.ProcessingResponse) {
	return func(t *testing.T, r *extprocv3.ProcessingResponse) {
		t.Helper()
		ir := r.GetImmediateResponse()
		if ir == nil {
			t.Fatalf("answer is %T (%v), want immediate_response", r.GetResponse(), r)
		}
		if ir.GetStatus().GetCode() != 503 || ir.GetDetails() != details {
			t.Errorf("status %d details %q, want 503 %q", ir.GetStatus().GetCode(), ir.GetDetails(), details)
		}
		want := map[string]string{"retry-after": retryAfter, "cache-control": "no-store", "content-type": contentType}
		if diff := cmp.Diff(want, mutationMap(t, ir.GetHeaders())); diff != "" {
			t.Errorf("headers (-want +got):\n%s", diff)
		}
		for _, s := range bodyHas {
			if !strings.Contains(string(ir.GetBody()), s) {
				t.Errorf("body does not contain %q:\n%s", s, ir.GetBody())
			}
		}
	}
}

func expectOverride(d time.Duration) func(*testing.T, *extprocv3.ProcessingResponse) {
	return func(t *testing.T, r *extprocv3.ProcessingResponse) {
		t.Helper()
		if r.GetResponse() != nil || r.GetOverrideMessageTimeout() == nil {
			t.Fatalf("answer %v, want only override_message_timeout", r)
		}
		if got := r.GetOverrideMessageTimeout().AsDuration(); got != d {
			t.Errorf("override_message_timeout = %v, want %v", got, d)
		}
	}
}

// mutationMap flattens set_headers, checking each is an overwrite carried in raw_value.
func mutationMap(t *testing.T, m *extprocv3.HeaderMutation) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, o := range m.GetSetHeaders() {
		if o.GetAppendAction() != corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD || o.GetHeader().GetValue() != "" {
			t.Errorf("header option %v: want OVERWRITE_IF_EXISTS_OR_ADD with raw_value only", o)
		}
		out[o.GetHeader().GetKey()] = string(o.GetHeader().GetRawValue())
	}
	if len(m.GetRemoveHeaders()) > 0 {
		t.Errorf("remove_headers %v, want none", m.GetRemoveHeaders())
	}
	return out
}

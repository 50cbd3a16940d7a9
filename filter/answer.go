package filter

import (
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/wakegate/wakegate/internal/gate"
)

// decisionResponse is the answer to request_headers for d. d must not be Canceled (there is
// no one to answer).
func decisionResponse(d gate.Decision) *extprocv3.ProcessingResponse {
	switch d.Outcome {
	case gate.Pass, gate.Ready:
		return requestHeadersContinue(nil)
	case gate.Released:
		return requestHeadersContinue(setHeaders(releasedHeaders(d)))
	}
	return immediateResponse(rejection(d))
}

func requestHeadersContinue(m *extprocv3.HeaderMutation) *extprocv3.ProcessingResponse {
	return &extprocv3.ProcessingResponse{Response: &extprocv3.ProcessingResponse_RequestHeaders{
		RequestHeaders: &extprocv3.HeadersResponse{Response: &extprocv3.CommonResponse{
			Status:         extprocv3.CommonResponse_CONTINUE,
			HeaderMutation: m,
		}},
	}}
}

// immediateResponse makes Envoy answer the client with a instead of forwarding the request.
func immediateResponse(a answer) *extprocv3.ProcessingResponse {
	return &extprocv3.ProcessingResponse{Response: &extprocv3.ProcessingResponse_ImmediateResponse{
		ImmediateResponse: &extprocv3.ImmediateResponse{
			Status:  &typev3.HttpStatus{Code: typev3.StatusCode(a.Status)},
			Headers: setHeaders(a.Headers),
			Body:    a.Body,
			Details: a.Details,
		},
	}}
}

// setHeaders builds a mutation that sets (overwrites) each header. Values go in raw_value:
// Envoy 1.40 reads raw_value (envoy.reloadable_features.send_header_raw_value, on by
// default) and rejects a header carrying both value and raw_value.
func setHeaders(hs [][2]string) *extprocv3.HeaderMutation {
	m := &extprocv3.HeaderMutation{SetHeaders: make([]*corev3.HeaderValueOption, 0, len(hs))}
	for _, h := range hs {
		m.SetHeaders = append(m.SetHeaders, &corev3.HeaderValueOption{
			Header:       &corev3.HeaderValue{Key: h[0], RawValue: []byte(h[1])},
			AppendAction: corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD,
		})
	}
	return m
}

// overrideTimeout asks Envoy to wait up to d for the answer to the current message.
func overrideTimeout(d time.Duration) *extprocv3.ProcessingResponse {
	return &extprocv3.ProcessingResponse{OverrideMessageTimeout: durationpb.New(d)}
}

// continueFor is the empty "go on unchanged" answer matching msg's kind, for every message
// after request_headers (or before it, for a stream that does not start with one).
func continueFor(msg *extprocv3.ProcessingRequest) (*extprocv3.ProcessingResponse, error) {
	common := func() *extprocv3.CommonResponse {
		return &extprocv3.CommonResponse{Status: extprocv3.CommonResponse_CONTINUE}
	}
	var r extprocv3.ProcessingResponse
	switch msg.GetRequest().(type) {
	case *extprocv3.ProcessingRequest_RequestHeaders:
		return requestHeadersContinue(nil), nil
	case *extprocv3.ProcessingRequest_ResponseHeaders:
		r.Response = &extprocv3.ProcessingResponse_ResponseHeaders{ResponseHeaders: &extprocv3.HeadersResponse{Response: common()}}
	case *extprocv3.ProcessingRequest_RequestBody:
		r.Response = &extprocv3.ProcessingResponse_RequestBody{RequestBody: &extprocv3.BodyResponse{Response: common()}}
	case *extprocv3.ProcessingRequest_ResponseBody:
		r.Response = &extprocv3.ProcessingResponse_ResponseBody{ResponseBody: &extprocv3.BodyResponse{Response: common()}}
	case *extprocv3.ProcessingRequest_RequestTrailers:
		r.Response = &extprocv3.ProcessingResponse_RequestTrailers{RequestTrailers: &extprocv3.TrailersResponse{}}
	case *extprocv3.ProcessingRequest_ResponseTrailers:
		r.Response = &extprocv3.ProcessingResponse_ResponseTrailers{ResponseTrailers: &extprocv3.TrailersResponse{}}
	case nil:
		return nil, status.Error(codes.InvalidArgument,
			"ProcessingRequest.request: not set; want request_headers, response_headers, a body or trailers")
	default:
		return nil, status.Errorf(codes.InvalidArgument, "ProcessingRequest.request: unsupported kind %T", msg.GetRequest())
	}
	return &r, nil
}

// kind names msg's kind for logs.
func kind(msg *extprocv3.ProcessingRequest) string {
	switch msg.GetRequest().(type) {
	case *extprocv3.ProcessingRequest_RequestHeaders:
		return "request_headers"
	case *extprocv3.ProcessingRequest_ResponseHeaders:
		return "response_headers"
	case *extprocv3.ProcessingRequest_RequestBody:
		return "request_body"
	case *extprocv3.ProcessingRequest_ResponseBody:
		return "response_body"
	case *extprocv3.ProcessingRequest_RequestTrailers:
		return "request_trailers"
	case *extprocv3.ProcessingRequest_ResponseTrailers:
		return "response_trailers"
	}
	return "none"
}

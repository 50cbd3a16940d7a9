#!/usr/bin/env bash
# proto/generate.sh — lint proto/ and regenerate its Go code (checked in).
# proto/generate.sh --verify — lint, check formatting, regenerate into a temporary copy
# and fail if anything differs from the checked-in code (for `make verify` and CI).
#
# protoc-gen-go and protoc-gen-go-grpc are pinned by the main go.mod's tool directive;
# buf by tools/buf/go.mod (its dependency tree is kept out of the main module). All three
# are built into a temporary directory put first on PATH, which is where buf.gen.yaml's
# local plugins are looked up. Needs only Go and the module proxy (or a warm module cache).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
verify=false
case "${1:-}" in
"") ;;
--verify) verify=true ;;
*) echo "usage: $0 [--verify]" >&2; exit 2 ;;
esac

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/bin"
go -C "$root" build -o "$tmp/bin/" google.golang.org/protobuf/cmd/protoc-gen-go google.golang.org/grpc/cmd/protoc-gen-go-grpc
go -C "$root/tools/buf" build -o "$tmp/bin/buf" github.com/bufbuild/buf/cmd/buf
export PATH="$tmp/bin:$PATH"

cd "$root"
buf lint
if ! $verify; then
	buf format --write
	buf generate
	exit 0
fi

buf format --diff --exit-code
# A copy without the generated files, so a file that should no longer exist shows up too.
mkdir "$tmp/work"
cp buf.yaml buf.gen.yaml "$tmp/work/"
cp -R proto "$tmp/work/proto"
find "$tmp/work/proto" -name '*.pb.go' -delete
(cd "$tmp/work" && buf generate)
if ! diff -r proto "$tmp/work/proto"; then
	echo "proto/: generated code is out of date; run proto/generate.sh" >&2
	exit 1
fi
echo "proto/: lint, format and generated code OK"

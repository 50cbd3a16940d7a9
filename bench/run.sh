#!/usr/bin/env bash
# Runs wakegate's end-to-end benchmarks (bench/README.md): builds wakegate and the sample app,
# starts Envoy, wakegate and the app on loopback, runs the warm-path and held-requests
# scenarios and prints a summary. Arguments go to the benchmark program (-h lists them),
# e.g. `bench/run.sh -json /tmp/bench.json`.
#
# Envoy: $ENVOY_BIN, else the one `make envoy` installs under .tools/ (installed here if
# missing). About 3 minutes with the defaults.
set -euo pipefail

bench_dir=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$bench_dir")

if [ -z "${ENVOY_BIN:-}" ] && [ ! -x "$root/.tools/envoy-1.40.0/envoy" ]; then
	make -C "$root" envoy >&2
fi

# Each held request is a stream, not a connection, but Envoy, wakegate and the app still need
# far more descriptors than a default soft limit of 1024: raise it to the hard limit.
hard=$(ulimit -Hn)
if [ "$hard" = unlimited ] || [ "$hard" -gt 65536 ]; then hard=65536; fi
ulimit -n "$hard"

cd "$bench_dir"
exec go run . "$@"

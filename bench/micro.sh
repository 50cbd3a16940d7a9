#!/usr/bin/env bash
# Runs wakegate's Go micro-benchmarks (router, activity tracker, gate, ext_proc/ext_authz
# message handling, KEDA scaler) COUNT times each and summarises them with benchstat
# (median and spread of ns/op, B/op, allocs/op). Usage: bench/micro.sh [OUTFILE]
#
#   COUNT=6       runs per benchmark (benchstat needs 6 for a confidence interval)
#   BENCHTIME=1s  go test -benchtime
# The raw `go test -bench` output is kept in OUTFILE (default: a file under $TMPDIR) so that
# two runs can be compared with `benchstat old.txt new.txt`.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-${TMPDIR:-/tmp}/wakegate-micro-$(date +%Y%m%d-%H%M%S).txt}
benchstat=golang.org/x/perf/cmd/benchstat@v0.0.0-20260908200009-22c9c6c9d4da

cd "$root"
go test -run '^$' -bench . -benchmem -count "${COUNT:-6}" -benchtime "${BENCHTIME:-1s}" \
	./internal/route ./internal/gate ./internal/activity ./filter ./scaler | tee "$out"
echo
echo "raw results: $out"
echo
go run "$benchstat" "$out"

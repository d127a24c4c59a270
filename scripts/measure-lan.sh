#!/usr/bin/env bash
# Measures `pika lan`: binary size, cold start to serving (exec → first
# HTTP 200 from /healthz, fresh data folder each run), and idle memory.
# Usage: scripts/measure-lan.sh [runs]   (loopback only; stops by itself)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
runs=${1:-5}
bin=$(mktemp -d)/pika
go build -trimpath -ldflags "-s -w" -o "$bin" ./cmd/pika
printf 'binary (stripped, -trimpath): %s bytes\n' "$(stat -c %s "$bin")"
port=39871
for i in $(seq "$runs"); do
	data=$(mktemp -d)
	start=$(date +%s%N)
	"$bin" lan --addr "127.0.0.1:$port" --data "$data" --watch "$data/none.m3u" >/dev/null 2>&1 &
	pid=$!
	until curl -fs -o /dev/null "http://127.0.0.1:$port/healthz"; do sleep 0.002; done
	end=$(date +%s%N)
	printf 'run %d: start to serving %d ms\n' "$i" $(((end - start) / 1000000))
	if [ "$i" = "$runs" ]; then
		sleep 10
		printf 'idle RSS after 10 s: %s kB\n' "$(awk '/VmRSS/ {print $2}' /proc/$pid/status)"
	fi
	kill -INT "$pid"; wait "$pid" || true
	rm -rf "$data"
done

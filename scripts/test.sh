#!/usr/bin/env bash
# THE test command: on a fresh Debian 12 machine (root, or a user with sudo)
# it installs what is missing, then runs every check and every test.
# .ci/run calls only this. Usage: ./scripts/test.sh   (CI=true: nothing may skip)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$PWD

SECONDS=0
step() { printf '\n==> [%4ds] %s\n' "$SECONDS" "$*"; }
die() { printf 'test.sh: %s\n' "$*" >&2; exit 1; }
finish() {
	local rc=$?
	if [ "$rc" -eq 0 ]; then
		printf '\n==> [%4ds] all checks and tests passed\n' "$SECONDS"
	else
		printf '\n==> [%4ds] FAILED (exit %d)\n' "$SECONDS" "$rc" >&2
	fi
}
trap finish EXIT

step "environment: CI=${CI:-<unset>}, $(uname -sm), $(nproc 2>/dev/null || echo '?') cores"

# --- system packages ---------------------------------------------------------
step "system packages"
missing=()
have_pkg() { dpkg -s "$1" >/dev/null 2>&1; }
command -v git >/dev/null || missing+=(git)
have_pkg ca-certificates || [ -s /etc/ssl/certs/ca-certificates.crt ] || missing+=(ca-certificates)
# go test -race needs cgo, so a C compiler and the C library headers.
command -v gcc >/dev/null || missing+=(gcc)
have_pkg libc6-dev || [ -e /usr/include/stdlib.h ] || missing+=(libc6-dev)
# The open-file-limit test runs pika under prlimit.
command -v prlimit >/dev/null || missing+=(util-linux)
# The browser tests drive Debian's chromium through playwright-core (no browser downloads).
command -v chromium >/dev/null || missing+=(chromium fonts-liberation)
if ! command -v node >/dev/null; then
	missing+=(nodejs npm)
elif ! command -v npm >/dev/null && [ -f web/e2e/package-lock.json ]; then
	missing+=(npm)
fi
# PostgreSQL for testenv.Postgres, which runs its own throwaway cluster with initdb and
# pg_ctl (Debian keeps them in /usr/lib/postgresql/<version>/bin, off PATH).
if ! command -v initdb >/dev/null && ! compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null; then
	missing+=(postgresql)
fi

if [ "${#missing[@]}" -eq 0 ]; then
	echo "nothing to install"
elif command -v apt-get >/dev/null; then
	sudo=()
	if [ "$(id -u)" -ne 0 ]; then
		command -v sudo >/dev/null || die "need root or sudo to install: ${missing[*]}"
		sudo=(sudo)
	fi
	echo "installing: ${missing[*]}"
	"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
	"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
	echo "WARNING: no apt-get; install these yourself: ${missing[*]}" >&2
fi

# Go itself is the one thing assumed (the README's first command needs it too).
if ! command -v go >/dev/null && [ -x /usr/local/go/bin/go ]; then
	export PATH="/usr/local/go/bin:$PATH"
fi
command -v go >/dev/null || die "go is not installed: see https://go.dev/dl/ (Go 1.26)"
echo "$(go version), node $(node --version 2>/dev/null || echo '<none>'), $(chromium --version 2>/dev/null || echo 'chromium <none>')"

# --- browser test dependencies -----------------------------------------------
step "web/e2e node modules"
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
if [ ! -f web/e2e/package-lock.json ]; then
	echo "no web/e2e/package-lock.json yet: skipped"
elif [ ! -d web/e2e/node_modules ] || [ web/e2e/package-lock.json -nt web/e2e/node_modules ]; then
	npm ci --prefix web/e2e --no-audit --no-fund
	touch web/e2e/node_modules
else
	echo "web/e2e/node_modules is up to date"
fi

# --- static checks -------------------------------------------------------------
step "gofmt"
unformatted=$(git ls-files -z -- '*.go' | xargs -0 -r gofmt -l)
if [ -n "$unformatted" ]; then
	printf 'gofmt would change these files (run gofmt -w):\n%s\n' "$unformatted" >&2
	exit 1
fi

step "go vet"
go vet ./...

step "staticcheck"
go tool staticcheck ./...

# The workflows (.github/workflows) and, in the compose package's tests, the
# compose files are validated too: there is no Docker engine or GitHub here.
step "actionlint"
go tool -modfile=tools/actionlint/go.mod actionlint -color=false

# --- the pika binary, for tests that run it as a separate process ---------------
step "build bin/pika (-race)"
if compgen -G 'cmd/pika/*.go' >/dev/null; then
	go build -race -o "$root/bin/pika" ./cmd/pika
	export PIKA_BIN="$root/bin/pika"
	echo "PIKA_BIN=$PIKA_BIN"
else
	echo "NOTICE: cmd/pika does not exist yet: no binary built, PIKA_BIN unset"
fi

# --- tests -------------------------------------------------------------------------
step "go test -race -p 1 ./...  (log: test-results/go-test.log)"
# -p 1: one package at a time. Several packages start NATS clusters, PostgreSQL
# and pika processes; run side by side on two cores under the race detector
# they starved each other's Raft heartbeats into leader elections mid-test.
mkdir -p test-results
go test -race -p 1 -count=1 -timeout 30m ./... 2>&1 | tee test-results/go-test.log

# Must-show 2: stack and heap per idle socket at 2,000 sockets. The race
# detector inflates both, so gateway/memory_test.go is built without it
# (//go:build !race: the run above skips it) and runs here on its own.
step "idle socket memory, without -race  (log: test-results/idle-memory.log)"
go test -count=1 -run 'TestIdleSocketMemory' -v ./gateway/ 2>&1 | tee test-results/idle-memory.log

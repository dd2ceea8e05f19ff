#!/usr/bin/env bash
# The test half of `make test` (after gofmt and go vet): installs Azurite from
# npm when node_modules is missing or does not match package-lock.json,
# starts azurite-blob on 127.0.0.1 on a free port with a temporary data
# directory, runs every test with -race against it, and stops it on exit,
# whatever the outcome. Tests that need Azurite read SLUICE_TEST_AZURITE;
# without it (plain `go test ./...`) they skip.
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}

# --- Azurite, installed only when needed -------------------------------------
if ! command -v npm >/dev/null; then
	echo "make test needs Node.js 20+ and npm for Azurite (apt-get install nodejs npm)" >&2
	exit 1
fi
stamp=node_modules/.sluice-lock.sha256
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ ! -x node_modules/.bin/azurite-blob ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
	echo "installing Azurite (npm ci)..."
	npm ci --no-audit --no-fund --loglevel=error
	echo "$want" >"$stamp"
fi

# --- start it on a free port ---------------------------------------------------
tmp=$(mktemp -d "${TMPDIR:-/tmp}/sluice-azurite.XXXXXX")
log=$tmp/azurite.log
node_modules/.bin/azurite-blob --silent --location "$tmp/data" --blobHost 127.0.0.1 --blobPort 0 \
	--skipApiVersionCheck --loose --disableTelemetry >"$log" 2>&1 &
pid=$!
stop() {
	kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	rm -rf "$tmp"
}
trap stop EXIT
trap 'exit 130' INT TERM

port=
for _ in $(seq 600); do # up to 60 s; it takes 1-4 s
	port=$(sed -n 's#.*successfully listens on http://127\.0\.0\.1:\([0-9][0-9]*\).*#\1#p' "$log")
	[ -n "$port" ] && break
	if ! kill -0 "$pid" 2>/dev/null; then
		echo "azurite-blob exited:" >&2
		cat "$log" >&2
		exit 1
	fi
	sleep 0.1
done
if [ -z "$port" ]; then
	echo "azurite-blob did not listen within 60 s:" >&2
	cat "$log" >&2
	exit 1
fi
# it listens; check that it answers HTTP
exec 3<>"/dev/tcp/127.0.0.1/$port"
printf 'GET /devstoreaccount1?comp=list HTTP/1.0\r\n\r\n' >&3
read -r status <&3 || true
exec 3<&-
case $status in
HTTP/*) ;;
*)
	echo "azurite-blob on port $port does not answer HTTP: '$status'" >&2
	exit 1
	;;
esac

export SLUICE_TEST_AZURITE=http://127.0.0.1:$port/devstoreaccount1
export SLUICE_AZURITE_BIN=$PWD/node_modules/.bin/azurite-blob
# Azurite's well-known development account, for executor processes too
export AZURE_STORAGE_ACCOUNT=devstoreaccount1
export AZURE_STORAGE_KEY='Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=='
echo "Azurite: $SLUICE_TEST_AZURITE"

# --- every test; -v so that the log shows the Azurite tests ran, not skipped --
"$GO" test -race -v -timeout 20m "$@" ./... 2>&1 | grep -v -E '^=== (RUN|PAUSE|CONT|NAME)'

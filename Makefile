# The README's two set-up commands are `go run ./cmd/sluice run examples/wordcount.json`
# and `make test`. `make test` installs and starts whatever the tests need.

GO ?= go

.PHONY: test vet build bench corpus chromium

test: vet chromium
	GO=$(GO) scripts/test.sh

# Debian's headless Chromium for the web UI tests, installed once (they skip
# without it).
chromium:
	@[ -x /usr/bin/chromium ] || { apt-get update -qq && apt-get install -y -qq chromium; } || \
		echo "chromium not installed (needs root and apt-get): the web UI browser tests will skip"

vet:
	@unformatted="$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))"; \
	if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...

build:
	$(GO) build -o bin/sluice ./cmd/sluice

bench:
	$(GO) run ./bench/wordcount

corpus:
	$(GO) run ./bench/gencorpus -out examples/corpus

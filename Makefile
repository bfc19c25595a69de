# mltrack: one plain Makefile (STYLE 2.12).
#
#   make            build build/default/{mltrackd,mltrack}
#   make run        install what is missing, build, start mltrackd on 127.0.0.1:5170
#   make test       unit suites (normal + ASan/UBSan), fuzz corpora, API and CLI suites,
#                   the dashboard's end-to-end tests in headless Chromium, side by side
#                   (tests/parallel.py; MLTRACK_TEST_JOBS=5 parts at a time)
#   make bench      throughput and latency benchmarks (docs/PERFORMANCE.md)
#   make deps       install the system packages (Debian, apt-get)
#   make schema     regenerate schema/mltrack.sql from a freshly migrated database
#
# VARIANT=asan builds into build/asan with AddressSanitizer and UBSan.

VARIANT ?= default
B := build/$(VARIANT)
CC := gcc

WARN := -std=c11 -Wall -Wextra -Werror -D_GNU_SOURCE
ifeq ($(VARIANT),asan)
OPT := -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
LDOPT := -fsanitize=address,undefined
else ifeq ($(VARIANT),default)
OPT := -O2 -g
LDOPT :=
else
$(error VARIANT must be default or asan)
endif

PG_INC := $(shell pg_config --includedir 2>/dev/null || echo /usr/include/postgresql)
CFLAGS := $(WARN) $(OPT) -MMD -MP -Ilib -I$(PG_INC)
LIBS_COMMON := -ljansson -lcrypto -lpthread -lm
# libarchive (lib/mt_bundle.c): linked into the server and the tests; the CLI
# loads it on first use instead (cli/archive_lazy.c), so commands that never
# touch a bundle do not pay for loading it.
# -lssl: mltrackd builds its own SSL_CTX for HTTPS (server/tls.c).  Debian's
# CivetWeb loads OpenSSL itself, with dlopen("libssl.so"), and looks up
# SSL_get_peer_certificate, which OpenSSL 3 no longer exports (civetweb
# issue #1334): mltrackd is linked under that SONAME, so that dlopen finds
# mltrackd (and through it the libssl.so.3 it links), and exports its own
# SSL_get_peer_certificate.  server/tls.c explains and checks it at start.
LIBS_SERVER := -lcivetweb -lpq -larchive -lssl -lcurl $(LIBS_COMMON)
SERVER_LDFLAGS := -Wl,-soname,libssl.so -Wl,--export-dynamic-symbol=SSL_get_peer_certificate
# -lssl: the CLI looks at libcurl's TLS handshakes (cli/client.c, on_tls_msg).
# libgit2 is not linked either: cli/git_lazy.c loads it when `mltrack run`
# starts inside a git work tree.
LIBS_CLI := -lcurl -lssl $(LIBS_COMMON)
# libgit2's start parses the system CA bundle, which mltrack never uses;
# cli/git_lazy.c gives it a parse that loads nothing (see there).
CLI_LDFLAGS := -Wl,--export-dynamic-symbol=mbedtls_x509_crt_parse_file
LIBS_CHECK := $(shell pkg-config --libs check 2>/dev/null || echo -lcheck -lsubunit -lrt -lm)

LIB_SRC := $(wildcard lib/*.c)
SERVER_SRC := $(wildcard server/*.c)
CLI_SRC := $(wildcard cli/*.c)
UNIT_SRC := $(wildcard tests/unit/*.c)
FUZZ_SRC := $(filter-out tests/fuzz/standalone.c,$(wildcard tests/fuzz/fuzz_*.c))
MIGRATIONS := $(sort $(wildcard migrations/*.sql))

LIB_OBJ := $(LIB_SRC:%.c=$(B)/obj/%.o)
SERVER_OBJ := $(SERVER_SRC:%.c=$(B)/obj/%.o) $(B)/obj/gen/migrations_gen.o
CLI_OBJ := $(CLI_SRC:%.c=$(B)/obj/%.o)
UNIT_OBJ := $(UNIT_SRC:%.c=$(B)/obj/%.o)
FUZZ_BIN := $(FUZZ_SRC:tests/fuzz/%.c=$(B)/%)

# A settings stamp: a change of flags rebuilds everything (Redis's .make-settings).
SETTINGS := $(B)/.settings
SETTINGS_NOW := $(CC) $(CFLAGS) $(LDOPT)
$(shell mkdir -p $(B) && (test -f $(SETTINGS) && test "`cat $(SETTINGS)`" = "$(SETTINGS_NOW)" || echo "$(SETTINGS_NOW)" > $(SETTINGS)))

.PHONY: all run test test-bins test-cluster bench deps deps-check deps-check-runtime deps-check-bench clean schema unit fuzz api asan web e2e
.DEFAULT_GOAL := all

all: $(B)/mltrackd $(B)/mltrack $(B)/git_probe web

# The dashboard (DESIGN §9): web/ plus uPlot from npm, copied next to the
# executables (mltrackd serves BIN/web).  npm ci runs only when node_modules
# is missing or older than package-lock.json, so a filled node_modules builds
# offline.
WEB_SRC := $(shell find web -type f 2>/dev/null)
WEB_VENDOR := node_modules/uplot/dist/uPlot.esm.js node_modules/uplot/dist/uPlot.min.css

web: $(B)/web/.stamp

node_modules/.package-lock.json: package.json package-lock.json
	@command -v npm >/dev/null 2>&1 || { echo "make: npm is missing (make deps installs nodejs and npm)" >&2; exit 1; }
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

$(WEB_VENDOR): node_modules/.package-lock.json

$(B)/web/.stamp: $(WEB_SRC) $(WEB_VENDOR)
	rm -rf $(B)/web
	mkdir -p $(B)/web/vendor
	cp -R web/. $(B)/web/
	cp $(WEB_VENDOR) $(B)/web/vendor/
	@touch $@

$(B)/obj/%.o: %.c $(SETTINGS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Iserver -Icli -Itests/unit -c $< -o $@

$(B)/gen/migrations_gen.c: $(MIGRATIONS) tools/embed-migrations.sh
	@mkdir -p $(dir $@)
	sh tools/embed-migrations.sh $@ $(MIGRATIONS)

$(B)/obj/gen/migrations_gen.o: $(B)/gen/migrations_gen.c $(SETTINGS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Iserver -c $< -o $@

$(B)/libmltrack.a: $(LIB_OBJ)
	rm -f $@
	ar rcs $@ $^

$(B)/mltrackd: $(SERVER_OBJ) $(B)/libmltrack.a
	$(CC) $(LDOPT) $(SERVER_LDFLAGS) -o $@ $(SERVER_OBJ) $(B)/libmltrack.a $(LIBS_SERVER)

$(B)/mltrack: $(CLI_OBJ) $(B)/libmltrack.a
	$(CC) $(LDOPT) $(CLI_LDFLAGS) -o $@ $(CLI_OBJ) $(B)/libmltrack.a $(LIBS_CLI)

# A test driver for cli/git.c (tests/cli/test_git_provenance.py).
$(B)/git_probe: $(B)/obj/tests/cli/git_probe.o $(B)/obj/cli/git.o $(B)/obj/cli/git_lazy.o $(B)/libmltrack.a
	$(CC) $(LDOPT) $(CLI_LDFLAGS) -o $@ $^ $(LIBS_COMMON)

# make bench's PostgreSQL-alone reference for log-batch (tests/bench/copy_tx.c).
$(B)/copy_tx: $(B)/obj/tests/bench/copy_tx.o $(B)/libmltrack.a
	$(CC) $(LDOPT) -o $@ $^ -lpq -lpthread

$(B)/unit_tests: $(UNIT_OBJ) $(B)/libmltrack.a
	$(CC) $(LDOPT) -o $@ $(UNIT_OBJ) $(B)/libmltrack.a $(LIBS_CHECK) -larchive $(LIBS_COMMON)

$(B)/fuzz_%: $(B)/obj/tests/fuzz/fuzz_%.o $(B)/obj/tests/fuzz/standalone.o $(B)/libmltrack.a
	$(CC) $(LDOPT) -o $@ $^ -larchive $(LIBS_COMMON)

# Under ASan the suites run in one process (CK_FORK=no): LeakSanitizer then
# checks once at the end instead of at the exit of each test's fork, which
# took 204 s against 30 s for the same checks.  The default build keeps a
# fork per test, so a test that crashes is isolated there.
unit: $(B)/unit_tests
	CK_DEFAULT_TIMEOUT=60 $(if $(filter asan,$(VARIANT)),CK_FORK=no) $(B)/unit_tests

fuzz: $(FUZZ_BIN)
	@for f in $(FUZZ_BIN); do \
		name=$${f##*/fuzz_}; \
		echo "replaying tests/fuzz/corpus/$$name with $$f"; \
		$$f tests/fuzz/corpus/$$name || exit 1; \
	done

e2e: all
	sh tests/run-e2e.sh $(B)

asan:
	$(MAKE) VARIANT=asan all $(B:build/default=build/asan)/unit_tests

deps:
	sh tools/deps.sh --bench

deps-check:
	@sh tools/deps.sh --check || sh tools/deps.sh

deps-check-bench:
	@sh tools/deps.sh --check --bench || sh tools/deps.sh --bench

deps-check-runtime:
	@sh tools/deps.sh --check --runtime || sh tools/deps.sh --runtime

run: deps-check-runtime
	$(MAKE) all
	@sh tools/run.sh $(B)/mltrackd

# make test: the builds, unit suites, fuzz corpora, API/CLI/shell suites
# (both builds) and the dashboard's tests as parts run side by side
# (tests/parallel.py, docs/testing.md); each part's output is in
# build/test-logs/, and shown in full when it fails.
test: deps-check
	@rm -rf build/test-logs
	@python3 tests/parallel.py

# What the tests run: the binaries, the unit suites and the fuzz harnesses.
test-bins: all $(B)/unit_tests $(FUZZ_BIN)

# The scale-out topology on loopback and its faults (tests/cluster/run.sh),
# under AddressSanitizer + UBSan.
test-cluster: deps-check
	$(MAKE) VARIANT=asan all
	sh tests/cluster/run.sh build/asan

bench: deps-check-bench
	$(MAKE) VARIANT=default all build/default/copy_tx
	sh tests/bench/run.sh build/default

schema: all
	sh tests/schema.sh $(B) --write

clean:
	rm -rf build

-include $(shell find $(B)/obj -name '*.d' 2>/dev/null)

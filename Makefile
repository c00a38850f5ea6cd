# storesd: daemon, libstoreclient and storectl.
#
#   make             build into $(BUILD) (default build/)
#   make run         install missing Debian packages (or say how), build,
#                    and run storesd in the foreground on its built-in config
#   make check       the whole suite: unit, integration and storectl tests,
#                    the installed units under a live systemd (as root),
#                    again under ASan+UBSan, the integration suites and
#                    both bindings' under valgrind, and a smoke run of the
#                    benchmark
#   make bench       the benchmark, BENCH_RUNS (3) runs of about 2 minutes:
#                    their medians in bench/results/latest.md and README.md
#   make test        the suite once, on this build only
#   make callgraph   the daemon's module graph, measured from its objects
#   make python      the Python binding into $(BUILD)/python
#   make rust        the Rust crate into $(BUILD)/rust
#   make bench-bindings  gets/s through C, Python, Rust and redis-py
#   make bench-instr  instructions and system calls per get, storesd
#                    and libstoreclient against Redis and hiredis (OP=put:
#                    per put)
#   make bench-syncs  syncs and page writes per durable commit (strace)
#   make install     PREFIX=/usr/local DESTDIR= (see README.md); also
#                    BINDIR SBINDIR LIBDIR INCLUDEDIR MANDIR DOCDIR
#                    SYSCONFDIR UNITDIR SYSUSERSDIR
#   make uninstall   the same variables
#
# Variants never share objects: each lives in its own $(BUILD).

SHELL	:= /bin/sh
BUILD	?= build
CC	?= cc
CFLAGS	?= -O2 -g
WERROR	?= -Werror
SAN	?=
PREFIX	?= /usr/local
BINDIR	?= $(PREFIX)/bin
SBINDIR	?= $(PREFIX)/sbin
LIBDIR	?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
MANDIR	?= $(PREFIX)/share/man
DOCDIR	?= $(PREFIX)/share/doc/storesd
# /etc for a /usr install (a distribution's), else under the prefix.
SYSCONFDIR ?= $(if $(filter /usr,$(PREFIX)),/etc,$(PREFIX)/etc)
UNITDIR	?= $(PREFIX)/lib/systemd/system
SYSUSERSDIR ?= $(PREFIX)/lib/sysusers.d
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions

SC_MAJOR := $(shell sed -n 's/^\#define SC_VERSION_MAJOR[[:space:]]*//p' client/storeclient.h)
SC_MINOR := $(shell sed -n 's/^\#define SC_VERSION_MINOR[[:space:]]*//p' client/storeclient.h)
SC_PATCH := $(shell sed -n 's/^\#define SC_VERSION_PATCH[[:space:]]*//p' client/storeclient.h)
SC_VERSION := $(SC_MAJOR).$(SC_MINOR).$(SC_PATCH)
STORESD_VERSION := $(shell sed -n 's/^\#define STORESD_VERSION[[:space:]]*"\(.*\)"/\1/p' daemon/daemon.h)
SONAME	:= libstoreclient.so.$(SC_MAJOR)
LIBFILE	:= libstoreclient.so.$(SC_VERSION)

WARN	= -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
	  -Wpointer-arith -Wformat=2 -Wno-format-nonliteral -Wvla
SANFLAGS = $(if $(SAN),-fsanitize=$(SAN) -fno-omit-frame-pointer \
	   -fno-sanitize-recover=undefined)
PKG_CFLAGS := $(shell pkg-config --cflags msgpack libevent_core lmdb inih 2>/dev/null)
ALL_CPPFLAGS = -D_GNU_SOURCE -Iproto -Idaemon -Iclient $(PKG_CFLAGS) $(CPPFLAGS)
ALL_CFLAGS = -std=c11 $(WARN) $(WERROR) -fPIC -fvisibility=hidden \
	     $(CFLAGS) $(SANFLAGS) -MMD -MP
ALL_LDFLAGS = $(SANFLAGS) $(LDFLAGS)

LIBS_DAEMON = -levent_core -llmdb -linih -lpthread
LIBS_CHECK  = $(shell pkg-config --libs check 2>/dev/null)

PROTO_SRC  = proto/sp_buf.c proto/sp_data.c proto/sp_error.c proto/sp_frame.c \
	     proto/sp_mp.c proto/sp_msg.c proto/sp_names.c
DAEMON_SRC = daemon/acl.c daemon/clock.c daemon/commitlog.c daemon/config.c \
	     daemon/conn.c daemon/counters.c daemon/handler.c \
	     daemon/handler_read.c daemon/handler_snapshot.c \
	     daemon/handler_stats.c daemon/handler_write.c daemon/job.c \
	     daemon/handler_repos.c daemon/layout.c daemon/layout_repos.c \
	     daemon/listener.c daemon/log.c daemon/loop.c daemon/notify.c \
	     daemon/pool.c daemon/registry.c daemon/reload.c daemon/repos.c \
	     daemon/snap.c daemon/store.c daemon/watch.c daemon/writer.c \
	     daemon/handler_watch.c daemon/quota.c
LIB_SRC    = client/client.c client/api.c client/async.c client/batch.c \
	     client/multi.c client/req.c \
	     client/pipeline.c client/repos.c \
	     client/scan.c client/watch.c
CTL_SRC    = ctl/ctl.c ctl/ctl_batch.c ctl/ctl_cmds.c ctl/ctl_fmt.c \
	     ctl/ctl_help.c ctl/ctl_input.c ctl/ctl_progress.c ctl/ctl_repos.c
HARNESS_SRC = tests/harness.c
ITEST_SRC  = tests/itest.c

obj = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))
PROTO_OBJ  = $(call obj,$(PROTO_SRC))
DAEMON_OBJ = $(call obj,$(DAEMON_SRC))
LIB_OBJ    = $(call obj,$(LIB_SRC))
CTL_OBJ    = $(call obj,$(CTL_SRC))
HARNESS_OBJ = $(call obj,$(HARNESS_SRC))
ITEST_OBJ  = $(call obj,$(ITEST_SRC)) $(HARNESS_OBJ)

UNIT_TESTS = check_proto check_config check_names check_registry \
	     check_ctl_fmt check_commitlog check_bench check_quota
UNIT_BINS  = $(addprefix $(BUILD)/tests/,$(UNIT_TESTS))
INTEG_TESTS = check_integration check_data check_faults check_envfaults \
	      check_service check_async check_repos check_snapshot check_watch
INTEG_BINS = $(addprefix $(BUILD)/tests/,$(INTEG_TESTS))
# The async examples of README.md and libstoreclient(3), built as a
# program would build them; check_async runs them.
EXAMPLES   = $(BUILD)/tests/example-readme $(BUILD)/tests/example-man \
	     $(BUILD)/tests/example-scan
TOOLS_BINS = $(BUILD)/tests/notify-wait $(BUILD)/tests/lmdb-reader \
	     $(BUILD)/tests/lmdb-writer $(BUILD)/tests/syncgate.so $(EXAMPLES)

PROGRAMS = $(BUILD)/storesd $(BUILD)/storectl $(BUILD)/$(LIBFILE) \
	   $(BUILD)/libstoreclient.a $(BUILD)/libstoreclient.pc

.PHONY: all run check test test-unit test-integration test-storectl \
	test-valgrind test-install test-man test-abi test-callgraph callgraph \
	test-examples \
	test-systemd-live deps deps-build deps-bench deps-check clean install \
	uninstall bench bench-smoke python rust test-python test-rust \
	test-bindings bench-bindings bench-instr bench-syncs test-valgrind-rust \
	test-valgrind-python
.SUFFIXES:

all: $(PROGRAMS)

# The fuzzer (make fuzz); after all: so that all stays the default.
include tests/fuzz.mk

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CPPFLAGS) $(ALL_CFLAGS) -c -o $@ $<

$(call obj,$(LIB_SRC)): ALL_CPPFLAGS += -DSC_BUILDING
# The CLI's own headers are for the CLI and its tests only.
$(CTL_OBJ) $(call obj,tests/check_ctl_fmt.c): ALL_CPPFLAGS += -Ictl
# storectl is part of storesd's release: it says which (daemon/daemon.h).
$(call obj,ctl/ctl.c): ALL_CPPFLAGS += \
	-DSTORESD_VERSION='"$(STORESD_VERSION)"'
$(call obj,ctl/ctl.c): daemon/daemon.h

$(BUILD)/storesd: $(call obj,daemon/main.c) $(DAEMON_OBJ) $(PROTO_OBJ)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS_DAEMON)

$(BUILD)/$(LIBFILE): $(LIB_OBJ) $(PROTO_OBJ) client/libstoreclient.map
	$(CC) $(ALL_LDFLAGS) -shared -Wl,-soname,$(SONAME) \
	    -Wl,--version-script=client/libstoreclient.map \
	    -o $@ $(LIB_OBJ) $(PROTO_OBJ)
	ln -sf $(LIBFILE) $(BUILD)/$(SONAME)
	ln -sf $(SONAME) $(BUILD)/libstoreclient.so

$(BUILD)/libstoreclient.a: $(LIB_OBJ) $(PROTO_OBJ)
	rm -f $@
	ar rcs $@ $^

# storectl carries the library inside it, so build/storectl runs as is.
$(BUILD)/storectl: $(CTL_OBJ) $(BUILD)/libstoreclient.a
	$(CC) $(ALL_LDFLAGS) -o $@ $(CTL_OBJ) $(BUILD)/libstoreclient.a

$(BUILD)/libstoreclient.pc: client/libstoreclient.pc.in client/storeclient.h
	$(FILL) $< > $@

# ------------------------------------------------------------------ tests

$(BUILD)/tests/check_proto: $(call obj,tests/check_proto.c \
	    tests/proto_samples.c) $(PROTO_OBJ)
	@mkdir -p $(@D)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS_CHECK)

$(BUILD)/tests/check_config: $(call obj,tests/check_config.c \
	    daemon/config.c) $(HARNESS_OBJ) $(PROTO_OBJ)
	@mkdir -p $(@D)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS_CHECK) -linih

$(BUILD)/tests/check_names: $(call obj,tests/check_names.c \
	    daemon/layout.c daemon/log.c daemon/config.c) $(HARNESS_OBJ) \
	    $(PROTO_OBJ)
	@mkdir -p $(@D)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS_CHECK) -linih

$(BUILD)/tests/check_commitlog: $(call obj,tests/check_commitlog.c \
	    daemon/commitlog.c)
	@mkdir -p $(@D)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS_CHECK) -lpthread

$(BUILD)/tests/check_quota: $(call obj,tests/check_quota.c \
	    daemon/quota.c) $(PROTO_OBJ)
	@mkdir -p $(@D)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS_CHECK) -lpthread

$(BUILD)/tests/check_registry: $(call obj,tests/check_registry.c) \
	    $(HARNESS_OBJ) $(DAEMON_OBJ) $(PROTO_OBJ)
	@mkdir -p $(@D)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS_CHECK) $(LIBS_DAEMON)

$(BUILD)/tests/check_ctl_fmt: $(call obj,tests/check_ctl_fmt.c \
	    ctl/ctl_fmt.c)
	@mkdir -p $(@D)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS_CHECK)

# The benchmark's report: medians of runs, JSON of either layout.
$(BUILD)/tests/check_bench: $(call obj,tests/check_bench.c bench/report.c \
	    bench/json.c) $(HARNESS_OBJ)
	@mkdir -p $(@D)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS_CHECK) -lm
$(call obj,tests/check_bench.c): ALL_CPPFLAGS += -Ibench -Itests

# Linked to the shared library, as programs will be; proto/ objects too,
# for the raw-frame tests (the library exports only sc_ symbols).
$(INTEG_BINS): $(BUILD)/tests/%: $(BUILD)/obj/tests/%.o $(ITEST_OBJ) \
	    $(PROTO_OBJ) $(BUILD)/$(LIBFILE)
	@mkdir -p $(@D)
	$(CC) $(ALL_LDFLAGS) -o $@ $< $(ITEST_OBJ) $(PROTO_OBJ) -L$(BUILD) \
	    -Wl,-rpath,'$$ORIGIN/..' -lstoreclient $(LIBS_CHECK) -lpthread \
	    $(LIBS_TEST)
# The libevent program of the async suite (the adapter is header-only).
$(BUILD)/tests/check_async: LIBS_TEST = -levent_core

# The adapter where an installed one would be: <storeclient/adapters/...>.
$(BUILD)/include/storeclient/adapters/libevent.h: client/adapters/libevent.h
	@mkdir -p $(@D)
	cp $< $@

$(BUILD)/tests/example-readme.c: README.md tests/example.sh
	@mkdir -p $(@D)
	tests/example.sh README.md > $@
$(BUILD)/tests/example-scan.c: README.md tests/example.sh
	@mkdir -p $(@D)
	tests/example.sh README.md async-scan > $@
$(BUILD)/tests/example-man.c: man/libstoreclient.3 tests/example.sh
	@mkdir -p $(@D)
	tests/example.sh man/libstoreclient.3 > $@
$(EXAMPLES): %: %.c $(BUILD)/$(LIBFILE) \
	    $(BUILD)/include/storeclient/adapters/libevent.h
	$(CC) -std=c99 $(WARN) $(WERROR) $(CFLAGS) $(SANFLAGS) -Iclient \
	    -I$(BUILD)/include -o $@ $< -L$(BUILD) -Wl,-rpath,'$$ORIGIN/..' \
	    -lstoreclient -levent_core

$(BUILD)/tests/notify-wait: $(call obj,tests/notify_wait.c) $(HARNESS_OBJ)
	@mkdir -p $(@D)
	$(CC) $(ALL_LDFLAGS) -o $@ $^

# Another LMDB program, holding a reader on an env storesd serves.
$(BUILD)/tests/lmdb-reader: $(call obj,tests/lmdb_reader.c)
	@mkdir -p $(@D)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ -llmdb

# Another LMDB program writing to, growing and locking an env storesd serves.
$(BUILD)/tests/lmdb-writer: $(call obj,tests/lmdb_writer.c)
	@mkdir -p $(@D)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ -llmdb

# An LD_PRELOAD library holding storesd's syncs back on demand.
$(BUILD)/tests/syncgate.so: $(call obj,tests/syncgate.c)
	@mkdir -p $(@D)
	$(CC) $(ALL_LDFLAGS) -shared -o $@ $^ -ldl

# -------------------------------------------------------------- bindings

# Python and Rust over this tree's libstoreclient (bindings/).  Debian's
# interpreter and toolchain are preferred to others earlier in PATH
# (pyenv, rustup): they are what deps.sh installs and CI has.
PYTHON	?= $(if $(wildcard /usr/bin/python3),/usr/bin/python3,python3)
CARGO	?= $(if $(wildcard /usr/bin/cargo),/usr/bin/cargo,cargo)
CARGO_ENV = STORECLIENT_BUILD=$(abspath $(BUILD)) \
	    CARGO_TARGET_DIR=$(abspath $(BUILD))/rust \
	    $(if $(wildcard /usr/bin/rustc),RUSTC=/usr/bin/rustc \
	    RUSTDOC=/usr/bin/rustdoc)
CARGO_FLAGS = --offline --manifest-path bindings/rust/Cargo.toml

# The module goes to $(BUILD)/python (PYTHONPATH=$(BUILD)/python).
python: $(BUILD)/$(LIBFILE)
	STORECLIENT_BUILD=$(abspath $(BUILD)) PIP_ROOT_USER_ACTION=ignore \
	    $(PYTHON) -m pip install -q --no-index --no-build-isolation \
	    --no-deps --upgrade --target $(BUILD)/python ./bindings/python

# The crate, into $(BUILD)/rust.
rust: $(BUILD)/$(LIBFILE)
	$(CARGO_ENV) $(CARGO) build $(CARGO_FLAGS)

# Each suite starts its own storesd, so both need the daemon and
# notify-wait.  Python runs in development mode on its debug allocator,
# which catches a misused memory API or a write past a block in the
# extension.  Not under SAN: an interpreter cannot load a sanitized
# library without preloading its runtime.
test-python: python all $(TOOLS_BINS)
	@echo "== pytest bindings/python"
	BUILD=$(BUILD) PYTHONPATH=$(abspath $(BUILD))/python \
	    PYTHONMALLOC=debug $(PYTHON) -X dev -m pytest -q \
	    -p no:cacheprovider bindings/python/tests

test-rust: all $(TOOLS_BINS)
	@echo "== cargo test bindings/rust"
	BUILD=$(BUILD) $(CARGO_ENV) $(CARGO) test -q $(CARGO_FLAGS)
	$(CARGO_ENV) RUSTDOCFLAGS="-D warnings" $(CARGO) doc -q $(CARGO_FLAGS) \
	    --no-deps

test-bindings: test-python test-rust

# Gets per second through C, Python, Rust and redis-py (bindings/bench/).
$(BUILD)/bench/get_c: bindings/bench/get_c.c $(BUILD)/$(LIBFILE)
	@mkdir -p $(@D)
	$(CC) $(ALL_CPPFLAGS) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $< \
	    -L$(BUILD) -Wl,-rpath,'$$ORIGIN/..' -lstoreclient

bench-bindings: deps-bench all python $(BUILD)/bench/get_c $(TOOLS_BINS)
	$(CARGO_ENV) $(CARGO) build -q --release --example bench_get \
	    $(CARGO_FLAGS)
	BUILD=$(BUILD) $(PYTHON) bindings/bench/bench.py $(BENCH_ARGS)

# ----------------------------------------------------------------- bench

BENCH_SRC = bench/main.c bench/backends.c bench/workloads.c bench/anchors.c \
	    bench/json.c \
	    bench/async.c bench/hist.c bench/procs.c bench/report.c \
	    bench/watch.c
BENCH_OBJ = $(call obj,$(BENCH_SRC))
$(BENCH_OBJ): ALL_CPPFLAGS += -Itests

$(BUILD)/storesd-bench: $(BENCH_OBJ) $(HARNESS_OBJ) $(BUILD)/libstoreclient.a
	$(CC) $(ALL_LDFLAGS) -o $@ $(BENCH_OBJ) $(HARNESS_OBJ) \
	    $(BUILD)/libstoreclient.a -lhiredis -levent_core -llmdb -lpthread \
	    -lm

# The client of bench/instr.sh: gets over one connection, to storesd
# through libstoreclient or to Redis through hiredis.
$(BUILD)/bench/instr-get: $(call obj,bench/instr_get.c) $(BUILD)/libstoreclient.a
	@mkdir -p $(@D)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ -lhiredis

# Instructions and system calls per get, storesd and its library against
# Redis and hiredis (counts, not times: valid on a loaded machine).
# OP=put counts puts instead (100-byte values, a sync = none store; at
# DEPTH=16 a turn's 16 puts share one commit, as workload 5's do), e.g.
# `OP=put ONLY=storesd N=10000 DEPTH=16 make bench-instr`.
bench-instr: all $(BUILD)/bench/instr-get $(BUILD)/tests/notify-wait
	BUILD=$(BUILD) bench/instr.sh

# The whole benchmark, BENCH_RUNS times (each about 2 minutes): each
# run's JSON stays in bench/results/, and the table of their medians goes
# to bench/results/latest.md, latest.json and the README.  BENCH_FLAGS
# go to each run (e.g. --seconds 3).
BENCH_RUNS ?= 3
BENCH_FLAGS ?=
bench: deps-bench
	@$(MAKE) --no-print-directory all $(BUILD)/storesd-bench
	@set -e; stamp=$$(date -u +%Y%m%d-%H%M); runs=; \
	for i in $$(seq 1 $(BENCH_RUNS)); do \
	    f=bench/results/run-$$stamp-$$i.json; \
	    echo "== storesd-bench, run $$i of $(BENCH_RUNS): $$f"; \
	    $(BUILD)/storesd-bench --build $(BUILD) $(BENCH_FLAGS) \
		--json $$f; \
	    runs="$$runs $$f"; \
	done; \
	echo "== storesd-bench --report$$runs"; \
	$(BUILD)/storesd-bench --report --out bench/results \
	    --readme README.md $$runs

# A short run on small data, to show the benchmark works (part of check),
# and its report into a copy of the README: the same code as make bench.
bench-smoke: all $(BUILD)/storesd-bench $(BUILD)/tests/check_bench
	@echo "== storesd-bench --smoke"
	$(BUILD)/storesd-bench --smoke --build $(BUILD) \
	    --json $(BUILD)/bench-smoke.json
	cp README.md $(BUILD)/bench-smoke-README.md
	$(BUILD)/storesd-bench --report --out $(BUILD) \
	    --readme $(BUILD)/bench-smoke-README.md $(BUILD)/bench-smoke.json \
	    > /dev/null
	grep -q '16 scattered 4 KiB pages + fdatasync' $(BUILD)/bench-smoke-README.md
	grep -q 'pages written per commit' $(BUILD)/bench-smoke-README.md
	@echo "== $(BUILD)/tests/check_bench"
	$(BUILD)/tests/check_bench

# Syscalls per durable commit, counted under strace (bench/syncs.sh):
# counts, not times, so they hold on a loaded machine.
$(BUILD)/bench/syncs-put: bench/syncs_put.c $(BUILD)/libstoreclient.a
	@mkdir -p $(@D)
	$(CC) $(ALL_CPPFLAGS) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $< \
	    $(BUILD)/libstoreclient.a -levent_core -lpthread

bench-syncs: all $(BUILD)/bench/syncs-put
	BUILD=$(BUILD) bench/syncs.sh $(SYNCS_MODES)

# The Debian packages each target needs (scripts/deps.sh says which).
deps deps-check:
	@scripts/deps.sh check
deps-build:
	@scripts/deps.sh build
deps-bench:
	@scripts/deps.sh bench

run: deps-build
	@$(MAKE) --no-print-directory all
	$(BUILD)/storesd $(ARGS)

test: all $(UNIT_BINS) $(INTEG_BINS) $(TOOLS_BINS)
	@$(MAKE) --no-print-directory test-callgraph test-unit \
	    test-integration test-storectl test-examples
	@# Sanitized binaries cannot be linked into a plain program: the
	@# packaging checks run on the plain build only.
	@$(if $(SAN),,$(MAKE) --no-print-directory test-install test-man \
	    test-abi test-bindings)

# make install into a temporary DESTDIR, a program built with pkg-config,
# the units through systemd-analyze verify and security, make uninstall.
test-install: all $(TOOLS_BINS)
	@echo "== tests/install.sh"
	BUILD=$(BUILD) tests/install.sh

# The library's ABI against client/abi/ (abidiff): no incompatible change.
test-abi: $(BUILD)/$(LIBFILE)
	@echo "== tests/abi.sh"
	BUILD=$(BUILD) LIB=$(BUILD)/$(LIBFILE) tests/abi.sh

# The man pages: lint, and in step with storectl --help and config.c.
test-man: all
	@echo "== tests/man.sh"
	BUILD=$(BUILD) sh tests/man.sh

# The daemon's module graph from its objects (scripts/callgraph.sh): who
# calls whom, and its cycles.  The test fails on any cycle but the one
# among loop, conn and handler, or on store, registry, writer or job
# calling up into them.
CALLGRAPH_OBJ = $(call obj,daemon/main.c) $(DAEMON_OBJ)
callgraph: $(CALLGRAPH_OBJ)
	@scripts/callgraph.sh $(CALLGRAPH_OBJ)

test-callgraph: $(CALLGRAPH_OBJ)
	@echo "== scripts/callgraph.sh --check"
	@scripts/callgraph.sh --check $(CALLGRAPH_OBJ)

# The installed units under a real systemd, in a container booted from a
# Debian 12 root file system cached in $(BUILD)/systemd-live (the first
# run builds it: minutes, downloading).  Root only; skipped otherwise.
# The bound is for a loaded machine's first run; on SIGTERM the script
# still takes its container down.
LIVE_TIMEOUT = 2400
test-systemd-live: all
	@echo "== tests/systemd_live.sh"
	BUILD=$(BUILD) timeout -k 300 $(LIVE_TIMEOUT) tests/systemd_live.sh

test-unit: $(UNIT_BINS)
	@set -e; for t in $(UNIT_BINS); do echo "== $$t"; $$t; done

test-integration: $(INTEG_BINS) all $(TOOLS_BINS)
	@set -e; for t in $(INTEG_BINS); do echo "== $$t"; \
	    BUILD=$(BUILD) $$t; done

# Every shell and configuration example of README.md and the man pages,
# run as written against a storesd on its built-in configuration.
test-examples: all $(TOOLS_BINS)
	@echo "== tests/examples.sh"
	BUILD=$(BUILD) tests/examples.sh

test-storectl: all $(TOOLS_BINS)
	@echo "== tests/storectl.sh"
	BUILD=$(BUILD) tests/storectl.sh
	@echo "== tests/repos.sh"
	BUILD=$(BUILD) tests/repos.sh
	@echo "== tests/ops.sh"
	BUILD=$(BUILD) tests/ops.sh

VALGRIND = valgrind -q --error-exitcode=99 --leak-check=full \
	   --errors-for-leak-kinds=definite,indirect \
	   --suppressions=tests/valgrind.supp --trace-children=no

# The integration suites, client and daemon both under valgrind.  Without
# fork mode Check has no per-test timeout, so a hang is cut off here.
VALGRIND_TIMEOUT = 1200
test-valgrind: $(INTEG_BINS) all $(TOOLS_BINS)
	@set -e; for t in $(INTEG_BINS); do echo "== valgrind $$t"; \
	    BUILD=$(BUILD) CK_FORK=no STORESD_WRAPPER="$(VALGRIND)" \
	    STORESD_TEST_SLOW=1 timeout $(VALGRIND_TIMEOUT) $(VALGRIND) $$t; \
	    done
	@$(MAKE) --no-print-directory test-valgrind-rust
	@$(MAKE) --no-print-directory test-valgrind-python

# The Rust binding's suite under valgrind (the crate's unsafe code and
# its use of the library; storesd runs plain here).
test-valgrind-rust: all $(TOOLS_BINS)
	@echo "== valgrind cargo test bindings/rust"
	@t=$$($(CARGO_ENV) $(CARGO) test -q --no-run $(CARGO_FLAGS) \
	    --test client --message-format=json | \
	    sed -n 's/.*"executable":"\([^"]*\)".*/\1/p'); \
	test -n "$$t" && BUILD=$(BUILD) STORESD_TEST_SLOW=1 \
	    timeout $(VALGRIND_TIMEOUT) $(VALGRIND) $$t -q --test-threads 2

# The Python binding's suite under valgrind (the extension's C code and
# its use of the library; storesd runs plain, forked children are not
# checked).  PYTHONMALLOC=malloc shows valgrind every allocation; leaks of
# what the interpreter allocated are its own business at exit
# (tests/valgrind-python.supp), leaks of what libstoreclient or the
# extension malloc'ed and every error fail it.  About 20 s here.
test-valgrind-python: python all $(TOOLS_BINS)
	@echo "== valgrind pytest bindings/python"
	BUILD=$(BUILD) PYTHONPATH=$(abspath $(BUILD))/python \
	    STORESD_TEST_SLOW=1 PYTHONMALLOC=malloc timeout $(VALGRIND_TIMEOUT) $(VALGRIND) \
	    --suppressions=tests/valgrind-python.supp \
	    --show-leak-kinds=definite,indirect \
	    --child-silent-after-fork=yes $(PYTHON) -m pytest -q \
	    -p no:cacheprovider bindings/python/tests

# make check fuzzes the protocol decoder briefly and repeatably (about 20 s
# here, capped at 120 s on a slow machine); `make fuzz` runs longer.
CHECK_FUZZ = -seed=1 -runs=250000 -max_total_time=120

check: deps-check
	@$(MAKE) --no-print-directory test
	@$(MAKE) --no-print-directory test-systemd-live
	@$(MAKE) --no-print-directory test BUILD=build/san \
	    SAN=address,undefined
	@$(MAKE) --no-print-directory test-valgrind
	@$(MAKE) --no-print-directory fuzz FUZZ_LIMITS="$(CHECK_FUZZ)"
	@$(MAKE) --no-print-directory bench-smoke

clean:
	rm -rf build bindings/python/build bindings/python/storeclient.egg-info

# Paths are filled in at install time, so `make && make install
# PREFIX=/usr` installs files that name /usr.
FILL	= sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@LIBDIR@|$(LIBDIR)|g' \
	      -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|g' -e 's|@SBINDIR@|$(SBINDIR)|g' \
	      -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' -e 's|@VERSION@|$(SC_VERSION)|g'
MAN_PAGES = man/storesd.8 man/storectl.1 man/storesd.conf.5 \
	    man/libstoreclient.3

install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(SBINDIR) \
	    $(DESTDIR)$(LIBDIR)/pkgconfig $(DESTDIR)$(INCLUDEDIR) \
	    $(DESTDIR)$(UNITDIR) $(DESTDIR)$(SYSUSERSDIR) \
	    $(DESTDIR)$(SYSCONFDIR)/storesd $(DESTDIR)$(DOCDIR) \
	    $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man3 \
	    $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man8
	install -m 0755 $(BUILD)/storesd $(DESTDIR)$(SBINDIR)/storesd
	install -m 0755 $(BUILD)/storectl $(DESTDIR)$(BINDIR)/storectl
	install -m 0755 $(BUILD)/$(LIBFILE) $(DESTDIR)$(LIBDIR)/$(LIBFILE)
	ln -sf $(LIBFILE) $(DESTDIR)$(LIBDIR)/$(SONAME)
	ln -sf $(SONAME) $(DESTDIR)$(LIBDIR)/libstoreclient.so
	install -m 0644 $(BUILD)/libstoreclient.a $(DESTDIR)$(LIBDIR)/
	install -m 0644 client/storeclient.h $(DESTDIR)$(INCLUDEDIR)/
	install -d $(DESTDIR)$(INCLUDEDIR)/storeclient/adapters
	install -m 0644 client/adapters/libevent.h \
	    $(DESTDIR)$(INCLUDEDIR)/storeclient/adapters/
	$(FILL) client/libstoreclient.pc.in > \
	    $(DESTDIR)$(LIBDIR)/pkgconfig/libstoreclient.pc
	$(FILL) systemd/storesd.service.in > \
	    $(DESTDIR)$(UNITDIR)/storesd.service
	install -m 0644 systemd/storesd.socket $(DESTDIR)$(UNITDIR)/
	install -m 0644 systemd/storesd.sysusers \
	    $(DESTDIR)$(SYSUSERSDIR)/storesd.conf
	install -m 0644 systemd/storesd.conf \
	    $(DESTDIR)$(DOCDIR)/storesd.conf.example
	install -m 0644 README.md SECURITY.md proto/PROTOCOL.md \
	    $(DESTDIR)$(DOCDIR)/
	@# An administrator's configuration is never overwritten.
	test -e $(DESTDIR)$(SYSCONFDIR)/storesd/storesd.conf || \
	    install -m 0644 systemd/storesd.conf \
	    $(DESTDIR)$(SYSCONFDIR)/storesd/storesd.conf
	for p in $(MAN_PAGES); do \
	    install -m 0644 $$p $(DESTDIR)$(MANDIR)/man$${p##*.}/; done
	install -d $(DESTDIR)$(BASHCOMPDIR)
	install -m 0644 ctl/storectl.bash $(DESTDIR)$(BASHCOMPDIR)/storectl
	@# Into the live system (no DESTDIR), the dynamic linker's cache must
	@# learn the new library, or a program built with pkg-config fails with
	@# "libstoreclient.so.2: cannot open shared object file" until someone
	@# runs ldconfig.  A staged install (DESTDIR) leaves that to the package.
	@if [ -z "$(DESTDIR)" ]; then \
	    echo "ldconfig $(LIBDIR)"; \
	    ldconfig $(LIBDIR) || echo "make install: run ldconfig as root," \
	    "or programs will not find $(SONAME) in $(LIBDIR)" >&2; fi

uninstall:
	rm -f $(DESTDIR)$(SBINDIR)/storesd $(DESTDIR)$(BINDIR)/storectl \
	    $(DESTDIR)$(LIBDIR)/$(LIBFILE) $(DESTDIR)$(LIBDIR)/$(SONAME) \
	    $(DESTDIR)$(LIBDIR)/libstoreclient.so \
	    $(DESTDIR)$(LIBDIR)/libstoreclient.a \
	    $(DESTDIR)$(INCLUDEDIR)/storeclient.h \
	    $(DESTDIR)$(INCLUDEDIR)/storeclient/adapters/libevent.h \
	    $(DESTDIR)$(LIBDIR)/pkgconfig/libstoreclient.pc \
	    $(DESTDIR)$(UNITDIR)/storesd.service \
	    $(DESTDIR)$(UNITDIR)/storesd.socket \
	    $(DESTDIR)$(SYSUSERSDIR)/storesd.conf \
	    $(DESTDIR)$(DOCDIR)/storesd.conf.example \
	    $(DESTDIR)$(DOCDIR)/README.md $(DESTDIR)$(DOCDIR)/SECURITY.md \
	    $(DESTDIR)$(DOCDIR)/PROTOCOL.md \
	    $(DESTDIR)$(BASHCOMPDIR)/storectl
	for p in $(MAN_PAGES); do \
	    rm -f $(DESTDIR)$(MANDIR)/man$${p##*.}/$${p##*/}; done
	@# The configuration goes only if nobody changed it.
	if cmp -s systemd/storesd.conf \
	    $(DESTDIR)$(SYSCONFDIR)/storesd/storesd.conf; then \
	    rm -f $(DESTDIR)$(SYSCONFDIR)/storesd/storesd.conf; fi
	-rmdir $(DESTDIR)$(DOCDIR) $(DESTDIR)$(SYSCONFDIR)/storesd \
	    $(DESTDIR)$(INCLUDEDIR)/storeclient/adapters \
	    $(DESTDIR)$(INCLUDEDIR)/storeclient 2>/dev/null

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)

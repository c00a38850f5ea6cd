# storesd: daemon, libstoreclient and storectl.
#
#   make             build into $(BUILD) (default build/)
#   make run         install missing Debian packages (or say how), build,
#                    and run storesd in the foreground on its built-in config
#   make check       the whole suite: unit, integration and storectl tests,
#                    again under ASan+UBSan, the integration suites under
#                    valgrind, and a smoke run of the benchmark
#   make bench       the benchmark (minutes): bench/results/latest.md
#   make test        the suite once, on this build only
#   make install     PREFIX=/usr/local DESTDIR= (see README.md)
#
# Variants never share objects: each lives in its own $(BUILD).

SHELL	:= /bin/sh
BUILD	?= build
CC	?= cc
CFLAGS	?= -O2 -g
WERROR	?= -Werror
SAN	?=
PREFIX	?= /usr/local

SC_MAJOR := $(shell sed -n 's/^\#define SC_VERSION_MAJOR[[:space:]]*//p' client/storeclient.h)
SC_MINOR := $(shell sed -n 's/^\#define SC_VERSION_MINOR[[:space:]]*//p' client/storeclient.h)
SC_PATCH := $(shell sed -n 's/^\#define SC_VERSION_PATCH[[:space:]]*//p' client/storeclient.h)
SC_VERSION := $(SC_MAJOR).$(SC_MINOR).$(SC_PATCH)
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
DAEMON_SRC = daemon/acl.c daemon/config.c daemon/conn.c daemon/counters.c daemon/handler.c daemon/job.c \
	     daemon/layout.c daemon/listener.c daemon/log.c daemon/loop.c \
	     daemon/notify.c daemon/pool.c daemon/reads.c daemon/registry.c \
	     daemon/reload.c \
	     daemon/store.c daemon/writer.c daemon/writes.c
LIB_SRC    = client/client.c client/api.c client/batch.c client/multi.c \
	     client/pipeline.c \
	     client/scan.c
CTL_SRC    = client/storectl.c client/ctl_fmt.c
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
	     check_ctl_fmt
UNIT_BINS  = $(addprefix $(BUILD)/tests/,$(UNIT_TESTS))
INTEG_TESTS = check_integration check_data check_faults check_service
INTEG_BINS = $(addprefix $(BUILD)/tests/,$(INTEG_TESTS))
TOOLS_BINS = $(BUILD)/tests/notify-wait

PROGRAMS = $(BUILD)/storesd $(BUILD)/storectl $(BUILD)/$(LIBFILE) \
	   $(BUILD)/libstoreclient.a $(BUILD)/libstoreclient.pc

.PHONY: all run check test test-unit test-integration test-storectl \
	test-valgrind deps clean install uninstall bench bench-smoke
.SUFFIXES:

all: $(PROGRAMS)

# The fuzzer (make fuzz); after all: so that all stays the default.
include tests/fuzz.mk

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CPPFLAGS) $(ALL_CFLAGS) -c -o $@ $<

$(call obj,$(LIB_SRC)): ALL_CPPFLAGS += -DSC_BUILDING

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
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(PREFIX)/lib|' \
	    -e 's|@INCLUDEDIR@|$(PREFIX)/include|' \
	    -e 's|@VERSION@|$(SC_VERSION)|' $< > $@

# ------------------------------------------------------------------ tests

$(BUILD)/tests/check_proto: $(call obj,tests/check_proto.c) $(PROTO_OBJ)
	@mkdir -p $(@D)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS_CHECK)

$(BUILD)/tests/check_config: $(call obj,tests/check_config.c \
	    daemon/config.c) $(PROTO_OBJ)
	@mkdir -p $(@D)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS_CHECK) -linih

$(BUILD)/tests/check_names: $(call obj,tests/check_names.c \
	    daemon/layout.c daemon/log.c daemon/config.c) $(PROTO_OBJ)
	@mkdir -p $(@D)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS_CHECK) -linih

$(BUILD)/tests/check_registry: $(call obj,tests/check_registry.c) \
	    $(DAEMON_OBJ) $(PROTO_OBJ)
	@mkdir -p $(@D)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS_CHECK) $(LIBS_DAEMON)

$(BUILD)/tests/check_ctl_fmt: $(call obj,tests/check_ctl_fmt.c \
	    client/ctl_fmt.c)
	@mkdir -p $(@D)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS_CHECK)

# Linked to the shared library, as programs will be; proto/ objects too,
# for the raw-frame tests (the library exports only sc_ symbols).
$(INTEG_BINS): $(BUILD)/tests/%: $(BUILD)/obj/tests/%.o $(ITEST_OBJ) \
	    $(PROTO_OBJ) $(BUILD)/$(LIBFILE)
	@mkdir -p $(@D)
	$(CC) $(ALL_LDFLAGS) -o $@ $< $(ITEST_OBJ) $(PROTO_OBJ) -L$(BUILD) \
	    -Wl,-rpath,'$$ORIGIN/..' -lstoreclient $(LIBS_CHECK) -lpthread

$(BUILD)/tests/notify-wait: $(call obj,tests/notify_wait.c) $(HARNESS_OBJ)
	@mkdir -p $(@D)
	$(CC) $(ALL_LDFLAGS) -o $@ $^

# ----------------------------------------------------------------- bench

BENCH_SRC = bench/main.c bench/backends.c bench/workloads.c bench/anchors.c \
	    bench/hist.c bench/procs.c bench/report.c
BENCH_OBJ = $(call obj,$(BENCH_SRC))
$(BENCH_OBJ): ALL_CPPFLAGS += -Itests

$(BUILD)/storesd-bench: $(BENCH_OBJ) $(HARNESS_OBJ) $(BUILD)/libstoreclient.a
	$(CC) $(ALL_LDFLAGS) -o $@ $(BENCH_OBJ) $(HARNESS_OBJ) \
	    $(BUILD)/libstoreclient.a -lhiredis -llmdb -lpthread -lm

# The whole benchmark: minutes.  Results go to bench/results/.
bench: deps
	@$(MAKE) --no-print-directory all $(BUILD)/storesd-bench
	$(BUILD)/storesd-bench --build $(BUILD)

# A short run on small data, to show the benchmark works (part of check).
bench-smoke: all $(BUILD)/storesd-bench
	@echo "== storesd-bench --smoke"
	$(BUILD)/storesd-bench --smoke --build $(BUILD) --out $(BUILD)

deps:
	@scripts/deps.sh

run: deps
	@$(MAKE) --no-print-directory all
	$(BUILD)/storesd $(ARGS)

test: all $(UNIT_BINS) $(INTEG_BINS) $(TOOLS_BINS)
	@$(MAKE) --no-print-directory test-unit test-integration test-storectl

test-unit: $(UNIT_BINS)
	@set -e; for t in $(UNIT_BINS); do echo "== $$t"; $$t; done

test-integration: $(INTEG_BINS) all $(TOOLS_BINS)
	@set -e; for t in $(INTEG_BINS); do echo "== $$t"; \
	    BUILD=$(BUILD) $$t; done

test-storectl: all $(TOOLS_BINS)
	@echo "== tests/storectl.sh"
	BUILD=$(BUILD) tests/storectl.sh

VALGRIND = valgrind -q --error-exitcode=99 --leak-check=full \
	   --errors-for-leak-kinds=definite,indirect \
	   --suppressions=tests/valgrind.supp --trace-children=no

# The integration suites, client and daemon both under valgrind.
test-valgrind: $(INTEG_BINS) all $(TOOLS_BINS)
	@set -e; for t in $(INTEG_BINS); do echo "== valgrind $$t"; \
	    BUILD=$(BUILD) CK_FORK=no STORESD_WRAPPER="$(VALGRIND)" \
	    STORESD_TEST_SLOW=1 $(VALGRIND) $$t; done

# make check fuzzes the protocol decoder briefly; `make fuzz` runs longer.
CHECK_FUZZ_SECONDS = 20

check: deps
	@$(MAKE) --no-print-directory test
	@$(MAKE) --no-print-directory test BUILD=build/san \
	    SAN=address,undefined
	@$(MAKE) --no-print-directory test-valgrind
	@$(MAKE) --no-print-directory fuzz FUZZ_SECONDS=$(CHECK_FUZZ_SECONDS)
	@$(MAKE) --no-print-directory bench-smoke

clean:
	rm -rf build

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/sbin \
	    $(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/include
	install -m 0755 $(BUILD)/storesd $(DESTDIR)$(PREFIX)/sbin/storesd
	install -m 0755 $(BUILD)/storectl $(DESTDIR)$(PREFIX)/bin/storectl
	install -m 0755 $(BUILD)/$(LIBFILE) $(DESTDIR)$(PREFIX)/lib/$(LIBFILE)
	ln -sf $(LIBFILE) $(DESTDIR)$(PREFIX)/lib/$(SONAME)
	ln -sf $(SONAME) $(DESTDIR)$(PREFIX)/lib/libstoreclient.so
	install -m 0644 $(BUILD)/libstoreclient.a $(DESTDIR)$(PREFIX)/lib/
	install -m 0644 client/storeclient.h $(DESTDIR)$(PREFIX)/include/
	install -m 0644 $(BUILD)/libstoreclient.pc \
	    $(DESTDIR)$(PREFIX)/lib/pkgconfig/

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/sbin/storesd $(DESTDIR)$(PREFIX)/bin/storectl \
	    $(DESTDIR)$(PREFIX)/lib/$(LIBFILE) $(DESTDIR)$(PREFIX)/lib/$(SONAME) \
	    $(DESTDIR)$(PREFIX)/lib/libstoreclient.so \
	    $(DESTDIR)$(PREFIX)/lib/libstoreclient.a \
	    $(DESTDIR)$(PREFIX)/include/storeclient.h \
	    $(DESTDIR)$(PREFIX)/lib/pkgconfig/libstoreclient.pc

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)

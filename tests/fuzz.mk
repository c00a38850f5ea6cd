# The libFuzzer harness of proto/ (tests/fuzz_proto.c).  Included by the
# main Makefile after PROTO_SRC is defined; to use it alone:
#
#	make -f Makefile -f tests/fuzz.mk fuzz FUZZ_SECONDS=30
#
#   make fuzz          build, write the seed corpus, fuzz for FUZZ_SECONDS;
#                      a crash fails the target and leaves its input in
#                      build/fuzz/ (crash-*, leak-*, timeout-*)
#   make fuzz-clean    remove build/fuzz, the corpus it grew included
#
# Replay one input:    build/fuzz/fuzz_proto build/fuzz/crash-...
# Minimise it:         build/fuzz/fuzz_proto -minimize_crash=1 \
#                          -runs=100000 build/fuzz/crash-...
#
# Everything lives under build/fuzz with its own objects: they carry the
# fuzzer's coverage instrumentation and must never mix with another build.

FUZZ_SECONDS	?= 60
# make check passes a fixed seed and run count instead, so that a faster
# machine does not search further than the one the suite was run on.
FUZZ_LIMITS	?= -max_total_time=$(FUZZ_SECONDS)
FUZZ_DIR	:= build/fuzz
FUZZ_CC		?= clang
FUZZ_SAN	:= -fsanitize=address,undefined -fno-sanitize-recover=undefined
FUZZ_CFLAGS	:= -g -O1 -fsanitize=fuzzer $(FUZZ_SAN) -D_GNU_SOURCE -Iproto \
		   $(shell pkg-config --cflags msgpack) -Wall -Wextra

FUZZ_PROTO_OBJ	:= $(patsubst %.c,$(FUZZ_DIR)/obj/%.o,$(PROTO_SRC))

.PHONY: fuzz fuzz-clean

fuzz: $(FUZZ_DIR)/fuzz_proto $(FUZZ_DIR)/fuzz_seeds
	$(FUZZ_DIR)/fuzz_seeds $(FUZZ_DIR)/corpus
	$(FUZZ_DIR)/fuzz_proto $(FUZZ_LIMITS) \
	    -print_final_stats=1 -artifact_prefix=$(FUZZ_DIR)/ \
	    $(FUZZ_DIR)/corpus

$(FUZZ_DIR)/obj/%.o: %.c
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -MMD -MP -c -o $@ $<

$(FUZZ_DIR)/fuzz_proto: $(FUZZ_DIR)/obj/tests/fuzz_proto.o $(FUZZ_PROTO_OBJ)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ $^

# A plain program: no libFuzzer, whose main() would take over.  It links
# the fuzzer's proto objects; their coverage hooks are the sanitizer
# runtime's no-ops when libFuzzer is absent.
$(FUZZ_DIR)/obj/tests/fuzz_seeds.o $(FUZZ_DIR)/obj/tests/proto_samples.o: \
	FUZZ_CFLAGS := \
	$(filter-out -fsanitize=fuzzer,$(FUZZ_CFLAGS))

$(FUZZ_DIR)/fuzz_seeds: $(FUZZ_DIR)/obj/tests/fuzz_seeds.o \
	    $(FUZZ_DIR)/obj/tests/proto_samples.o $(FUZZ_PROTO_OBJ)
	$(FUZZ_CC) -g $(FUZZ_SAN) -o $@ $^

fuzz-clean:
	rm -rf $(FUZZ_DIR)

-include $(shell find $(FUZZ_DIR)/obj -name '*.d' 2>/dev/null)

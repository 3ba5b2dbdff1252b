# mod_mql - build, test, demo and benchmark.
#
# Every path comes from apxs; the variables below are expanded lazily so
# that the dependency step can install apxs first on a fresh machine.

APXS      ?= apxs
CC        ?= cc
OUT       := build/out
APR_FLAGS  = $(shell $(APXS) -q APR_CONFIG | xargs -I{} sh -c '{} --cppflags --cflags --includes') \
             $(shell $(APXS) -q APU_CONFIG | xargs -I{} sh -c '{} --includes')
APR_LIBS   = $(shell $(APXS) -q APR_CONFIG | xargs -I{} sh -c '{} --link-ld') \
             $(shell $(APXS) -q APU_CONFIG | xargs -I{} sh -c '{} --link-ld')
COMMA     := ,
WARN      := -Wall -Wextra -Werror -Wno-unused-parameter -Wshadow -Wstrict-prototypes
# Extra flags for sanitizer builds: make SANITIZE="-fsanitize=address,undefined"
SANITIZE  ?=
# The core is compiled without httpd's include directory: it must need APR only.
CORE_CFLAGS = -std=gnu11 -O2 -g -fPIC $(WARN) $(SANITIZE) -Imod_mql -Iinclude $(APR_FLAGS)

CORE_SRC  := $(sort $(wildcard mod_mql/mql_*.c))
CORE_OBJ  := $(patsubst mod_mql/%.c,$(OUT)/core/%.o,$(CORE_SRC))
GLUE_SRC  := $(sort $(wildcard mod_mql/mod_mql*.c))
CORE_LIB  := $(OUT)/libmqlcore.a
MODULE    := $(OUT)/mod_mql.so
MQLCTL    := $(OUT)/mqlctl
UNIT_SRC  := $(sort $(wildcard t/unit/test_*.c))
UNIT_BIN  := $(patsubst t/unit/%.c,$(OUT)/unit/%,$(UNIT_SRC))

.PHONY: all deps test-deps install demo test unit integration bench clean

all: $(OUT)/.deps-build $(MODULE) $(MQLCTL)

$(OUT)/.deps-build: build/deps.sh
	@mkdir -p $(OUT)
	build/deps.sh build
	@touch $@

$(OUT)/.deps-test: build/deps.sh
	@mkdir -p $(OUT)
	build/deps.sh test
	@touch $@

$(OUT)/core/%.o: mod_mql/%.c mod_mql/*.h | $(OUT)/.deps-build
	@mkdir -p $(dir $@)
	$(CC) $(CORE_CFLAGS) -c -o $@ $<

$(CORE_LIB): $(CORE_OBJ)
	rm -f $@
	ar rcs $@ $^

# apxs builds the glue with httpd's flags and links the core into the .so.
$(MODULE): $(GLUE_SRC) mod_mql/*.h include/*.h $(CORE_LIB)
	$(APXS) -c -o $(OUT)/mod_mql.la -Wc,-std=gnu11 $(addprefix -Wc$(COMMA),$(WARN)) \
	    $(addprefix -Wc$(COMMA),$(SANITIZE)) $(addprefix -Wl$(COMMA),$(SANITIZE)) \
	    -Imod_mql -Iinclude $(GLUE_SRC) $(CORE_LIB) -lmaxminddb -lm >$(OUT)/apxs.log 2>&1 \
	    || { cat $(OUT)/apxs.log; exit 1; }
	cp $(OUT)/.libs/mod_mql.so $@

$(MQLCTL): mod_mql/mqlctl.c $(CORE_LIB)
	$(CC) $(CORE_CFLAGS) -o $@ $< $(CORE_LIB) $(APR_LIBS) -lm

$(OUT)/unit/%: t/unit/%.c t/unit/tap.h $(CORE_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CORE_CFLAGS) -o $@ $< $(CORE_LIB) $(APR_LIBS) -lpthread -lm

install: all
	build/install.sh $(MODULE) $(MQLCTL)

demo: all
	build/demo.sh

unit: $(OUT)/.deps-test $(UNIT_BIN)

test: all $(OUT)/.deps-test $(UNIT_BIN)
	prove -v $(UNIT_BIN) $(sort $(wildcard t/*.t))

bench: all
	build/deps.sh bench
	build/bench.sh

clean:
	rm -rf $(OUT) mod_mql/*.lo mod_mql/*.slo mod_mql/*.la mod_mql/*.o mod_mql/.libs

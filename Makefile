# sluice: build, run, test.  `make` builds build/sluiced and build/sluicectl.
# Sources are found by wildcard: a new file in a layer's folder is built
# without touching this file.

CC	?= cc
PKGS	 = libevent libevent_openssl libevent_pthreads openssl sqlite3 libcurl
WARN	 = -Wall -Wextra -Wformat=2 -Wshadow -Wstrict-prototypes \
	   -Wmissing-prototypes -Wvla
HARDEN	 = -D_FORTIFY_SOURCE=2 -fstack-protector-strong
OPT	?= -O2 -g
WERROR	?=
CFLAGS	+= -std=c11 -D_GNU_SOURCE -I. $(OPT) $(WARN) $(HARDEN) $(WERROR) \
	   $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LDLIBS	+= $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lpthread -lspf2 -lresolv

B	 = build
LAYERS	 = lib policy queue conf relay
MAINS	 = relay/sluiced.c relay/sluicectl.c
SRC	 = $(filter-out $(MAINS),$(foreach d,$(LAYERS),$(wildcard $(d)/*.c)))
OBJ	 = $(SRC:%.c=$(B)/obj/%.o)
AOBJ	 = $(SRC:%.c=$(B)/asan/%.o)
UNIT	 = $(wildcard tests/unit/test_*.c)
UNITBIN	 = $(UNIT:tests/unit/%.c=$(B)/tests/%)
UNITASAN = $(UNIT:tests/unit/%.c=$(B)/tests-asan/%)
ASANFL	 = -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer \
	   -fno-sanitize-recover=undefined

DEB_PKGS = build-essential pkg-config clang libevent-dev libssl-dev \
	   libsqlite3-dev libspf2-dev libcurl4-openssl-dev sqlite3 openssl \
	   postfix swaks python3-pytest python3-aiosmtpd dnsmasq-base curl \
	   libclang-rt-14-dev tzdata sasl2-bin libsasl2-modules

.PHONY: all deps user run test unit unit-asan daemon-asan tools fuzz check-layers bench install \
	clean format-check
all: $(B)/sluiced $(B)/sluicectl

$(B)/obj/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -MMD -MP -c -o $@ $<

$(B)/asan/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(ASANFL) -MMD -MP -c -o $@ $<

$(B)/libsluice.a: $(OBJ)
	@rm -f $@
	ar rcs $@ $(OBJ)

$(B)/libsluice-asan.a: $(AOBJ)
	@rm -f $@
	ar rcs $@ $(AOBJ)

$(B)/sluiced: $(B)/obj/relay/sluiced.o $(B)/libsluice.a
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

$(B)/sluicectl: $(B)/obj/relay/sluicectl.o $(B)/libsluice.a
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

$(B)/tests/%: tests/unit/%.c $(wildcard tests/unit/*.h) $(B)/libsluice.a
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -I. -o $@ $< $(B)/libsluice.a $(LDLIBS)

$(B)/tests-asan/%: tests/unit/%.c $(wildcard tests/unit/*.h) $(B)/libsluice-asan.a
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(ASANFL) -I. -o $@ $< $(B)/libsluice-asan.a $(LDLIBS)

unit: $(UNITBIN)
unit-asan: $(UNITASAN)

# Small programs the integration tests drive (tests/tools/NAME.c ->
# build/tools/NAME), linked with the library like the daemon.
TOOLS	 = $(wildcard tests/tools/*.c)
TOOLBIN	 = $(TOOLS:tests/tools/%.c=$(B)/tools/%)
$(B)/tools/%: tests/tools/%.c $(B)/libsluice.a
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -o $@ $< $(B)/libsluice.a $(LDLIBS)
tools: $(TOOLBIN)

# The daemon and its tool under ASan+UBSan, for the integration tests.
$(B)/asan-bin/%: relay/%.c $(B)/libsluice-asan.a
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(ASANFL) -o $@ $< $(B)/libsluice-asan.a $(LDLIBS)
daemon-asan: $(B)/asan-bin/sluiced $(B)/asan-bin/sluicectl

# The fuzz targets need clang's libFuzzer.  tests/fuzz/fuzz_NAME.c is
# linked with lib/ and relay/NAME.c, the parser it drives; fuzz_conf with
# conf/ and policy/ (the configuration language).
FUZZ	 = $(wildcard tests/fuzz/fuzz_*.c)
FUZZBIN	 = $(FUZZ:tests/fuzz/%.c=$(B)/fuzz/%)
FUZZSECS ?= 60
$(B)/fuzz/%: tests/fuzz/%.c $(SRC)
	@mkdir -p $(@D)
	clang -std=c11 -D_GNU_SOURCE -g -O1 -I. \
	    -fsanitize=fuzzer,address,undefined -o $@ $< \
	    $(filter lib/%,$(SRC)) $(if $(filter fuzz_conf,$*),\
	    $(filter conf/% policy/%,$(SRC)),$(patsubst fuzz_%,relay/%.c,$*))
fuzz: $(FUZZBIN)
	@for f in $(FUZZBIN); do \
	    mkdir -p $(B)/fuzz/corpus-$$(basename $$f); \
	    $$f -max_total_time=$(FUZZSECS) -artifact_prefix=$(B)/fuzz/ \
	        $(B)/fuzz/corpus-$$(basename $$f) \
	        tests/fuzz/seeds || exit 1; done

# Installs the Debian packages the build and the tests need; idempotent.
deps:
	@tests/deps.sh $(DEB_PKGS)

# As root, sluiced drops to the user `sluice` after binding: create it.
user:
	@[ "$$(id -u)" -ne 0 ] || id -u sluice >/dev/null 2>&1 || \
	    useradd --system --home-dir /var/lib/sluice --no-create-home \
	    --shell /usr/sbin/nologin sluice

run: deps user all
	@mkdir -p var
	$(B)/sluiced -c conf/sluice.conf

test: deps user
	@$(MAKE) --no-print-directory WERROR=-Werror all unit unit-asan \
	    daemon-asan tools $(FUZZBIN)
	@tests/run

check-layers:
	@tests/check-layers.sh

bench: deps all
	@tests/bench/run

install: all
	install -d $(DESTDIR)/usr/sbin $(DESTDIR)/etc/sluice
	install -m 755 $(B)/sluiced $(B)/sluicectl $(DESTDIR)/usr/sbin/
	sed -e 's|^state-dir .*|state-dir /var/lib/sluice|' \
	    -e 's|^admin socket .*|admin socket /run/sluice/admin.sock|' \
	    conf/sluice.conf > $(B)/sluice.conf.install
	install -m 644 $(B)/sluice.conf.install $(DESTDIR)/etc/sluice/sluice.conf
	install -D -m 644 systemd/sluiced.service \
	    $(DESTDIR)/lib/systemd/system/sluiced.service
	install -D -m 644 systemd/sluice.sysusers \
	    $(DESTDIR)/usr/lib/sysusers.d/sluice.conf
	install -D -m 644 systemd/sluice.tmpfiles \
	    $(DESTDIR)/usr/lib/tmpfiles.d/sluice.conf

format-check:
	@clang-format --dry-run --Werror $(SRC) $(MAINS)

clean:
	rm -rf $(B)

-include $(OBJ:.o=.d) $(AOBJ:.o=.d)

# ---- A flashable image: node.ino for the ESP8266 (NodeMCU / D1 mini, 4 MB) ---------------
# Included by firmware/Makefile. Debian's xtensa-lx106 GCC 12 and picolibc, the ESP8266
# Arduino core subset where it lies in THIRDPARTY (never copied), the real PubSubClient 2.8
# and DHT 1.4.6, and what the subset or Debian lack, in firmware/xtensa (ours):
#   include/   headers the core takes from its own newlib (sys/pgmspace.h, sys/reent.h)
#   *.c *.cpp  the runtime glue: PROGMEM string functions, picolibc's stdio/exit hooks,
#              C++ runtime hooks (no libstdc++.a in the subset)
#   picolibc.py  copies of Debian's picolibc archives fit for the core's link, and
#   libc_veneers.S  the long jumps they call through (picolibc has no -mlongcalls)
#   image.py   ELF -> one image flashable at 0x0 (the core's eboot + the sketch), with esptool
#
#   make -C firmware firmware          -> $(OUT)/node-<version>.bin (+ $(BUILD)/xtensa/node.elf)
#
# Flags as the core's platform.txt and boards.txt give them for nodemcuv2, 4MB (FS:2MB
# OTA:~1019KB), lwIP v2 lower memory, SDK NONOSDK22x_190703, 80 MHz, vtables in flash.

OUT       ?= ../out
XCC       ?= xtensa-lx106-elf-gcc
XOBJDUMP  ?= xtensa-lx106-elf-objdump
XNM       ?= xtensa-lx106-elf-nm
XOBJCOPY  ?= xtensa-lx106-elf-objcopy
XAR       ?= xtensa-lx106-elf-ar
PYTHON    ?= python3
XDIR      := $(abspath xtensa)
XBUILD    := $(abspath $(BUILD))/xtensa
NODE_DIR  := $(abspath node)
# The version the sketch reports is the one in the file name.
NODE_VERSION := $(shell sed -n 's/^\#define NODE_FIRMWARE_VERSION "\(.*\)"/\1/p' node/node.ino)
FIRMWARE_BIN := $(OUT)/node-$(NODE_VERSION).bin

SDK       := $(ESP_CORE)/tools/sdk
CORE_DIR  := $(ESP_CORE)/cores/esp8266
LIBS_DIR  := $(ESP_CORE)/libraries
# The C++ library headers: Debian packages none for xtensa; the generic ones of the same
# GCC 12.2 come with libstdc++-arm-none-eabi-dev (header-only use: no libstdc++.a is linked).
CXXINC    ?= /usr/include/newlib/c++/12.2.1
XSPECS_C  ?= /usr/lib/xtensa-lx106-elf/picolibc.specs

# What the build needs and no make rule can produce: said up front, not as a compiler error.
ifneq ($(filter firmware,$(MAKECMDGOALS)),)
ifeq ($(wildcard $(CORE_DIR)/Arduino.h),)
$(error $(ESP_CORE): the ESP8266 Arduino core is missing (THIRDPARTY=$(THIRDPARTY)))
endif
ifeq ($(shell command -v $(XCC)),)
$(error $(XCC) missing: sudo apt-get install gcc-xtensa-lx106 picolibc-xtensa-lx106-elf libstdc++-arm-none-eabi-dev (deploy/dev-deps.sh test))
endif
ifeq ($(wildcard $(CXXINC)/functional),)
$(error $(CXXINC): no C++ library headers: sudo apt-get install libstdc++-arm-none-eabi-dev)
endif
endif

X_LIBDIRS := $(addprefix $(LIBS_DIR)/,ESP8266WiFi/src ESP8266mDNS/src ESP8266WebServer/src \
	DNSServer/src ESP8266httpUpdate/src ESP8266HTTPClient/src EEPROM) \
	$(THIRDPARTY)/pubsubclient/src $(THIRDPARTY)/adafruit-dht $(abspath lib/gwlink/src)
X_DEFS := -D__ets__ -DICACHE_FLASH -U__STRICT_ANSI__ -D_GNU_SOURCE -DESP8266 \
	-DNONOSDK22x_190703=1 -DF_CPU=80000000L -DLWIP_OPEN_SRC -DTCP_MSS=536 -DLWIP_FEATURES=1 \
	-DLWIP_IPV6=0 -DARDUINO=10819 -DARDUINO_ESP8266_NODEMCU_ESP12E -DARDUINO_ARCH_ESP8266 \
	-DARDUINO_BOARD=\"ESP8266_NODEMCU_ESP12E\" -DARDUINO_BOARD_ID=\"nodemcuv2\" \
	-DLED_BUILTIN=2 -DFLASHMODE_DIO -DBEARSSL_SSL_BASIC -DMMU_IRAM_SIZE=0x8000 \
	-DMMU_ICACHE_SIZE=0x8000 -DNON32XFER_HANDLER -DFP_IN_IROM -DMQTT_MAX_PACKET_SIZE=512
# The lx106's configuration (XCHAL_*), which the core reads through its newlib's sys/config.h:
# picolibc ships the same header as machine/core-isa.h.
X_INCS := -include machine/core-isa.h -I$(XDIR)/include -I$(SDK)/include \
	-I$(SDK)/lwip2/include -I$(CORE_DIR) -I$(ESP_CORE)/variants/nodemcu \
	$(addprefix -I,$(X_LIBDIRS)) -I$(XBUILD)/sketch
X_COMMON := -Os -g -free -fipa-pta -Werror=return-type -mlongcalls -mtext-section-literals \
	-falign-functions=4 -MMD -ffunction-sections -fdata-sections -fno-exceptions
X_CFLAGS   := --specs=$(XSPECS_C) -std=gnu17 -Wpointer-arith -Wno-implicit-function-declaration \
	$(X_COMMON) $(X_DEFS) $(X_INCS)
X_CXXFLAGS := --specs=$(XSPECS) -std=gnu++17 -fno-rtti $(X_COMMON) \
	-isystem $(CXXINC) -isystem $(CXXINC)/arm-none-eabi $(X_DEFS) $(X_INCS)
X_SFLAGS   := -x assembler-with-cpp -MMD -mlongcalls $(X_DEFS) $(X_INCS)

# The core: everything Arduino builds for it (the sketch's link drops what is unused), but
# libc_replacements.cpp: newlib's stdio hooks; picolibc's are in picolibc_glue.c.
X_CORE_SRCS := $(filter-out %/libc_replacements.cpp,$(wildcard $(CORE_DIR)/*.cpp \
	$(CORE_DIR)/*.c $(CORE_DIR)/*.S $(CORE_DIR)/umm_malloc/*.c $(CORE_DIR)/umm_malloc/*.cpp $(CORE_DIR)/libb64/*.cpp \
	$(CORE_DIR)/spiffs/*.cpp))
# The libraries the sketch includes, without BearSSL (TLS is unused, libbearssl.a absent).
X_LIB_SRCS := $(filter-out %BearSSL.cpp %BearSSLHelpers.cpp, \
	$(wildcard $(addsuffix /*.cpp,$(X_LIBDIRS)) $(LIBS_DIR)/ESP8266WebServer/src/detail/*.cpp))
X_OWN_SRCS := $(wildcard $(XDIR)/*.c $(XDIR)/*.cpp)
X_SRCS := $(X_CORE_SRCS) $(X_LIB_SRCS) $(X_OWN_SRCS)
# One object per source, in a tree that mirrors the sources' (equal file names never
# collide) and named file.cpp.o as Arduino does: the core's linker script picks sections by
# those names (*.cpp.o to flash, umm_malloc.cpp.o kept in IRAM).
x_obj = $(XBUILD)/obj/$(patsubst $(THIRDPARTY)/%,tp/%,$(patsubst $(abspath .)/%,fw/%,$(1))).o
X_CORE_OBJS := $(foreach s,$(X_CORE_SRCS),$(call x_obj,$(s)))
X_OBJS := $(foreach s,$(X_LIB_SRCS) $(X_OWN_SRCS),$(call x_obj,$(s))) \
	$(XBUILD)/obj/sketch.ino.cpp.o $(XBUILD)/obj/libc_veneers.o

define x_rule
$(call x_obj,$(1)): $(1)
	@mkdir -p $$(@D)
	@echo "  XC $(notdir $(1))"
	@$$(if $$(filter %.c,$(1)),$(XCC) $(X_CFLAGS),$$(if $$(filter %.S,$(1)),$(XCC) $(X_SFLAGS),$(XCXX) $(X_CXXFLAGS))) -c $$< -o $$@
endef
$(foreach s,$(X_SRCS),$(eval $(call x_rule,$(s))))

$(XBUILD)/obj $(XBUILD)/sketch:
	@mkdir -p $@

# The sketch as Arduino builds it: node.ino as C++ with Arduino.h first. config.h: the
# user's own next to node.ino if there is one, else config.example.h (the generic build).
$(XBUILD)/sketch/config.h: $(wildcard node/config.h) node/config.example.h | $(XBUILD)/sketch
	cp $(if $(wildcard node/config.h),node/config.h,node/config.example.h) $@

$(XBUILD)/obj/sketch.ino.cpp.o: node/node.ino $(wildcard node/*.h) $(XBUILD)/sketch/config.h | $(XBUILD)/obj
	@echo "  XC node.ino $(NODE_VERSION)"
	@$(XCXX) $(X_CXXFLAGS) -I$(NODE_DIR) -x c++ -include Arduino.h -c $< -o $@

# The core in an archive, as Arduino links it: the linker script's file patterns
# (EXCLUDE_FILE(umm_malloc.cpp.o), which keeps the heap in IRAM) match member names.
$(XBUILD)/core.a: $(X_CORE_OBJS)
	@rm -f $@
	@$(XAR) cr $@ $^

# Debian's picolibc, with the ROM's string functions and its out-of-reach calls sent through
# veneers (libc_veneers.S): see picolibc.py.
PICOLIBC  ?= /usr/lib/xtensa-lx106-elf/lib
X_LIBC    := $(XBUILD)/picolibc
$(X_LIBC)/calls.h $(X_LIBC)/libc.a $(X_LIBC)/libm.a &: $(PICOLIBC)/libc.a $(PICOLIBC)/libm.a \
		$(SDK)/ld/eagle.rom.addr.v6.ld $(XDIR)/picolibc.py
	$(PYTHON) $(XDIR)/picolibc.py --lib $(PICOLIBC) --rom-ld $(SDK)/ld/eagle.rom.addr.v6.ld --out $(X_LIBC)
# Each veneer's address literal right before it (--text-section-literals), always in reach.
$(XBUILD)/obj/libc_veneers.o: $(XDIR)/libc_veneers.S $(X_LIBC)/calls.h | $(XBUILD)/obj
	$(XCC) $(X_SFLAGS) -Wa,--text-section-literals -DLIBC_CALLS='"$(X_LIBC)/calls.h"' -c $< -o $@

# The linker scripts, preprocessed as the core's platform.txt does.
$(XBUILD)/ld/local.eagle.app.v6.common.ld: $(SDK)/ld/eagle.app.v6.common.ld.h \
		$(SDK)/ld/eagle.app.v6.common.ld.vtables.h
	@mkdir -p $(@D)
	$(XCC) -DFP_IN_IROM -DVTABLES_IN_FLASH -DMMU_IRAM_SIZE=0x8000 -DMMU_ICACHE_SIZE=0x8000 \
		-CC -E -P -x c $< -o $@
$(XBUILD)/ld/local.eagle.flash.ld: $(SDK)/ld/eagle.flash.4m2m.ld
	@mkdir -p $(@D)
	$(XCC) -DVTABLES_IN_FLASH -DMMU_IRAM_SIZE=0x8000 -DMMU_ICACHE_SIZE=0x8000 -CC -E -P -x c $< -o $@

X_LDLIBS := -lhal -lphy -lpp -lnet80211 -llwip2-536-feat -lwpa -lcrypto -lmain -lwps \
	-lespnow -lsmartconfig -lairkiss -lwpa2 -lm -lc -lgcc
$(XBUILD)/node.elf: $(X_OBJS) $(XBUILD)/core.a $(X_LIBC)/libc.a $(X_LIBC)/libm.a \
		$(XBUILD)/ld/local.eagle.flash.ld $(XBUILD)/ld/local.eagle.app.v6.common.ld
	@echo "  LD $@"
	@$(XCC) -g -nostdlib -Wl,--no-check-sections -Wl,--no-warn-rwx-segments -u app_entry -Wl,-static \
		-L$(XBUILD)/ld -L$(X_LIBC) -L$(SDK)/lib -L$(SDK)/lib/NONOSDK22x_190703 \
		-Tlocal.eagle.flash.ld -Wl,--gc-sections \
		-Wl,-wrap,system_restart_local -Wl,-wrap,spi_flash_read -Wl,-Map,$(XBUILD)/node.map \
		-o $@ -Wl,--start-group $(X_OBJS) $(XBUILD)/core.a $(X_LDLIBS) -Wl,--end-group

.PHONY: firmware
firmware: $(XBUILD)/node.elf
	@mkdir -p $(OUT)
	$(PYTHON) $(XDIR)/image.py --elf $< --eboot $(ESP_CORE)/bootloaders/eboot/eboot.elf \
		--version $(NODE_VERSION) --out $(FIRMWARE_BIN)

-include $(X_OBJS:.o=.d) $(X_CORE_OBJS:.o=.d)

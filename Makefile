# SPDX-License-Identifier: GPL-2.0
#
# gmp: gmp.ko (kmod/), libgmp (lib/), tools/, selftests/.
#
#   make check     install what is missing, build, run every test (host and VM)
#   make bench     the benchmarks, in the VM
#   make module    gmp.ko for every test kernel (or KERNELS=6.1.0)
#   make style     checkpatch --strict over the module
#   make sparse    sparse (C=2) over the module
#   make check-debug  the selftests in a KASAN/kmemleak/lockdep kernel
#   make fuzz      the ioctl fuzzer in that kernel (FUZZ_SECONDS, FUZZ_SEED)
#   make soak      minutes of load in the Debian kernel (SOAK_SECONDS)
#
# KERNELS selects test kernels by prefix of their release (default: all of
# tools/vm/kernels.sh, i.e. Debian 12's 6.1 and 6.12 cloud kernels and the
# 6.12 PREEMPT_RT kernel).
# VM_ACCEL=kvm|tcg|auto picks the VM accelerator (default auto).

TOP := $(abspath $(dir $(lastword $(MAKEFILE_LIST))))
BUILD := $(TOP)/build
KSRC := $(BUILD)/ksrc
KSFT_DIR := $(KSRC)/tools/testing/selftests

ALL_KERNELS = $(shell $(TOP)/tools/vm/kernels.sh)
KERNELS ?=
KVERS = $(if $(KERNELS),$(foreach k,$(KERNELS),$(filter $(k)%,$(ALL_KERNELS))),$(ALL_KERNELS))

KMOD_SRC := $(TOP)/Kbuild $(wildcard $(TOP)/kmod/Kbuild $(TOP)/kmod/*.[ch]) \
	$(TOP)/kmod/include/uapi/linux/gmp.h
KMOD_CHECK_SRC := $(filter-out %.mod.c,$(wildcard $(TOP)/kmod/*.[ch])) \
	$(TOP)/kmod/include/uapi/linux/gmp.h

.PHONY: all deps ksrc module style sparse selftests check bench clean \
	check-debug fuzz soak

FUZZ_SECONDS ?= 300
FUZZ_SEED ?=
SOAK_SECONDS ?= 600

all: module selftests

deps:
	@$(TOP)/tools/deps.sh

ksrc:
	@$(TOP)/tools/ksrc.sh $(KSRC)

# The module, built out of a copy per kernel (Kbuild writes next to the
# sources), with W=1 and warnings as errors: build/kmod/<release>/kmod/gmp.ko
module:
	@set -e; for rel in $(KVERS); do \
		kdir=$$($(TOP)/tools/vm/kernels.sh --headers $$rel); \
		out=$(BUILD)/kmod/$$rel; \
		mkdir -p $$out/kmod/include/uapi/linux; \
		cp $(TOP)/Kbuild $$out/; \
		cp $(TOP)/kmod/Kbuild $(filter-out %.mod.c,$(wildcard $(TOP)/kmod/*.[ch])) $$out/kmod/; \
		cp $(TOP)/kmod/include/uapi/linux/gmp.h $$out/kmod/include/uapi/linux/; \
		echo "  MODULE  $$rel"; \
		$(MAKE) -s -C $$kdir M=$$out W=1 KCFLAGS=-Werror modules; \
	done

style: ksrc
	@echo "  CHECKPATCH --strict kmod/"
	@perl $(KSRC)/scripts/checkpatch.pl --strict --no-tree --quiet --show-types \
		-f $(KMOD_CHECK_SRC) $(TOP)/Kbuild $(TOP)/kmod/Kbuild

# sparse prints its findings and exits 0: any output line from it fails.
sparse: module
	@set -e; for rel in $(KVERS); do \
		kdir=$$($(TOP)/tools/vm/kernels.sh --headers $$rel); \
		out=$(BUILD)/kmod/$$rel; \
		echo "  SPARSE  $$rel"; \
		$(MAKE) -s -C $$kdir M=$$out C=2 modules >$(BUILD)/sparse-$$rel.log 2>&1 || \
			{ cat $(BUILD)/sparse-$$rel.log; exit 1; }; \
		if grep -E 'warning:|error:' $(BUILD)/sparse-$$rel.log; then exit 1; fi; \
	done

selftests: ksrc
	@$(MAKE) -s -C $(TOP)/selftests/kmod KSFT_DIR=$(KSFT_DIR) OUTPUT=$(BUILD)/selftests/kmod

check:
	@$(TOP)/tools/check.sh

bench:
	@$(TOP)/tools/bench.sh

# The debug kernel is built once (10-20 min on 2 cores) and cached outside
# the tree (tools/debug-kernel/build.sh); the runtime's static tests join
# the module's when they have been built (make check builds them).
check-debug: deps ksrc
	@$(TOP)/tools/debug-kernel/check-debug.sh

fuzz: deps ksrc
	@$(TOP)/tools/fuzz/fuzz-vm.sh $(FUZZ_SECONDS) $(FUZZ_SEED)

soak: deps ksrc
	@$(TOP)/tools/soak/soak-vm.sh $(SOAK_SECONDS)

clean:
	rm -rf $(BUILD)
	find $(TOP)/kmod \( -name '*.o' -o -name '*.ko' -o -name '*.mod' -o -name '*.mod.c' \
		-o -name '.*.cmd' -o -name modules.order -o -name Module.symvers \) -delete
	rm -f $(TOP)/modules.order $(TOP)/Module.symvers

/* The part of the Xtensa HAL's coreasm.h the core's exc-c-wrapper-handler.S relies on (the
 * HAL ships with the core's own toolchain, not with Debian's): the processor configuration
 * and which ABI the code is built for. The lx106 runs the windowless CALL0 ABI. */
#ifndef FIRMWARE_XTENSA_COREASM_H
#define FIRMWARE_XTENSA_COREASM_H
#include <xtensa/config/core.h>
#if defined(__XTENSA_CALL0_ABI__)
#define CALL0_ABI 1
#else
#define CALL0_ABI 0
#endif
#endif

/* The lx106's configuration: picolibc ships the Xtensa HAL's core-isa.h as machine/. */
#ifndef FIRMWARE_XTENSA_CONFIG_CORE_H
#define FIRMWARE_XTENSA_CONFIG_CORE_H
#include <machine/core-isa.h>
#endif

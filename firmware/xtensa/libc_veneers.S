/* Why: Debian's picolibc (libc.a, libm.a) is built without -mlongcalls, so its calls are
 * CALL0 with a reach of +-512 KB. The helpers it calls live elsewhere: the soft-float and
 * 32-bit division routines in the chip's ROM (0x4000xxxx), libgcc's in IRAM (0x401xxxxx),
 * the core's hooks (_exit, write, ...) wherever they land; from the flash (0x402xxxxx,
 * where the core's linker script puts libc) none of them is in reach.
 *
 * The build renames, in a copy of those archives, each such call target X to
 * __libc_veneer_X (objcopy --redefine-syms; the list, LIBC_CALLS, is computed from the
 * archives' CALL0 relocations). Each veneer below sits in flash next to libc and jumps on
 * with a full 32-bit address: a8 is a scratch register in the CALL0 ABI and a0 still holds
 * the caller's return address, so the target returns straight to libc. Everything else
 * (our code, the core, the SDK: all built with -mlongcalls) calls X directly, so IRAM code
 * never passes through flash. */

#define VENEER(name)                       \
  .section .irom0.text.__libc_veneer_##name, "ax"; \
  .literal_position;                       \
  .align 4;                                \
  .global __libc_veneer_##name;            \
  .type __libc_veneer_##name, @function;   \
__libc_veneer_##name:                      \
  movi a8, name;                           \
  jx a8;                                   \
  .size __libc_veneer_##name, . - __libc_veneer_##name;

#include LIBC_CALLS

/* 64-bit division for everyone: Debian's libgcc for the lx106 leaves __udivdi3, __umoddi3
 * and __divdi3 to the chip's ROM, whose versions the ESP8266 core avoids (its linker script
 * places libgcc's own in flash instead). libgcc's __udivmoddi4 / __divmoddi4 do the work. */
#include <stdint.h>

uint64_t __udivmoddi4(uint64_t num, uint64_t den, uint64_t *rem);
int64_t __divmoddi4(int64_t num, int64_t den, int64_t *rem);

uint64_t __udivdi3(uint64_t num, uint64_t den) { return __udivmoddi4(num, den, 0); }

uint64_t __umoddi3(uint64_t num, uint64_t den) {
  uint64_t rem;
  __udivmoddi4(num, den, &rem);
  return rem;
}

int64_t __divdi3(int64_t num, int64_t den) { return __divmoddi4(num, den, 0); }

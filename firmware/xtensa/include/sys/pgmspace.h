/* PROGMEM for the ESP8266 with picolibc: what the core's pgmspace.h takes from the core's own
 * newlib (absent here). Data marked PROGMEM/PSTR stays in the memory-mapped flash
 * (0x40200000+), which the CPU reads in aligned 32-bit words only: these readers fetch the
 * word and pick the bytes. The _P string functions are in ../pgmspace.c. */
#ifndef FIRMWARE_XTENSA_SYS_PGMSPACE_H
#define FIRMWARE_XTENSA_SYS_PGMSPACE_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PGMSPACE_STR2(x) #x
#define PGMSPACE_STR(x) PGMSPACE_STR2(x)
/* One section per object (file, line, counter) so the linker's --gc-sections can drop
 * unused ones; the names are those the core's linker script puts in .irom0.text. */
#define PROGMEM \
  __attribute__((section("\".irom.text." __FILE__ "." PGMSPACE_STR(__LINE__) "." \
                         PGMSPACE_STR(__COUNTER__) "\"")))
#define PGM_P const char *
#define PGM_VOID_P const void *
#ifndef PSTR_ALIGN
#define PSTR_ALIGN 4
#endif
/* "aSM" + entity size 1: identical strings are merged; the trailing '#' comments out the
 * attributes the compiler appends. */
#define PSTRN(s, n)                                                                       \
  (__extension__({                                                                        \
    static const char __pstr__[] __attribute__((__aligned__(n)))                          \
    __attribute__((section("\".irom0.pstr." __FILE__ "." PGMSPACE_STR(__LINE__) "."       \
                           PGMSPACE_STR(__COUNTER__) "\", \"aSM\", @progbits, 1 #"))) = (s); \
    &__pstr__[0];                                                                         \
  }))
#define PSTR(s) PSTRN(s, PSTR_ALIGN)
#define PSTR4(s) PSTRN(s, 4)

static inline uint8_t pgm_read_byte_inlined(const void *addr) {
  uintptr_t a = (uintptr_t)addr;
  uint32_t word = *(const volatile uint32_t *)(a & ~(uintptr_t)3);
  return (uint8_t)(word >> ((a & 3) * 8));
}

static inline uint16_t pgm_read_word_inlined(const void *addr) {
  const uint8_t *p = (const uint8_t *)addr;
  return (uint16_t)(pgm_read_byte_inlined(p) | (pgm_read_byte_inlined(p + 1) << 8));
}

static inline uint32_t pgm_read_dword_inlined(const void *addr) {
  uintptr_t a = (uintptr_t)addr;
  if ((a & 3) == 0) return *(const volatile uint32_t *)a;
  return (uint32_t)pgm_read_word_inlined(addr) |
         ((uint32_t)pgm_read_word_inlined((const uint8_t *)addr + 2) << 16);
}

static inline float pgm_read_float_inlined(const void *addr) {
  union { uint32_t u; float f; } v = {pgm_read_dword_inlined(addr)};
  return v.f;
}

#define pgm_read_byte(addr) pgm_read_byte_inlined((const void *)(addr))
#define pgm_read_word(addr) pgm_read_word_inlined((const void *)(addr))
#define pgm_read_dword(addr) pgm_read_dword_inlined((const void *)(addr))
#define pgm_read_float(addr) pgm_read_float_inlined((const void *)(addr))
#define pgm_read_ptr(addr) ((void *)(uintptr_t)pgm_read_dword(addr))
#define pgm_read_byte_near(addr) pgm_read_byte(addr)
#define pgm_read_word_near(addr) pgm_read_word(addr)
#define pgm_read_dword_near(addr) pgm_read_dword(addr)
#define pgm_read_float_near(addr) pgm_read_float(addr)
#define pgm_read_ptr_near(addr) pgm_read_ptr(addr)
#define pgm_read_byte_far(addr) pgm_read_byte(addr)
#define pgm_read_word_far(addr) pgm_read_word(addr)
#define pgm_read_dword_far(addr) pgm_read_dword(addr)
#define pgm_read_float_far(addr) pgm_read_float(addr)
#define pgm_read_ptr_far(addr) pgm_read_ptr(addr)
#define pgm_read_dword_aligned(addr) (*(const uint32_t *)(addr))
#define pgm_read_float_aligned(addr) (*(const float *)(addr))
#define pgm_read_ptr_aligned(addr) (*(const void *const *)(addr))

void *memcpy_P(void *dest, PGM_VOID_P src, size_t n);
void *memmove_P(void *dest, PGM_VOID_P src, size_t n);
int memcmp_P(const void *a, PGM_VOID_P b_P, size_t n);
void *memccpy_P(void *dest, PGM_VOID_P src, int c, size_t n);
size_t strlen_P(PGM_P s);
size_t strnlen_P(PGM_P s, size_t n);
char *strcpy_P(char *dest, PGM_P src);
char *strncpy_P(char *dest, PGM_P src, size_t n);
char *strcat_P(char *dest, PGM_P src);
char *strncat_P(char *dest, PGM_P src, size_t n);
int strcmp_P(const char *a, PGM_P b_P);
int strncmp_P(const char *a, PGM_P b_P, size_t n);
int strcasecmp_P(const char *a, PGM_P b_P);
int strncasecmp_P(const char *a, PGM_P b_P, size_t n);
char *strstr_P(const char *haystack, PGM_P needle_P);
int printf_P(PGM_P fmt, ...) __attribute__((format(printf, 1, 2)));
int sprintf_P(char *out, PGM_P fmt, ...) __attribute__((format(printf, 2, 3)));
int snprintf_P(char *out, size_t n, PGM_P fmt, ...) __attribute__((format(printf, 3, 4)));
int vsnprintf_P(char *out, size_t n, PGM_P fmt, va_list ap) __attribute__((format(printf, 3, 0)));

#ifdef __cplusplus
}
#endif

#endif

/* The PROGMEM string functions of include/sys/pgmspace.h: every byte of the flash operand
 * is read with pgm_read_byte (aligned word reads), RAM operands directly. Formats are copied
 * to the stack before picolibc's printf sees them. */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <sys/pgmspace.h>

void *memcpy_P(void *dest, PGM_VOID_P src, size_t n) {
  uint8_t *d = (uint8_t *)dest;
  const uint8_t *s = (const uint8_t *)src;
  for (size_t i = 0; i < n; i++) d[i] = pgm_read_byte(s + i);
  return dest;
}

void *memmove_P(void *dest, PGM_VOID_P src, size_t n) {
  uint8_t *d = (uint8_t *)dest;
  const uint8_t *s = (const uint8_t *)src;
  if (d <= s || d >= s + n) return memcpy_P(dest, src, n);
  while (n--) d[n] = pgm_read_byte(s + n); /* overlapping, dest above src: copy backwards */
  return dest;
}

int memcmp_P(const void *a, PGM_VOID_P b_P, size_t n) {
  const uint8_t *x = (const uint8_t *)a;
  const uint8_t *y = (const uint8_t *)b_P;
  for (size_t i = 0; i < n; i++) {
    int diff = x[i] - pgm_read_byte(y + i);
    if (diff) return diff;
  }
  return 0;
}

void *memccpy_P(void *dest, PGM_VOID_P src, int c, size_t n) {
  uint8_t *d = (uint8_t *)dest;
  const uint8_t *s = (const uint8_t *)src;
  for (size_t i = 0; i < n; i++) {
    d[i] = pgm_read_byte(s + i);
    if (d[i] == (uint8_t)c) return d + i + 1;
  }
  return NULL;
}

size_t strnlen_P(PGM_P s, size_t n) {
  size_t len = 0;
  while (len < n && pgm_read_byte(s + len)) len++;
  return len;
}

size_t strlen_P(PGM_P s) { return strnlen_P(s, (size_t)-1); }

char *strncpy_P(char *dest, PGM_P src, size_t n) {
  size_t i = 0;
  for (; i < n && (dest[i] = (char)pgm_read_byte(src + i)) != 0; i++) {
  }
  for (; i < n; i++) dest[i] = 0;
  return dest;
}

char *strcpy_P(char *dest, PGM_P src) {
  memcpy_P(dest, src, strlen_P(src) + 1);
  return dest;
}

char *strcat_P(char *dest, PGM_P src) {
  strcpy_P(dest + strlen(dest), src);
  return dest;
}

char *strncat_P(char *dest, PGM_P src, size_t n) {
  char *end = dest + strlen(dest);
  size_t len = strnlen_P(src, n);
  memcpy_P(end, src, len);
  end[len] = 0;
  return dest;
}

/* Compares up to n bytes, folding case when asked: the one loop of the four strcmp_P's. */
static int compare_P(const char *a, PGM_P b_P, size_t n, int fold) {
  for (size_t i = 0; i < n; i++) {
    int x = (unsigned char)a[i];
    int y = pgm_read_byte(b_P + i);
    if (fold) {
      x = tolower(x);
      y = tolower(y);
    }
    if (x != y || x == 0) return x - y;
  }
  return 0;
}

int strcmp_P(const char *a, PGM_P b_P) { return compare_P(a, b_P, (size_t)-1, 0); }
int strncmp_P(const char *a, PGM_P b_P, size_t n) { return compare_P(a, b_P, n, 0); }
int strcasecmp_P(const char *a, PGM_P b_P) { return compare_P(a, b_P, (size_t)-1, 1); }
int strncasecmp_P(const char *a, PGM_P b_P, size_t n) { return compare_P(a, b_P, n, 1); }

char *strstr_P(const char *haystack, PGM_P needle_P) {
  size_t len = strlen_P(needle_P);
  if (len == 0) return (char *)haystack;
  for (; *haystack; haystack++) {
    if (compare_P(haystack, needle_P, len, 0) == 0) return (char *)haystack;
  }
  return NULL;
}

/* The format in RAM for the duration of a call (formats are short: the stack takes them). */
#define WITH_RAM_FORMAT(fmt_P, ram) \
  char ram[strlen_P(fmt_P) + 1];    \
  strcpy_P(ram, fmt_P)

int vsnprintf_P(char *out, size_t n, PGM_P fmt, va_list ap) {
  WITH_RAM_FORMAT(fmt, ram);
  return vsnprintf(out, n, ram, ap);
}

int snprintf_P(char *out, size_t n, PGM_P fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int ret = vsnprintf_P(out, n, fmt, ap);
  va_end(ap);
  return ret;
}

int sprintf_P(char *out, PGM_P fmt, ...) {
  WITH_RAM_FORMAT(fmt, ram);
  va_list ap;
  va_start(ap, fmt);
  int ret = vsprintf(out, ram, ap);
  va_end(ap);
  return ret;
}

int printf_P(PGM_P fmt, ...) {
  WITH_RAM_FORMAT(fmt, ram);
  va_list ap;
  va_start(ap, fmt);
  int ret = vprintf(ram, ap);
  va_end(ap);
  return ret;
}

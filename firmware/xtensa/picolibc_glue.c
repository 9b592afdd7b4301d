/* What picolibc expects from the system, for the ESP8266 core (the core's own
 * libc_replacements.cpp is written for newlib's hooks and is left out of the build):
 * stdout/stderr write to UART0 through the ROM's ets_putc like the core's printf does, there
 * is no stdin, exit() ends in the core's abort() (postmortem and restart), and atexit()
 * registers nothing (as the core's own hook): a node never exits, so the destructors of
 * static objects never run and need no table in RAM. */
#include <stdio.h>
#include <stdlib.h>

extern void ets_putc(char c);

static int uart_put(char c, FILE *stream) {
  (void)stream;
  ets_putc(c);
  return (unsigned char)c;
}

static FILE uart_stream = FDEV_SETUP_STREAM(uart_put, NULL, NULL, _FDEV_SETUP_WRITE);
FILE *const stdout = &uart_stream;
FILE *const stderr = &uart_stream;
FILE *const stdin = NULL;

void _exit(int status) {
  (void)status;
  abort();
}

int atexit(void (*function)(void)) {
  (void)function;
  return 0;
}

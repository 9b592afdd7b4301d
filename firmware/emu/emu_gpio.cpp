// GPIO of the emulated node, in place of the core mock's HostWiring.cpp: input pins read
// what the bench drives (or their pull-up), output pins report their level to the bench.
#include <Arduino.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "emu_board.h"

namespace {

const int kPins = 17;
uint8_t modes[kPins];
int8_t driven[kPins];  // -1: not driven by the bench
uint8_t levels[kPins];

struct Dht {
  bool set = false;
  bool failing = false;
  float celsius = 0;
  float humidity = 0;
};
Dht dhts[kPins];

int bench_fd() {
  static int fd = -2;
  if (fd == -2) {
    const char* env = getenv("NODE_BENCH_FD");
    fd = env ? atoi(env) : -1;
    if (fd >= 0) fcntl(fd, F_SETFL, fcntl(fd, F_GETFL, 0) | O_NONBLOCK);
    for (int i = 0; i < kPins; ++i) driven[i] = -1;
  }
  return fd;
}

void apply(char* line) {
  char verb[16] = {0}, a[32] = {0}, b[32] = {0};
  int pin = -1;
  int n = sscanf(line, "%15s %d %31s %31s", verb, &pin, a, b);
  if (n < 2 || pin < 0 || pin >= kPins) return;
  if (strcmp(verb, "drive") == 0 && n >= 3) {
    driven[pin] = atoi(a) ? 1 : 0;
  } else if (strcmp(verb, "release") == 0) {
    driven[pin] = -1;
  } else if (strcmp(verb, "dht") == 0 && n >= 3) {
    dhts[pin].set = true;
    dhts[pin].failing = strcmp(a, "fail") == 0;
    if (!dhts[pin].failing && n == 4) {
      dhts[pin].celsius = strtof(a, nullptr);
      dhts[pin].humidity = strtof(b, nullptr);
    }
  }
}

}  // namespace

namespace emu {

void poll_bench() {
  static char pending[512];
  static size_t used = 0;
  int fd = bench_fd();
  if (fd < 0) return;
  for (;;) {
    ssize_t got = read(fd, pending + used, sizeof(pending) - 1 - used);
    if (got <= 0) break;
    used += static_cast<size_t>(got);
    pending[used] = 0;
    char* start = pending;
    char* nl;
    while ((nl = strchr(start, '\n')) != nullptr) {
      *nl = 0;
      apply(start);
      start = nl + 1;
    }
    used = strlen(start);
    memmove(pending, start, used);
    if (used == sizeof(pending) - 1) used = 0;  // an overlong line: drop it
  }
}

bool dht_reading(uint8_t pin, float* celsius, float* humidity) {
  poll_bench();
  if (pin >= kPins || !dhts[pin].set || dhts[pin].failing) return false;
  *celsius = dhts[pin].celsius;
  *humidity = dhts[pin].humidity;
  return true;
}

void bench_event(const char* line) {
  int fd = bench_fd();
  if (fd < 0) return;
  char buf[128];
  int n = snprintf(buf, sizeof(buf), "%s\n", line);
  // A bench that went away (the test ended) is no error for the board: no SIGPIPE.
  if (n > 0 && send(fd, buf, static_cast<size_t>(n), MSG_NOSIGNAL) < 0) return;
}

}  // namespace emu

static bool is_output(uint8_t pin) {
  return modes[pin] == OUTPUT || modes[pin] == OUTPUT_OPEN_DRAIN;
}

static void report(uint8_t pin) {
  char line[32];
  snprintf(line, sizeof(line), "pin %u %u", pin, levels[pin]);
  emu::bench_event(line);
}

void pinMode(uint8_t pin, uint8_t mode) {
  bench_fd();
  if (pin >= kPins) return;
  modes[pin] = mode;
  if (is_output(pin)) report(pin);  // the pin starts driving its latched level now
}

void digitalWrite(uint8_t pin, uint8_t val) {
  if (pin >= kPins) return;
  levels[pin] = val ? 1 : 0;
  if (is_output(pin)) report(pin);
}

int digitalRead(uint8_t pin) {
  emu::poll_bench();
  if (pin >= kPins) return 0;
  if (is_output(pin)) return levels[pin];
  if (driven[pin] >= 0) return driven[pin];
  return modes[pin] == INPUT_PULLUP ? HIGH : LOW;
}

void analogWrite(uint8_t pin, int val) {
  (void)pin;
  (void)val;
}

int analogRead(uint8_t pin) {
  (void)pin;
  return 512;
}

void analogWriteRange(uint32_t range) { (void)range; }

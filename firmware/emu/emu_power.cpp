// Deep sleep of the emulated node, which the core's mock leaves out. On the ESP8266 the
// chip powers down and GPIO16 pulls RST at the end, so the sketch starts from setup()
// again: here the process tells the bench and ends; the test "wakes" it by starting it.
#include <Arduino.h>
#include <stdio.h>
#include <stdlib.h>

#include "emu_board.h"

void EspClass::deepSleep(uint64_t time_us, RFMode mode) {
  (void)mode;
  char line[48];
  snprintf(line, sizeof(line), "deep-sleep %llu", static_cast<unsigned long long>(time_us));
  emu::bench_event(line);
  exit(0);
}

void EspClass::deepSleepInstant(uint64_t time_us, RFMode mode) { deepSleep(time_us, mode); }

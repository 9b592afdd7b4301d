// The bench around an emulated node (the ESP8266 core's host build, tests/host in the core):
// what a test can do to the board's pins and sensors, and what the board reports back.
//
// The test talks to the board over one file descriptor (environment NODE_BENCH_FD, a socket
// pair end). Commands, one per line:
//   drive PIN 0|1          hold an input pin low or high (a button pressed, a contact closed)
//   release PIN            let the pin float again (it then reads its pull-up, or low)
//   dht PIN T H            the DHT on PIN reads T degrees Celsius and H percent
//   dht PIN fail           the DHT on PIN stops answering (a read returns NaN)
// Events, one per line:
//   pin PIN 0|1            an output pin's level (each digitalWrite, and pinMode(OUTPUT))
//   deep-sleep US          ESP.deepSleep(US): the process then ends (emu_power.cpp)
//   eboot copy SRC DST N   the Updater staged an N-byte image for the boot loader, which
//                          is written to ./flash-app.bin (emu_flash.cpp)
//   restart                ESP.restart(): the process then ends with status 0
// Everything else the sketch does reaches the world through the core: WiFiClient (host TCP),
// Serial (UART0 on NODE_UART_FD when set, see emu_uart.cpp).
#ifndef EMU_BOARD_H
#define EMU_BOARD_H

#include <stdint.h>

namespace emu {

// Reads pending bench commands (never blocks). Called whenever the sketch looks at a pin.
void poll_bench();

// The DHT double's view of the bench: false while the sensor is set to fail or not set.
bool dht_reading(uint8_t pin, float* celsius, float* humidity);

// Sends one event line to the bench (no newline in `line`).
void bench_event(const char* line);

}  // namespace emu

#endif

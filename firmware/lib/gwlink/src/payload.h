// Payloads as the gateway publishes them: a plain value, no unit (`21.4`), so a node's
// readings look the same as the Pi's own sensors on home/<room>/<sensor>.
#ifndef GWLINK_PAYLOAD_H
#define GWLINK_PAYLOAD_H

#include <stddef.h>
#include <stdint.h>

namespace gwlink {

// Writes `value` rounded to `decimals` (0..6) places, NUL-terminated, without printf (the
// ESP8266's small libc may lack float formatting). Returns the length, or 0 if the value is
// NaN, infinite, too large for 32 bits at that precision, or `cap` is too small.
size_t format_fixed(float value, uint8_t decimals, char* out, size_t cap);

// Binary inputs (a door contact) publish the words the gateway's GPIO inputs use.
inline const char* format_binary(bool on) { return on ? "ON" : "OFF"; }

// A command to a switch (home/<room>/<output>/set), read as the gateway's relay driver
// reads it: ON/OFF, 1/0, true/false or TOGGLE, any case, surrounding blanks ignored.
// Returns true and sets *on (TOGGLE flips `current`), or false for anything else.
bool parse_switch(const uint8_t* payload, size_t len, bool current, bool* on);

// Why a DHT22 reading is not published.
enum DhtVerdict {
  kDhtOk,
  kDhtNoReading,          // NaN: timeout or checksum failure in the DHT library
  kDhtOutOfRange,         // outside the sensor's range (-40..80 C, 0..100 %)
};

DhtVerdict check_dht22(float celsius, float humidity);

}  // namespace gwlink

#endif

#include "payload.h"

#include <string.h>

namespace gwlink {

size_t format_fixed(float value, uint8_t decimals, char* out, size_t cap) {
  if (value != value || decimals > 6) return 0;  // NaN compares unequal to itself
  uint32_t scale = 1;
  for (uint8_t i = 0; i < decimals; ++i) scale *= 10;
  bool negative = value < 0;
  double magnitude = negative ? -static_cast<double>(value) : static_cast<double>(value);
  double scaled = magnitude * scale + 0.5;  // round half away from zero
  if (!(scaled < 4294967295.0)) return 0;   // also rejects infinity
  uint32_t units = static_cast<uint32_t>(scaled);
  if (units == 0) negative = false;  // -0.04 at one decimal is "0.0", not "-0.0"

  // Digits are produced backwards into a scratch buffer, then copied in order.
  char digits[16];
  size_t n = 0;
  for (uint8_t i = 0; i < decimals; ++i) {
    digits[n++] = static_cast<char>('0' + units % 10);
    units /= 10;
  }
  if (decimals > 0) digits[n++] = '.';
  do {
    digits[n++] = static_cast<char>('0' + units % 10);
    units /= 10;
  } while (units > 0);
  if (negative) digits[n++] = '-';

  if (n + 1 > cap) return 0;
  for (size_t i = 0; i < n; ++i) out[i] = digits[n - 1 - i];
  out[n] = '\0';
  return n;
}

DhtVerdict check_dht22(float celsius, float humidity) {
  if (celsius != celsius || humidity != humidity) return kDhtNoReading;
  if (celsius < -40.0f || celsius > 80.0f) return kDhtOutOfRange;
  if (humidity < 0.0f || humidity > 100.0f) return kDhtOutOfRange;
  return kDhtOk;
}

namespace {
bool same_word(const uint8_t* text, size_t len, const char* word) {
  if (strlen(word) != len) return false;
  for (size_t i = 0; i < len; ++i) {
    uint8_t c = text[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<uint8_t>(c - 'A' + 'a');
    if (c != static_cast<uint8_t>(word[i])) return false;
  }
  return true;
}

bool blank(uint8_t c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }
}  // namespace

bool parse_switch(const uint8_t* payload, size_t len, bool current, bool* on) {
  while (len > 0 && blank(payload[0])) {
    ++payload;
    --len;
  }
  while (len > 0 && blank(payload[len - 1])) --len;
  if (same_word(payload, len, "on") || same_word(payload, len, "1") ||
      same_word(payload, len, "true")) {
    *on = true;
  } else if (same_word(payload, len, "off") || same_word(payload, len, "0") ||
             same_word(payload, len, "false")) {
    *on = false;
  } else if (same_word(payload, len, "toggle")) {
    *on = !current;
  } else {
    return false;
  }
  return true;
}

}  // namespace gwlink

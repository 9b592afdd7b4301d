#include "crc16.h"

namespace gwlink {

// Nibble table: 32 bytes of flash instead of 512, and still two lookups per byte,
// which is far faster than the UART can deliver bytes.
static const uint16_t kNibbleTable[16] = {
    0x0000, 0x1021, 0x2042, 0x3063, 0x4084, 0x50A5, 0x60C6, 0x70E7,
    0x8108, 0x9129, 0xA14A, 0xB16B, 0xC18C, 0xD1AD, 0xE1CE, 0xF1EF,
};

uint16_t crc16_update(uint16_t crc, const uint8_t* data, size_t len) {
  for (size_t i = 0; i < len; ++i) {
    uint8_t b = data[i];
    crc = static_cast<uint16_t>((crc << 4) ^ kNibbleTable[((crc >> 12) ^ (b >> 4)) & 0x0F]);
    crc = static_cast<uint16_t>((crc << 4) ^ kNibbleTable[((crc >> 12) ^ (b & 0x0F)) & 0x0F]);
  }
  return crc;
}

}  // namespace gwlink

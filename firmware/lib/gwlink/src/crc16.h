// CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF, no reflection, no final xor).
// The same CRC as Python's binascii.crc_hqx(data, 0xFFFF), which the gateway's bridge uses.
#ifndef GWLINK_CRC16_H
#define GWLINK_CRC16_H

#include <stddef.h>
#include <stdint.h>

namespace gwlink {

const uint16_t kCrc16Init = 0xFFFF;

// Continues `crc` over `len` bytes; start with kCrc16Init.
uint16_t crc16_update(uint16_t crc, const uint8_t* data, size_t len);

inline uint16_t crc16(const uint8_t* data, size_t len) {
  return crc16_update(kCrc16Init, data, len);
}

}  // namespace gwlink

#endif

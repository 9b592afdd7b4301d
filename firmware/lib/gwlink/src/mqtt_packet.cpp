#include "mqtt_packet.h"

namespace gwlink {

PacketScan mqtt_scan_packet(const uint8_t* buf, size_t len, size_t* total) {
  *total = 0;
  size_t remaining = 0;
  size_t multiplier = 1;
  // buf[0] is the type/flags byte; the varint starts at buf[1] and has at most 4 bytes.
  for (size_t i = 1; i <= 4; ++i) {
    if (i >= len) return kPacketIncomplete;
    uint8_t b = buf[i];
    remaining += static_cast<size_t>(b & 0x7F) * multiplier;
    if ((b & 0x80) == 0) {
      *total = 1 + i + remaining;
      return len >= *total ? kPacketComplete : kPacketIncomplete;
    }
    multiplier *= 128;
  }
  return kPacketMalformed;
}

}  // namespace gwlink

// Finds MQTT packet boundaries from the fixed header (type byte + Remaining Length varint).
// PubSubClient does not always write a packet with a single write() call (publish_P,
// beginPublish/endPublish, MQTT_MAX_TRANSFER_SIZE), so the link frames by packet, not by call.
#ifndef GWLINK_MQTT_PACKET_H
#define GWLINK_MQTT_PACKET_H

#include <stddef.h>
#include <stdint.h>

namespace gwlink {

enum PacketScan {
  kPacketIncomplete,  // not enough bytes yet to know the size, or to hold the packet
  kPacketComplete,    // `*total` is the size of the first packet in the buffer
  kPacketMalformed,   // Remaining Length longer than 4 bytes: not MQTT
};

// Looks at the start of `buf`. On kPacketComplete and on kPacketIncomplete once the header
// is known, `*total` is the whole packet's size (header + Remaining Length); 0 if unknown.
PacketScan mqtt_scan_packet(const uint8_t* buf, size_t len, size_t* total);

}  // namespace gwlink

#endif

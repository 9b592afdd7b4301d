#include "frame.h"

namespace gwlink {

FrameDecoder::Event FrameDecoder::push(uint8_t byte) {
  if (byte != 0) {
    cobs_.push(byte);
    return kNone;
  }
  Event event = finish();
  cobs_.reset();
  return event;
}

FrameDecoder::Event FrameDecoder::finish() {
  if (!cobs_.started()) return kNone;  // back-to-back delimiters
  if (cobs_.overflowed()) return kTooLong;
  if (!cobs_.complete()) return kBadCobs;
  size_t len = cobs_.length();
  if (len < 3) return kTooShort;
  uint16_t got = static_cast<uint16_t>((buf_[len - 2] << 8) | buf_[len - 1]);
  if (crc16(buf_, len - 2) != got) return kBadCrc;
  body_len_ = len - 3;
  return kFrame;
}

}  // namespace gwlink

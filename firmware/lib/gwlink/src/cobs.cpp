#include "cobs.h"

namespace gwlink {

namespace {
// Collects encoder output into a fixed buffer, remembering if it ran out of room.
struct BufferSink {
  uint8_t* dst;
  size_t cap;
  size_t len;
  bool full;
  size_t write(const uint8_t* data, size_t n) {
    if (full || len + n > cap) {
      full = true;
      return 0;
    }
    for (size_t i = 0; i < n; ++i) dst[len + i] = data[i];
    len += n;
    return n;
  }
};
}  // namespace

size_t cobs_encode(const uint8_t* src, size_t len, uint8_t* dst, size_t cap) {
  BufferSink sink = {dst, cap, 0, false};
  cobs_encode_to(sink, src, len);
  return sink.full ? 0 : sink.len;
}

void CobsDecoder::reset() {
  len_ = 0;
  code_ = 0;
  left_ = 0;
  started_ = false;
  overflow_ = false;
}

void CobsDecoder::append(uint8_t byte) {
  if (len_ < cap_) {
    buf_[len_++] = byte;
  } else {
    overflow_ = true;
  }
}

void CobsDecoder::push(uint8_t byte) {
  if (left_ == 0) {
    // A code byte. The previous block's implied zero is written only now, because the
    // last block of a frame has none.
    if (started_ && code_ != 0xFF) append(0);
    code_ = byte;
    left_ = static_cast<uint8_t>(byte - 1);
    started_ = true;
  } else {
    append(byte);
    --left_;
  }
}

}  // namespace gwlink

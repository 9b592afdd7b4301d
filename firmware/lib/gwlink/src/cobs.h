// Consistent Overhead Byte Stuffing: removes every 0x00 from a frame so that 0x00 can
// delimit frames on the wire. Overhead: one byte per 254 bytes of payload, plus one.
#ifndef GWLINK_COBS_H
#define GWLINK_COBS_H

#include <stddef.h>
#include <stdint.h>

namespace gwlink {

// Largest encoding of `len` bytes (without delimiters).
inline size_t cobs_max_encoded(size_t len) { return len + len / 254 + 1; }

// Encodes `len` bytes into `sink` block by block, without a second buffer: the UART driver
// receives each block as it is found. Sink needs `size_t write(const uint8_t*, size_t)`.
// Returns the number of bytes written. A run of 254 non-zero bytes at the very end is not
// followed by an empty block; the decoder below (and the Python twin) accept both forms.
template <class Sink>
size_t cobs_encode_to(Sink& sink, const uint8_t* src, size_t len) {
  size_t pos = 0;
  size_t written = 0;
  for (;;) {
    size_t run = 0;
    while (pos + run < len && src[pos + run] != 0 && run < 254) ++run;
    uint8_t code = static_cast<uint8_t>(run + 1);
    sink.write(&code, 1);
    if (run > 0) sink.write(src + pos, run);
    written += run + 1;
    pos += run;
    if (pos == len) break;
    if (run < 254) ++pos;  // the zero that ended this block is implied by its code
  }
  return written;
}

// Encodes into a buffer; returns the encoded length, or 0 if `cap` is too small.
size_t cobs_encode(const uint8_t* src, size_t len, uint8_t* dst, size_t cap);

// Streaming decoder for the bytes between two 0x00 delimiters. Decodes into a caller's
// buffer; bytes beyond its capacity are counted as overflow, not written.
class CobsDecoder {
 public:
  CobsDecoder(uint8_t* buf, size_t cap) : buf_(buf), cap_(cap) { reset(); }

  // Feeds one non-zero byte of an encoded frame.
  void push(uint8_t byte);
  // True if the bytes pushed since reset() form a complete COBS encoding.
  bool complete() const { return started_ && left_ == 0; }
  bool started() const { return started_; }
  bool overflowed() const { return overflow_; }
  size_t length() const { return len_; }
  void reset();

 private:
  void append(uint8_t byte);

  uint8_t* buf_;
  size_t cap_;
  size_t len_;
  uint8_t code_;
  uint8_t left_;
  bool started_;
  bool overflow_;
};

}  // namespace gwlink

#endif

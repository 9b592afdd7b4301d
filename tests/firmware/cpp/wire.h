// Byte-vector helpers shared by the C++ tests: collect encoder output, build wire frames.
#ifndef TESTS_FIRMWARE_WIRE_H
#define TESTS_FIRMWARE_WIRE_H

#include <stdint.h>

#include <vector>

#include "gwlink.h"

typedef std::vector<uint8_t> Bytes;

// A Sink for cobs_encode_to / write_frame that appends to a vector.
struct VectorSink {
  Bytes out;
  size_t write(const uint8_t* data, size_t n) {
    out.insert(out.end(), data, data + n);
    return n;
  }
};

// The wire bytes of a frame of `type` around `body`, delimiters included.
inline Bytes wire_frame(uint8_t type, const Bytes& body) {
  Bytes scratch(1 + body.size() + 2);
  scratch[0] = type;
  for (size_t i = 0; i < body.size(); ++i) scratch[1 + i] = body[i];
  VectorSink sink;
  gwlink::write_frame(sink, scratch.data(), body.size());
  return sink.out;
}

#endif

// The firmware's frame codec as a filter, so the Python twin can be checked against it:
//   stdin "E <type> <hex body>"  ->  stdout "<hex wire bytes>"
//   stdin "D <hex wire bytes>"   ->  stdout one line per event: "F <type> <hex body>" or
//                                    "B <reason>", then "."
#include <stdio.h>
#include <string.h>

#include <string>
#include <vector>

#include "gwlink.h"

namespace {

typedef std::vector<uint8_t> Bytes;

struct HexSink {
  std::string out;
  size_t write(const uint8_t* data, size_t n) {
    char two[3];
    for (size_t i = 0; i < n; ++i) {
      snprintf(two, sizeof(two), "%02x", data[i]);
      out += two;
    }
    return n;
  }
};

Bytes from_hex(const char* text) {
  Bytes out;
  unsigned byte;
  while (text[0] && text[1] && sscanf(text, "%2x", &byte) == 1) {
    out.push_back(static_cast<uint8_t>(byte));
    text += 2;
  }
  return out;
}

const char* reason(gwlink::FrameDecoder::Event e) {
  switch (e) {
    case gwlink::FrameDecoder::kBadCrc: return "crc";
    case gwlink::FrameDecoder::kBadCobs: return "cobs";
    case gwlink::FrameDecoder::kTooLong: return "too_long";
    case gwlink::FrameDecoder::kTooShort: return "too_short";
    default: return "?";
  }
}

}  // namespace

int main() {
  static char line[1 << 16];
  static uint8_t decoded[4096];
  gwlink::FrameDecoder decoder(decoded, sizeof(decoded));
  while (fgets(line, sizeof(line), stdin)) {
    line[strcspn(line, "\r\n")] = '\0';
    if (line[0] == 'E') {
      unsigned type = 0;
      char hex[sizeof(line)] = "";
      if (sscanf(line + 1, "%x %65535s", &type, hex) < 1) return 2;
      Bytes body = from_hex(hex);
      Bytes frame(1 + body.size() + 2);
      frame[0] = static_cast<uint8_t>(type);
      if (!body.empty()) memcpy(&frame[1], body.data(), body.size());
      HexSink sink;
      gwlink::write_frame(sink, frame.data(), body.size());
      printf("%s\n", sink.out.c_str());
    } else if (line[0] == 'D') {
      Bytes wire = from_hex(line + 2);
      for (uint8_t b : wire) {
        gwlink::FrameDecoder::Event e = decoder.push(b);
        if (e == gwlink::FrameDecoder::kFrame) {
          HexSink sink;
          sink.write(decoder.body(), decoder.body_len());
          printf("F %02x %s\n", decoder.type(), sink.out.c_str());
        } else if (e != gwlink::FrameDecoder::kNone) {
          printf("B %s\n", reason(e));
        }
      }
      printf(".\n");
    }
    fflush(stdout);
  }
  return 0;
}

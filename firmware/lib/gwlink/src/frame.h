// The link's frame format (the Python twin is gateway/serial/framing.py):
//
//   wire:    0x00  COBS( type | body | crc16_be )  0x00
//   crc16:   CRC-16/CCITT-FALSE over type and body
//
// A delimiter on both sides lets the receiver resynchronise on the very next frame after
// noise, a half frame or the ESP8266's boot messages. Empty segments (0x00 0x00) are skipped.
#ifndef GWLINK_FRAME_H
#define GWLINK_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include "cobs.h"
#include "crc16.h"

namespace gwlink {

const uint8_t kLinkVersion = 1;

enum FrameType : uint8_t {
  kFrameData = 0x01,    // body: a slice of the MQTT byte stream (one whole packet from us)
  kFrameOpen = 0x02,    // node -> gateway: new MQTT connection; body: version, nonce, max packet (u16 BE)
  kFrameAccept = 0x03,  // gateway -> node: the connection is open; body echoes version, nonce
  kFrameClose = 0x04,   // either way: the MQTT connection is over (like a TCP FIN/RST)
  kFrameSettings = 0x05,       // gateway -> node: new settings (settings.h's text)
  kFrameSettingsReply = 0x06,  // node -> gateway: "ok <fw> <accepted>" or "error <reason>"
  kFrameUpdateRead = 0x07,     // node -> gateway: md5 (16), offset (u32 BE), length (u16 BE)
  kFrameUpdateData = 0x08,     // gateway -> node: offset (u32 BE), image bytes
  kFrameUpdateError = 0x09,    // gateway -> node: offset (u32 BE), reason
};

// Bytes a frame adds around its body: type, CRC, COBS code byte and two delimiters.
const size_t kFrameOverhead = 1 + 2 + 1 + 2;

// Writes one frame to `sink`. `frame` holds the type at [0] and the body at [1..body_len];
// the two bytes after the body are scratch space for the CRC, so the caller's buffer must
// have room for body_len + 3 bytes. This keeps the node from needing a second buffer.
template <class Sink>
size_t write_frame(Sink& sink, uint8_t* frame, size_t body_len) {
  static const uint8_t delimiter = 0;
  size_t n = body_len + 1;
  uint16_t crc = crc16(frame, n);
  frame[n] = static_cast<uint8_t>(crc >> 8);
  frame[n + 1] = static_cast<uint8_t>(crc & 0xFF);
  sink.write(&delimiter, 1);
  size_t written = cobs_encode_to(sink, frame, n + 2);
  sink.write(&delimiter, 1);
  return written + 2;
}

// Reassembles frames from the byte stream, checking COBS and CRC.
class FrameDecoder {
 public:
  enum Event {
    kNone,       // nothing complete yet (or an empty segment)
    kFrame,      // a good frame: type(), body(), body_len() valid until the next push()
    kBadCrc,     // a segment whose CRC does not match: noise, a half frame, wrong baud
    kBadCobs,    // a segment cut short inside a COBS block
    kTooLong,    // a segment longer than the buffer: dropped whole
    kTooShort,   // a segment shorter than type + CRC
  };

  // `buf` receives the decoded frame; its capacity bounds the largest frame accepted.
  FrameDecoder(uint8_t* buf, size_t cap) : buf_(buf), cobs_(buf, cap) {}

  Event push(uint8_t byte);
  // Forgets a partial frame (e.g. when a new connection starts).
  void reset() { cobs_.reset(); }
  bool in_frame() const { return cobs_.started(); }

  uint8_t type() const { return buf_[0]; }
  const uint8_t* body() const { return buf_ + 1; }
  uint8_t* body() { return buf_ + 1; }
  size_t body_len() const { return body_len_; }

 private:
  Event finish();

  uint8_t* buf_;
  CobsDecoder cobs_;
  size_t body_len_ = 0;
};

}  // namespace gwlink

#endif

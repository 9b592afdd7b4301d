// The node's end of the framed serial link: an MQTT byte stream carried in frames over a
// UART, with connection semantics like TCP so PubSubClient can reconnect after any fault.
//
//   connect()  sends OPEN and waits (bounded) for the gateway's ACCEPT
//   write()    collects bytes until a whole MQTT packet is in, then sends it as one frame
//   read()     returns the bytes of received DATA frames, in order
//   stop()     sends CLOSE
//
// Firmware image frames (UPDATE_READ out, UPDATE_DATA / UPDATE_ERROR in; ota.h) travel
// beside the MQTT stream, open connection or not: send_update_read() and
// take_update_frame() keep them out of the bytes PubSubClient reads.
//
// A bad frame (noise, a half frame) while connected ends the connection on both sides: one
// MQTT packet may be lost, so the stream cannot be trusted any more. PubSubClient then sees
// connected() == 0 and the sketch reconnects, exactly as after a dropped TCP connection.
#ifndef GWLINK_FRAMED_LINK_H
#define GWLINK_FRAMED_LINK_H

#include <stddef.h>
#include <stdint.h>

#include "frame.h"
#include "mqtt_packet.h"
#include "ota.h"
#include "settings.h"

namespace gwlink {

typedef unsigned long (*MillisFn)();
typedef void (*IdleFn)();

struct LinkCounters {
  uint32_t frames_in = 0;
  uint32_t frames_out = 0;
  uint32_t bad_frames = 0;        // CRC, COBS, too short or too long
  uint32_t opens = 0;             // connections accepted by the gateway
  uint32_t open_timeouts = 0;     // connect() attempts with no ACCEPT in time
  uint32_t closes_received = 0;   // connections the gateway ended
  uint32_t aborts = 0;            // connections this side ended on an error
  uint32_t oversize_packets = 0;  // outgoing packets larger than MaxPacket
  uint32_t stalled_frames = 0;    // frames that stopped mid-way (also in bad_frames)
};

// Senders write a frame in one go, so this much silence inside a frame means it was noise
// (the gateway's bridge uses the same rule): drop it and, if connected, end the connection
// now instead of losing the next good frame to it too.
const uint32_t kFrameGapMs = 250;

// Uart: anything with `int available()`, `int read()`, `size_t write(const uint8_t*, size_t)`
// and `void flush()` (Arduino's HardwareSerial; a file descriptor on the host).
// MaxPacket: the largest MQTT packet carried either way; match PubSubClient's buffer size.
template <class Uart, size_t MaxPacket = 512>
class FramedLink {
  static_assert(MaxPacket >= 16 && MaxPacket <= 0xFFFF, "MaxPacket must fit the OPEN frame");

 public:
  enum State { kClosed, kOpening, kOpen };

  // `millis` measures the connect timeout; `idle` runs while connect() waits (pass the
  // core's yield so the ESP8266's watchdog and WiFi stack keep running).
  FramedLink(Uart& uart, MillisFn millis, IdleFn idle = 0)
      : uart_(uart), millis_(millis), idle_(idle), decoder_(rx_, sizeof(rx_)) {}

  // A SETTINGS frame (`gateway node setup` on this cable while the gateway is stopped) goes
  // to `fn` whole, as it arrives: the node stores it, answers on the UART and restarts.
  typedef void (*SettingsFn)(const uint8_t* body, size_t len);
  void on_settings(SettingsFn fn) { settings_fn_ = fn; }

  // Opens a new connection; returns 1 once the gateway accepted it, 0 after timeout_ms.
  int connect(uint32_t timeout_ms) {
    if (state_ != kClosed) stop();
    discard_buffers();
    ++nonce_;
    // OPEN tells the gateway our receive limit, so it drops larger packets instead of
    // spending seconds of line time on a frame we would have to discard.
    uint8_t open[7] = {kFrameOpen, kLinkVersion, nonce_,
                       static_cast<uint8_t>(MaxPacket >> 8), static_cast<uint8_t>(MaxPacket & 0xFF),
                       0, 0};
    send_frame(open, 4);
    state_ = kOpening;
    uint32_t start = static_cast<uint32_t>(millis_());
    for (;;) {
      pump();
      if (state_ == kOpen) return 1;
      if (static_cast<uint32_t>(millis_()) - start >= timeout_ms) {
        state_ = kClosed;
        ++counters_.open_timeouts;
        return 0;
      }
      if (idle_) idle_();
    }
  }

  uint8_t connected() {
    pump();
    return state_ == kOpen ? 1 : 0;
  }

  int available() {
    pump();
    if (state_ != kOpen) return 0;
    return static_cast<int>(rx_len_ - rx_pos_);
  }

  int read() {
    if (available() <= 0) return -1;
    return decoder_.body()[rx_pos_++];
  }

  int read(uint8_t* buf, size_t n) {
    int avail = available();
    if (avail <= 0) return -1;
    size_t count = n < static_cast<size_t>(avail) ? n : static_cast<size_t>(avail);
    const uint8_t* body = decoder_.body();
    for (size_t i = 0; i < count; ++i) buf[i] = body[rx_pos_ + i];
    rx_pos_ += count;
    return static_cast<int>(count);
  }

  int peek() {
    if (available() <= 0) return -1;
    return decoder_.body()[rx_pos_];
  }

  // Accepts any split of the MQTT stream; returns n, or 0 if the connection is not open or
  // was just ended because the stream is not MQTT or a packet is larger than MaxPacket.
  size_t write(const uint8_t* data, size_t n) {
    if (state_ != kOpen) return 0;
    for (size_t i = 0; i < n; ++i) {
      if (!append(data[i])) return 0;
    }
    return n;
  }

  size_t write(uint8_t byte) { return write(&byte, 1); }

  void flush() { uart_.flush(); }

  void stop() {
    if (state_ != kClosed) {
      uint8_t close[3] = {kFrameClose, 0, 0};
      send_frame(close, 0);
    }
    state_ = kClosed;
    discard_buffers();
  }

  // Reads what the UART holds without consuming data: notices CLOSE from the gateway.
  void poll() { pump(); }

  // Asks the gateway for `length` bytes of the image `md5` at `offset` (UPDATE_READ).
  void send_update_read(const uint8_t md5[16], uint32_t offset, uint16_t length) {
    uint8_t frame[kUpdateReadFrameSize];
    send_frame(frame, encode_update_read(frame, md5, offset, length));
  }

  // The last UPDATE_DATA or UPDATE_ERROR frame received, once: its type and body (valid
  // until the next poll). A newer one replaces an untaken one: the reader repeats reads.
  bool take_update_frame(uint8_t* type, const uint8_t** body, size_t* len) {
    pump();
    if (!update_pending_) return false;
    update_pending_ = false;
    *type = update_type_;
    *body = update_;
    *len = update_len_;
    return true;
  }

  State state() const { return state_; }
  const LinkCounters& counters() const { return counters_; }

 private:
  bool append(uint8_t byte) {
    if (tx_len_ >= MaxPacket) return abort_oversize();
    tx_[1 + tx_len_++] = byte;
    if (tx_expect_ == 0) {
      size_t total = 0;
      if (mqtt_scan_packet(tx_ + 1, tx_len_, &total) == kPacketMalformed) {
        abort_connection();
        return false;
      }
      if (total > MaxPacket) return abort_oversize();
      tx_expect_ = total;
    }
    if (tx_expect_ != 0 && tx_len_ == tx_expect_) {
      tx_[0] = kFrameData;
      send_frame(tx_, tx_len_);
      tx_len_ = 0;
      tx_expect_ = 0;
    }
    return true;
  }

  bool abort_oversize() {
    ++counters_.oversize_packets;
    abort_connection();
    return false;
  }

  void abort_connection() {
    ++counters_.aborts;
    stop();
  }

  // Feeds UART bytes to the decoder until a DATA frame is waiting to be read: the decoder's
  // buffer holds that frame, so nothing more is decoded until the reader has consumed it.
  void pump() {
    bool got_input = false;
    while (rx_pos_ >= rx_len_ && uart_.available() > 0) {
      int c = uart_.read();
      if (c < 0) break;
      got_input = true;
      FrameDecoder::Event event = decoder_.push(static_cast<uint8_t>(c));
      if (event == FrameDecoder::kFrame) {
        ++counters_.frames_in;
        on_frame();
      } else if (event != FrameDecoder::kNone) {
        on_bad_frame();
      }
    }
    uint32_t now = static_cast<uint32_t>(millis_());
    if (got_input) {
      last_input_ms_ = now;
    } else if (rx_pos_ >= rx_len_ && decoder_.in_frame() && now - last_input_ms_ >= kFrameGapMs) {
      // Only while the UART is drained and nothing waits to be read: otherwise a slow
      // reader, not a quiet line, would be what stopped the frame.
      decoder_.reset();
      ++counters_.stalled_frames;
      on_bad_frame();
    }
  }

  void on_bad_frame() {
    ++counters_.bad_frames;
    if (state_ == kOpen) abort_connection();
  }

  void on_frame() {
    const uint8_t* body = decoder_.body();
    size_t len = decoder_.body_len();
    switch (decoder_.type()) {
      case kFrameData:
        // DATA outside a connection is left over from an earlier one: drop it.
        if (state_ == kOpen && len > 0) {
          rx_pos_ = 0;
          rx_len_ = len;
        }
        break;
      case kFrameAccept:
        if (state_ == kOpening && len >= 2 && body[1] == nonce_) {
          state_ = kOpen;
          ++counters_.opens;
        }
        break;
      case kFrameClose:
        // While opening, a CLOSE answers stale DATA sent before our OPEN: not for us.
        if (state_ == kOpen) {
          ++counters_.closes_received;
          state_ = kClosed;
          discard_buffers();
        }
        break;
      case kFrameUpdateData:
      case kFrameUpdateError:
        keep_update_frame(decoder_.type(), body, len);
        break;
      case kFrameSettings:
        if (settings_fn_ != 0) settings_fn_(body, len);
        break;
      default:
        break;  // unknown types are ignored so the gateway can add some later
    }
  }

  void keep_update_frame(uint8_t type, const uint8_t* body, size_t len) {
    if (len > sizeof(update_)) {
      if (type == kFrameUpdateData) return;  // never half a chunk: the read is repeated
      len = sizeof(update_);                   // an error's reason may be cut short
    }
    for (size_t i = 0; i < len; ++i) update_[i] = body[i];
    update_type_ = type;
    update_len_ = len;
    update_pending_ = true;
  }

  void send_frame(uint8_t* frame, size_t body_len) {
    write_frame(uart_, frame, body_len);
    ++counters_.frames_out;
  }

  void discard_buffers() {
    rx_pos_ = rx_len_ = 0;
    tx_len_ = tx_expect_ = 0;
  }

  Uart& uart_;
  MillisFn millis_;
  IdleFn idle_;
  // rx_ holds one decoded frame (type + packet + CRC), a settings text included; tx_ one
  // packet plus the same framing.
  static const size_t kRxSize =
      MaxPacket > kMaxSettingsText ? MaxPacket + 3 : kMaxSettingsText + 3;
  uint8_t rx_[kRxSize];
  uint8_t tx_[MaxPacket + 3];
  FrameDecoder decoder_;
  size_t rx_pos_ = 0;
  size_t rx_len_ = 0;
  size_t tx_len_ = 0;
  size_t tx_expect_ = 0;
  uint32_t last_input_ms_ = 0;
  State state_ = kClosed;
  uint8_t nonce_ = 0;
  SettingsFn settings_fn_ = 0;
  uint8_t update_[4 + kMaxUpdateChunk];  // offset + the largest chunk asked for
  size_t update_len_ = 0;
  uint8_t update_type_ = 0;
  bool update_pending_ = false;
  LinkCounters counters_;
};

}  // namespace gwlink

#endif

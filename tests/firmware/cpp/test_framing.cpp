// CRC, COBS, frames and MQTT packet boundaries of the portable link library.
#include <stdint.h>

#include <vector>

#include "check.h"
#include "gwlink.h"
#include "wire.h"

namespace {

Bytes encode(const Bytes& in) {
  VectorSink sink;
  gwlink::cobs_encode_to(sink, in.data(), in.size());
  return sink.out;
}

Bytes decode(const Bytes& enc, bool* ok) {
  uint8_t buf[2048];
  gwlink::CobsDecoder dec(buf, sizeof(buf));
  for (uint8_t b : enc) dec.push(b);
  *ok = dec.complete() && !dec.overflowed();
  return Bytes(buf, buf + dec.length());
}

Bytes range(int first, int last) {
  Bytes out;
  for (int i = first; i <= last; ++i) out.push_back(static_cast<uint8_t>(i));
  return out;
}

Bytes cat(Bytes a, const Bytes& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

uint32_t rng = 2463534242u;
uint32_t next_random() {
  rng ^= rng << 13;
  rng ^= rng >> 17;
  rng ^= rng << 5;
  return rng;
}

Bytes frame(uint8_t type, const Bytes& body) { return wire_frame(type, body); }

struct Seen {
  std::vector<Bytes> frames;
  std::vector<int> errors;
};

Seen feed(gwlink::FrameDecoder& dec, const Bytes& wire) {
  Seen seen;
  for (uint8_t b : wire) {
    gwlink::FrameDecoder::Event e = dec.push(b);
    if (e == gwlink::FrameDecoder::kFrame) {
      Bytes f(1, dec.type());
      f.insert(f.end(), dec.body(), dec.body() + dec.body_len());
      seen.frames.push_back(f);
    } else if (e != gwlink::FrameDecoder::kNone) {
      seen.errors.push_back(e);
    }
  }
  return seen;
}

}  // namespace

TEST(crc16_check_value) {
  const uint8_t digits[] = {'1', '2', '3', '4', '5', '6', '7', '8', '9'};
  CHECK_EQ(gwlink::crc16(digits, sizeof(digits)), 0x29B1);
  // Incremental use gives the same result as one call.
  uint16_t crc = gwlink::crc16_update(gwlink::kCrc16Init, digits, 4);
  CHECK_EQ(gwlink::crc16_update(crc, digits + 4, 5), 0x29B1);
  CHECK_EQ(gwlink::crc16(digits, 0), 0xFFFF);
}

TEST(cobs_known_vectors) {
  CHECK(encode(Bytes{0x00}) == (Bytes{0x01, 0x01}));
  CHECK(encode(Bytes{0x00, 0x00}) == (Bytes{0x01, 0x01, 0x01}));
  CHECK(encode(Bytes{0x11, 0x22, 0x00, 0x33}) == (Bytes{0x03, 0x11, 0x22, 0x02, 0x33}));
  CHECK(encode(Bytes{0x11, 0x22, 0x33, 0x44}) == (Bytes{0x05, 0x11, 0x22, 0x33, 0x44}));
  CHECK(encode(Bytes{0x11, 0x00, 0x00, 0x00}) == (Bytes{0x02, 0x11, 0x01, 0x01, 0x01}));
  CHECK(encode(range(1, 254)) == cat(Bytes{0xFF}, range(1, 254)));
  CHECK(encode(range(0, 254)) == cat(Bytes{0x01, 0xFF}, range(1, 254)));
  CHECK(encode(range(1, 255)) == cat(cat(Bytes{0xFF}, range(1, 254)), Bytes{0x02, 0xFF}));
  CHECK(encode(cat(range(2, 255), Bytes{0x00})) ==
        cat(cat(Bytes{0xFF}, range(2, 255)), Bytes{0x01, 0x01}));
  CHECK(encode(cat(range(3, 255), Bytes{0x00, 0x01})) ==
        cat(cat(Bytes{0xFE}, range(3, 255)), Bytes{0x02, 0x01}));
}

TEST(cobs_round_trip_random) {
  for (int round = 0; round < 400; ++round) {
    size_t len = next_random() % 700;
    Bytes in(len);
    // Mostly zeros in some rounds, none in others: both edge cases of the block logic.
    uint32_t zero_odds = 1 + next_random() % 300;
    for (size_t i = 0; i < len; ++i) {
      in[i] = (next_random() % zero_odds == 0) ? 0 : static_cast<uint8_t>(1 + next_random() % 255);
    }
    Bytes enc = encode(in);
    CHECK(enc.size() <= gwlink::cobs_max_encoded(len));
    for (uint8_t b : enc) CHECK(b != 0);
    bool ok = false;
    Bytes out = decode(enc, &ok);
    CHECK(ok);
    CHECK(out == in);
    uint8_t buf[1024];
    CHECK_EQ(gwlink::cobs_encode(in.data(), in.size(), buf, sizeof(buf)), enc.size());
  }
}

TEST(cobs_encode_into_small_buffer_fails) {
  Bytes in = range(1, 20);
  uint8_t buf[10];
  CHECK_EQ(gwlink::cobs_encode(in.data(), in.size(), buf, sizeof(buf)), 0);
}

TEST(cobs_decoder_flags_truncation_and_overflow) {
  uint8_t buf[4];
  gwlink::CobsDecoder dec(buf, sizeof(buf));
  dec.push(0x05);
  dec.push(0x11);
  CHECK(!dec.complete());
  dec.reset();
  for (uint8_t b : Bytes{0x07, 1, 2, 3, 4, 5, 6}) dec.push(b);
  CHECK(dec.complete());
  CHECK(dec.overflowed());
}

TEST(frame_round_trip) {
  gwlink::FrameDecoder::Event last = gwlink::FrameDecoder::kNone;
  uint8_t buf[600];
  gwlink::FrameDecoder dec(buf, sizeof(buf));
  Bytes body = {0x30, 0x00, 0x05, 'h', 'o', 'm', 'e', '/', 0x00, 0xFF};
  Bytes wire = frame(gwlink::kFrameData, body);
  CHECK_EQ(wire.front(), 0);
  CHECK_EQ(wire.back(), 0);
  CHECK(wire.size() <= body.size() + gwlink::kFrameOverhead);
  for (uint8_t b : wire) last = dec.push(b);
  CHECK_EQ(last, gwlink::FrameDecoder::kFrame);
  CHECK_EQ(dec.type(), gwlink::kFrameData);
  CHECK_EQ(dec.body_len(), body.size());
  CHECK_MEM(dec.body(), body.data(), body.size());
}

TEST(frame_resyncs_after_noise_and_half_frames) {
  uint8_t buf[600];
  gwlink::FrameDecoder dec(buf, sizeof(buf));
  Bytes good = frame(gwlink::kFrameData, Bytes{0xC0, 0x00});
  Bytes half(good.begin(), good.begin() + good.size() / 2);
  Bytes noise = {0x13, 0x88, 0x7F, 0xFE, 0x41};
  Bytes wire = cat(cat(cat(noise, good), cat(half, good)), good);
  Seen seen = feed(dec, wire);
  CHECK_EQ(seen.frames.size(), 3);
  CHECK_EQ(seen.errors.size(), 2);  // the noise, and the half frame
  for (const Bytes& f : seen.frames) CHECK(f == (Bytes{gwlink::kFrameData, 0xC0, 0x00}));
}

TEST(frame_detects_corruption) {
  uint8_t buf[600];
  Bytes good = frame(gwlink::kFrameOpen, Bytes{1, 7});
  for (size_t i = 1; i + 1 < good.size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      Bytes bad = good;
      bad[i] ^= static_cast<uint8_t>(1 << bit);
      gwlink::FrameDecoder dec(buf, sizeof(buf));
      Seen seen = feed(dec, bad);
      // A flipped bit either creates a delimiter (two bad segments) or fails COBS/CRC:
      // never a frame that was not sent.
      CHECK_EQ(seen.frames.size(), 0);
      CHECK(!seen.errors.empty());
    }
  }
}

TEST(frame_too_long_is_dropped_whole) {
  uint8_t buf[16];
  gwlink::FrameDecoder dec(buf, sizeof(buf));
  Bytes big = frame(gwlink::kFrameData, Bytes(64, 0x55));
  Bytes small = frame(gwlink::kFrameClose, Bytes());
  Seen seen = feed(dec, cat(big, small));
  CHECK_EQ(seen.errors.size(), 1);
  CHECK_EQ(seen.errors[0], gwlink::FrameDecoder::kTooLong);
  CHECK_EQ(seen.frames.size(), 1);
  CHECK(seen.frames[0] == Bytes{gwlink::kFrameClose});
}

TEST(frame_short_and_empty_segments) {
  uint8_t buf[16];
  gwlink::FrameDecoder dec(buf, sizeof(buf));
  Seen seen = feed(dec, Bytes{0, 0, 0, 0x02, 0x01, 0});
  CHECK_EQ(seen.frames.size(), 0);
  CHECK_EQ(seen.errors.size(), 1);
  CHECK_EQ(seen.errors[0], gwlink::FrameDecoder::kTooShort);
}

TEST(frame_decoder_survives_random_noise) {
  uint8_t buf[64];
  gwlink::FrameDecoder dec(buf, sizeof(buf));
  size_t events = 0;
  for (int i = 0; i < 200000; ++i) {
    if (dec.push(static_cast<uint8_t>(next_random())) != gwlink::FrameDecoder::kNone) ++events;
  }
  CHECK(events > 0);
  Seen seen = feed(dec, frame(gwlink::kFrameData, Bytes{0xD0, 0x00}));
  CHECK_EQ(seen.frames.size(), 1);
}

TEST(mqtt_scan_packet_boundaries) {
  size_t total = 99;
  const uint8_t ping[] = {0xC0, 0x00, 0xAA};
  CHECK_EQ(gwlink::mqtt_scan_packet(ping, 1, &total), gwlink::kPacketIncomplete);
  CHECK_EQ(total, 0);
  CHECK_EQ(gwlink::mqtt_scan_packet(ping, 3, &total), gwlink::kPacketComplete);
  CHECK_EQ(total, 2);
  const uint8_t two_byte_len[] = {0x30, 0xC1, 0x02};  // 321 bytes of body
  CHECK_EQ(gwlink::mqtt_scan_packet(two_byte_len, 2, &total), gwlink::kPacketIncomplete);
  CHECK_EQ(total, 0);
  CHECK_EQ(gwlink::mqtt_scan_packet(two_byte_len, 3, &total), gwlink::kPacketIncomplete);
  CHECK_EQ(total, 324);
  const uint8_t max_len[] = {0x30, 0xFF, 0xFF, 0xFF, 0x7F};
  CHECK_EQ(gwlink::mqtt_scan_packet(max_len, 5, &total), gwlink::kPacketIncomplete);
  CHECK_EQ(total, 1 + 4 + 268435455);
  const uint8_t too_long[] = {0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01};
  CHECK_EQ(gwlink::mqtt_scan_packet(too_long, 6, &total), gwlink::kPacketMalformed);
}

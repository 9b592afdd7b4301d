// FramedLink and FramedClient against an in-memory UART and a scripted gateway end.
#include <stdint.h>

#include <deque>
#include <vector>

#include "arduino_client.h"
#include "check.h"
#include "gwlink.h"
#include "wire.h"

namespace {

// The node's UART: bytes the node writes go to `sent`, bytes in `incoming` can be read.
struct FakeUart {
  Bytes sent;
  std::deque<uint8_t> incoming;
  int flushes = 0;
  int available() { return static_cast<int>(incoming.size()); }
  int read() {
    if (incoming.empty()) return -1;
    uint8_t b = incoming.front();
    incoming.pop_front();
    return b;
  }
  size_t write(const uint8_t* data, size_t n) {
    sent.insert(sent.end(), data, data + n);
    return n;
  }
  void flush() { ++flushes; }
};

struct Frame {
  uint8_t type;
  Bytes body;
};

// The gateway side of the wire: decodes what the node sent, answers with frames.
struct FakeGateway {
  FakeUart* uart = nullptr;
  uint8_t buf[2048];
  gwlink::FrameDecoder decoder{buf, sizeof(buf)};
  size_t consumed = 0;
  std::vector<Frame> frames;
  int bad = 0;
  bool accept_opens = true;
  int accept_nonce_offset = 0;

  void send(uint8_t type, const Bytes& body) { send_raw(wire_frame(type, body)); }

  void send_raw(const Bytes& raw) { uart->incoming.insert(uart->incoming.end(), raw.begin(), raw.end()); }

  // Reads everything the node sent since the last call.
  void step() {
    for (; consumed < uart->sent.size(); ++consumed) {
      gwlink::FrameDecoder::Event e = decoder.push(uart->sent[consumed]);
      if (e == gwlink::FrameDecoder::kFrame) {
        Frame f = {decoder.type(), Bytes(decoder.body(), decoder.body() + decoder.body_len())};
        frames.push_back(f);
        if (f.type == gwlink::kFrameOpen && accept_opens && f.body.size() >= 2) {
          uint8_t nonce = static_cast<uint8_t>(f.body[1] + accept_nonce_offset);
          send(gwlink::kFrameAccept, Bytes{gwlink::kLinkVersion, nonce});
        }
      } else if (e != gwlink::FrameDecoder::kNone) {
        ++bad;
      }
    }
  }

  size_t count(uint8_t type) const {
    size_t n = 0;
    for (const Frame& f : frames) n += f.type == type;
    return n;
  }
};

// connect() waits in a loop calling millis() and idle(); the fake clock advances there and
// the fake gateway answers there, as the real one would while the node waits.
unsigned long fake_now = 0;
FakeGateway* active_gateway = nullptr;
unsigned long fake_millis() { return fake_now; }
void fake_idle() {
  fake_now += 1;
  if (active_gateway) active_gateway->step();
}

typedef gwlink::FramedLink<FakeUart, 256> Link;
typedef gwlink::FramedClient<Client, IPAddress, FakeUart, 256> LinkClient;

struct Rig {
  FakeUart uart;
  FakeGateway gateway;
  Link link{uart, fake_millis, fake_idle};
  LinkClient client{link, 500};
  Rig() {
    gateway.uart = &uart;
    active_gateway = &gateway;
  }
  ~Rig() { active_gateway = nullptr; }
  bool open() { return client.connect("gateway", 1883) == 1; }
};

const Bytes kConnect = {0x10, 0x10, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0x02, 0x00, 0x0F,
                        0x00, 0x04, 'n', 'o', 'd', 'e'};
const Bytes kPingreq = {0xC0, 0x00};
const Bytes kConnack = {0x20, 0x02, 0x00, 0x00};

}  // namespace

TEST(connect_waits_for_accept) {
  Rig rig;
  CHECK(rig.open());
  CHECK(rig.client.connected());
  CHECK(static_cast<bool>(rig.client));
  CHECK_EQ(rig.gateway.count(gwlink::kFrameOpen), 1);
  const Bytes& open = rig.gateway.frames[0].body;
  CHECK_EQ(open.size(), 4);
  CHECK_EQ(open[0], gwlink::kLinkVersion);
  CHECK_EQ((open[2] << 8) | open[3], 256);  // the receive limit the gateway must respect
  CHECK_EQ(rig.link.counters().opens, 1);
}

TEST(connect_times_out_without_gateway) {
  Rig rig;
  rig.gateway.accept_opens = false;
  unsigned long start = fake_now;
  CHECK(!rig.open());
  CHECK(fake_now - start >= 500);
  CHECK(fake_now - start < 600);
  CHECK(!rig.client.connected());
  CHECK_EQ(rig.link.counters().open_timeouts, 1);
}

TEST(accept_for_another_nonce_is_ignored) {
  Rig rig;
  rig.gateway.accept_nonce_offset = 1;
  CHECK(!rig.open());
  rig.gateway.accept_nonce_offset = 0;
  CHECK(rig.open());
}

TEST(write_frames_whole_packets_whatever_the_split) {
  Rig rig;
  CHECK(rig.open());
  Client& c = rig.client;  // PubSubClient only sees the Client interface
  CHECK_EQ(c.write(kConnect.data(), 3), 3);
  CHECK_EQ(c.write(kConnect.data() + 3, 9), 9);
  for (size_t i = 12; i < kConnect.size(); ++i) CHECK_EQ(c.write(kConnect[i]), 1);
  Bytes two = kPingreq;
  two.insert(two.end(), kPingreq.begin(), kPingreq.end());
  CHECK_EQ(c.write(two.data(), two.size()), two.size());
  rig.gateway.step();
  CHECK_EQ(rig.gateway.count(gwlink::kFrameData), 3);
  CHECK(rig.gateway.frames[1].body == kConnect);
  CHECK(rig.gateway.frames[2].body == kPingreq);
  CHECK(rig.gateway.frames[3].body == kPingreq);
}

TEST(read_semantics) {
  Rig rig;
  CHECK(rig.open());
  Client& c = rig.client;
  CHECK_EQ(c.available(), 0);
  CHECK_EQ(c.read(), -1);
  CHECK_EQ(c.peek(), -1);
  rig.gateway.send(gwlink::kFrameData, kConnack);
  rig.gateway.send(gwlink::kFrameData, Bytes{0xD0, 0x00});
  CHECK_EQ(c.available(), 4);
  CHECK_EQ(c.peek(), 0x20);
  CHECK_EQ(c.read(), 0x20);
  uint8_t buf[8] = {0};
  CHECK_EQ(c.read(buf, 2), 2);
  CHECK_EQ(buf[0], 0x02);
  CHECK_EQ(buf[1], 0x00);
  CHECK_EQ(c.read(buf, sizeof(buf)), 1);
  // The next frame is decoded only once the previous one is consumed.
  CHECK_EQ(c.available(), 2);
  CHECK_EQ(c.read(buf, sizeof(buf)), 2);
  CHECK_EQ(buf[0], 0xD0);
  CHECK_EQ(c.available(), 0);
  CHECK_EQ(c.read(buf, sizeof(buf)), -1);
  c.flush();
  CHECK_EQ(rig.uart.flushes, 1);
}

TEST(close_from_gateway_ends_connection) {
  Rig rig;
  CHECK(rig.open());
  rig.gateway.send(gwlink::kFrameClose, Bytes());
  CHECK(!rig.client.connected());
  CHECK_EQ(rig.client.write(kPingreq.data(), kPingreq.size()), 0);
  CHECK_EQ(rig.link.counters().closes_received, 1);
  // and a new connection can follow
  CHECK(rig.open());
}

TEST(noise_while_connected_ends_connection_both_sides) {
  Rig rig;
  CHECK(rig.open());
  rig.gateway.send_raw(Bytes{0x00, 0x37, 0x91, 0x00});
  CHECK(!rig.client.connected());
  rig.gateway.step();
  CHECK_EQ(rig.gateway.count(gwlink::kFrameClose), 1);
  CHECK_EQ(rig.link.counters().bad_frames, 1);
  CHECK_EQ(rig.link.counters().aborts, 1);
}

TEST(noise_and_stale_frames_while_closed_are_harmless) {
  Rig rig;
  rig.gateway.send_raw(Bytes{0x00, 0x37, 0x91, 0x00});
  rig.gateway.send(gwlink::kFrameData, kConnack);
  rig.gateway.send(gwlink::kFrameClose, Bytes());
  CHECK(!rig.client.connected());
  CHECK_EQ(rig.client.available(), 0);
  CHECK(rig.open());
  CHECK_EQ(rig.client.available(), 0);  // the stale CONNACK is not delivered
  CHECK(rig.client.connected());
}

TEST(data_before_close_is_read_first) {
  Rig rig;
  CHECK(rig.open());
  rig.gateway.send(gwlink::kFrameData, kConnack);
  rig.gateway.send(gwlink::kFrameClose, Bytes());
  CHECK_EQ(rig.client.available(), 4);
  uint8_t buf[4];
  CHECK_EQ(rig.client.read(buf, 4), 4);
  CHECK(!rig.client.connected());
}

TEST(malformed_outgoing_stream_aborts) {
  Rig rig;
  CHECK(rig.open());
  const uint8_t bad[] = {0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01};
  CHECK_EQ(rig.client.write(bad, sizeof(bad)), 0);
  CHECK(!rig.client.connected());
  rig.gateway.step();
  CHECK_EQ(rig.gateway.count(gwlink::kFrameClose), 1);
  CHECK_EQ(rig.gateway.count(gwlink::kFrameData), 0);
}

TEST(oversize_packet_aborts) {
  Rig rig;
  CHECK(rig.open());
  const uint8_t header[] = {0x30, 0x90, 0x02};  // 272 bytes of body: more than 256
  CHECK_EQ(rig.client.write(header, sizeof(header)), 0);
  CHECK_EQ(rig.link.counters().oversize_packets, 1);
  CHECK(!rig.client.connected());
}

TEST(largest_packet_fits) {
  Rig rig;
  CHECK(rig.open());
  Bytes packet = {0x30, 0xFD, 0x01};  // 253 bytes of body: 256 in all
  packet.resize(256, 0x00);
  CHECK_EQ(rig.client.write(packet.data(), packet.size()), packet.size());
  rig.gateway.step();
  CHECK(rig.gateway.frames.back().body == packet);
}

TEST(stop_sends_close) {
  Rig rig;
  CHECK(rig.open());
  rig.client.stop();
  CHECK(!rig.client.connected());
  rig.client.stop();  // idempotent: one CLOSE only
  rig.gateway.step();
  CHECK_EQ(rig.gateway.count(gwlink::kFrameClose), 1);
}

TEST(reconnect_restarts_with_new_nonce) {
  Rig rig;
  CHECK(rig.open());
  CHECK(rig.open());  // connect while open: closes the old connection first
  rig.gateway.step();
  CHECK_EQ(rig.gateway.count(gwlink::kFrameOpen), 2);
  CHECK_EQ(rig.gateway.count(gwlink::kFrameClose), 1);
  CHECK(rig.gateway.frames[0].body[1] != rig.gateway.frames[2].body[1]);
}

TEST(noise_on_an_idle_line_ends_connection_after_a_gap) {
  Rig rig;
  CHECK(rig.open());
  rig.gateway.send_raw(Bytes{0x00, 0x37, 0x91});  // noise, then silence
  CHECK(rig.client.connected());                 // more of a frame could still come
  fake_now += 100;
  rig.gateway.send_raw(Bytes{0x44});             // still arriving: the gap starts again
  CHECK(rig.client.connected());
  fake_now += 200;
  CHECK(rig.client.connected());
  fake_now += 60;
  CHECK(!rig.client.connected());
  CHECK_EQ(rig.link.counters().stalled_frames, 1);
  rig.gateway.step();
  CHECK_EQ(rig.gateway.count(gwlink::kFrameClose), 1);
  CHECK(rig.open());  // the next frames decode normally
}

TEST(unread_data_is_not_a_stalled_frame) {
  Rig rig;
  CHECK(rig.open());
  rig.gateway.send(gwlink::kFrameData, kConnack);
  rig.gateway.send(gwlink::kFrameData, Bytes{0xD0, 0x00});
  CHECK_EQ(rig.client.available(), 4);  // the second frame waits in the UART meanwhile
  fake_now += 1000;
  CHECK(rig.client.connected());
  uint8_t buf[8];
  CHECK_EQ(rig.client.read(buf, sizeof(buf)), 4);
  CHECK_EQ(rig.client.read(buf, sizeof(buf)), 2);
  CHECK_EQ(rig.link.counters().stalled_frames, 0);
}

// Firmware image frames travel beside the MQTT stream and never reach PubSubClient.
TEST(update_frames_pass_beside_the_mqtt_stream) {
  Rig rig;
  CHECK(rig.open());
  const uint8_t md5[16] = {0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
  rig.link.send_update_read(md5, 0x01020304, 200);
  rig.gateway.step();
  CHECK_EQ(rig.gateway.count(gwlink::kFrameUpdateRead), 1);
  const Bytes& read = rig.gateway.frames.back().body;
  CHECK_EQ(read.size(), 22);
  CHECK_MEM(read.data(), md5, 16);
  CHECK_EQ(read[16], 1);
  CHECK_EQ(read[19], 4);
  CHECK_EQ((read[20] << 8) | read[21], 200);

  rig.gateway.send(gwlink::kFrameData, kConnack);
  rig.gateway.send(gwlink::kFrameUpdateData, Bytes{0, 0, 0, 0, 0xE9, 0x01});
  uint8_t type = 0;
  const uint8_t* body = nullptr;
  size_t len = 0;
  // The MQTT bytes come first and whole; the image frame waits behind them.
  CHECK_EQ(rig.client.available(), 4);
  uint8_t got[4];
  CHECK_EQ(rig.client.read(got, 4), 4);
  CHECK_MEM(got, kConnack.data(), 4);
  CHECK(rig.link.take_update_frame(&type, &body, &len));
  CHECK_EQ(type, gwlink::kFrameUpdateData);
  CHECK_EQ(len, 6);
  CHECK_EQ(body[4], 0xE9);
  CHECK(!rig.link.take_update_frame(&type, &body, &len));  // taken once
  CHECK_EQ(rig.client.available(), 0);
  CHECK(rig.client.connected());

  // Also while no MQTT connection is open (the image outlives a reconnect).
  rig.client.stop();
  rig.gateway.send(gwlink::kFrameUpdateError, Bytes{0, 0, 0, 9, 'n', 'o'});
  CHECK(rig.link.take_update_frame(&type, &body, &len));
  CHECK_EQ(type, gwlink::kFrameUpdateError);
  CHECK_EQ(len, 6);
}

TEST(update_data_larger_than_the_chunk_buffer_is_dropped) {
  FakeUart uart;
  FakeGateway gateway;
  gateway.uart = &uart;
  gwlink::FramedLink<FakeUart, 512> link(uart, fake_millis, fake_idle);
  gateway.send(gwlink::kFrameUpdateData, Bytes(4 + gwlink::kMaxUpdateChunk + 1, 0xAA));
  uint8_t type = 0;
  const uint8_t* body = nullptr;
  size_t len = 0;
  CHECK(!link.take_update_frame(&type, &body, &len));
  gateway.send(gwlink::kFrameUpdateData, Bytes(4 + gwlink::kMaxUpdateChunk, 0xAA));
  CHECK(link.take_update_frame(&type, &body, &len));
  CHECK_EQ(len, 4 + gwlink::kMaxUpdateChunk);
}

#include "mqtt_session.h"

#include <string.h>

namespace {

// Appends a length-prefixed UTF-8 string; returns the new length.
size_t put_string(uint8_t* buf, size_t pos, const char* s) {
  size_t n = strlen(s);
  buf[pos++] = static_cast<uint8_t>(n >> 8);
  buf[pos++] = static_cast<uint8_t>(n & 0xFF);
  memcpy(buf + pos, s, n);
  return pos + n;
}

// Writes the fixed header in front of a body built at buf + 5; returns where it starts.
size_t put_header(uint8_t* buf, uint8_t type, size_t body_len, size_t* total) {
  uint8_t len_bytes[4];
  size_t n = 0;
  do {
    uint8_t b = static_cast<uint8_t>(body_len % 128);
    body_len /= 128;
    if (body_len > 0) b |= 0x80;
    len_bytes[n++] = b;
  } while (body_len > 0);
  size_t start = 5 - 1 - n;
  buf[start] = type;
  memcpy(buf + start + 1, len_bytes, n);
  *total = 1 + n;
  return start;
}

}  // namespace

MqttSession::MqttSession(Client& client, MillisFn millis, uint16_t keepalive_s,
                         uint32_t socket_timeout_ms)
    : client_(client), millis_(millis), keepalive_s_(keepalive_s),
      socket_timeout_ms_(socket_timeout_ms) {}

bool MqttSession::send(const uint8_t* data, size_t len) {
  if (client_.write(data, len) != len) {
    connected_ = false;
    return false;
  }
  last_out_ = static_cast<uint32_t>(millis_());
  return true;
}

bool MqttSession::connect(const char* client_id, const char* will_topic,
                          const char* will_message) {
  last_connack_ = -1;
  connected_ = false;
  if (!client_.connect("gateway", 0)) return false;
  uint8_t buf[300];
  if (strlen(client_id) + strlen(will_topic) + strlen(will_message) + 6 + 10 > sizeof(buf) - 5) {
    return false;
  }
  size_t pos = 5;
  pos = put_string(buf, pos, "MQTT");
  buf[pos++] = 4;                          // protocol level 3.1.1
  buf[pos++] = 0x02 | 0x04 | 0x20;         // clean session, will flag, will retain
  buf[pos++] = static_cast<uint8_t>(keepalive_s_ >> 8);
  buf[pos++] = static_cast<uint8_t>(keepalive_s_ & 0xFF);
  pos = put_string(buf, pos, client_id);
  pos = put_string(buf, pos, will_topic);
  pos = put_string(buf, pos, will_message);
  size_t header_len = 0;
  size_t start = put_header(buf, 0x10, pos - 5, &header_len);
  if (!send(buf + start, pos - start)) return false;
  uint8_t type = 0;
  if (!read_packet(&type, socket_timeout_ms_) || (type & 0xF0) != 0x20 || packet_len_ < 2) {
    client_.stop();
    return false;
  }
  last_connack_ = packet_[1];
  connected_ = last_connack_ == 0;
  if (!connected_) client_.stop();
  last_in_ = static_cast<uint32_t>(millis_());
  ping_outstanding_ = false;
  return connected_;
}

bool MqttSession::publish(const char* topic, const char* payload, bool retain, bool split) {
  if (!connected()) return false;
  uint8_t buf[300];
  size_t payload_len = strlen(payload);
  if (strlen(topic) + 2 + payload_len > sizeof(buf) - 5) return false;
  size_t pos = put_string(buf, 5, topic);
  if (!split) {
    memcpy(buf + pos, payload, payload_len);
    pos += payload_len;
  }
  size_t body = pos - 5 + (split ? payload_len : 0);
  size_t header_len = 0;
  size_t start = put_header(buf, static_cast<uint8_t>(0x30 | (retain ? 1 : 0)), body,
                            &header_len);
  if (!send(buf + start, pos - start)) return false;
  if (split) {
    for (size_t i = 0; i < payload_len; ++i) {
      if (client_.write(static_cast<uint8_t>(payload[i])) != 1) {
        connected_ = false;
        return false;
      }
    }
  }
  return true;
}

bool MqttSession::read_byte(uint8_t* out, uint32_t deadline) {
  while (client_.available() <= 0) {
    if (!client_.connected()) return false;
    if (static_cast<int32_t>(static_cast<uint32_t>(millis_()) - deadline) >= 0) return false;
  }
  int c = client_.read();
  if (c < 0) return false;
  *out = static_cast<uint8_t>(c);
  return true;
}

bool MqttSession::read_packet(uint8_t* type, uint32_t timeout_ms) {
  uint32_t deadline = static_cast<uint32_t>(millis_()) + timeout_ms;
  if (!read_byte(type, deadline)) return false;
  size_t remaining = 0;
  size_t multiplier = 1;
  for (int i = 0; i < 4; ++i) {
    uint8_t b = 0;
    if (!read_byte(&b, deadline)) return false;
    remaining += (b & 0x7F) * multiplier;
    multiplier *= 128;
    if ((b & 0x80) == 0) break;
  }
  packet_len_ = 0;
  for (size_t i = 0; i < remaining; ++i) {
    uint8_t b = 0;
    if (!read_byte(&b, deadline)) return false;
    // Like PubSubClient, a packet larger than the buffer is read and dropped.
    if (packet_len_ < sizeof(packet_)) packet_[packet_len_++] = b;
  }
  return true;
}

bool MqttSession::connected() {
  if (connected_ && !client_.connected()) {
    connected_ = false;
    client_.stop();
  }
  return connected_;
}

bool MqttSession::loop() {
  if (!connected()) return false;
  uint32_t now = static_cast<uint32_t>(millis_());
  uint32_t keepalive_ms = static_cast<uint32_t>(keepalive_s_) * 1000;
  if (now - last_out_ >= keepalive_ms || now - last_in_ >= keepalive_ms) {
    if (ping_outstanding_) {
      // No PINGRESP within a keepalive period: the gateway is gone.
      connected_ = false;
      client_.stop();
      return false;
    }
    static const uint8_t ping[2] = {0xC0, 0x00};
    if (!send(ping, sizeof(ping))) return false;
    last_in_ = now;
    ping_outstanding_ = true;
  }
  if (client_.available() > 0) {
    uint8_t type = 0;
    if (!read_packet(&type, socket_timeout_ms_)) {
      connected_ = false;
      client_.stop();
      return false;
    }
    last_in_ = static_cast<uint32_t>(millis_());
    if ((type & 0xF0) == 0xD0) ping_outstanding_ = false;
  }
  return connected();
}

void MqttSession::disconnect() {
  static const uint8_t disconnect_packet[2] = {0xE0, 0x00};
  if (connected_) client_.write(disconnect_packet, sizeof(disconnect_packet));
  connected_ = false;
  client_.stop();
}

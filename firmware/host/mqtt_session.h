// A small MQTT 3.1.1 client for host builds that drives a Client the way PubSubClient does:
// CONNECT with a last will in one write(), CONNACK awaited with a timeout, QoS 0 PUBLISH,
// PINGREQ on keepalive, and "connection lost" when the Client reports it. The end-to-end
// tests use it to exercise the node's link code without the Arduino core.
#ifndef HOST_MQTT_SESSION_H
#define HOST_MQTT_SESSION_H

#include <stddef.h>
#include <stdint.h>

#include "arduino_client.h"

class MqttSession {
 public:
  typedef unsigned long (*MillisFn)();

  MqttSession(Client& client, MillisFn millis, uint16_t keepalive_s = 15,
              uint32_t socket_timeout_ms = 5000);

  // Returns true once CONNACK accepted the connection. The will is published retained.
  bool connect(const char* client_id, const char* will_topic, const char* will_message);
  // split=true writes the fixed header and topic first, then the payload byte by byte,
  // as PubSubClient's publish_P() does.
  bool publish(const char* topic, const char* payload, bool retain, bool split = false);
  // Services keepalive and reads incoming packets; false once the connection is gone.
  bool loop();
  void disconnect();
  bool connected();
  // CONNACK return code of the last connect(), or -1 if none arrived.
  int last_connack() const { return last_connack_; }

 private:
  bool read_packet(uint8_t* type, uint32_t timeout_ms);
  bool read_byte(uint8_t* out, uint32_t deadline);
  bool send(const uint8_t* data, size_t len);

  Client& client_;
  MillisFn millis_;
  uint16_t keepalive_s_;
  uint32_t socket_timeout_ms_;
  bool connected_ = false;
  int last_connack_ = -1;
  uint32_t last_out_ = 0;
  uint32_t last_in_ = 0;
  bool ping_outstanding_ = false;
  uint8_t packet_[512];
  size_t packet_len_ = 0;
};

#endif

// PubSubClient 2.8 declarations used by firmware/node (see Arduino.h in this directory).
#ifndef STUB_PUBSUBCLIENT_H
#define STUB_PUBSUBCLIENT_H

#include "Arduino.h"

typedef bool boolean;

class PubSubClient {
 public:
  explicit PubSubClient(Client& client);
  PubSubClient& setServer(IPAddress ip, uint16_t port);
  PubSubClient& setServer(const char* domain, uint16_t port);
  PubSubClient& setKeepAlive(uint16_t keepAlive);
  PubSubClient& setSocketTimeout(uint16_t timeout);
  boolean setBufferSize(uint16_t size);
  boolean connect(const char* id, const char* user, const char* pass, const char* willTopic,
                  uint8_t willQos, boolean willRetain, const char* willMessage);
  void disconnect();
  boolean publish(const char* topic, const char* payload, boolean retained);
  boolean loop();
  boolean connected();
  int state();
};

#endif

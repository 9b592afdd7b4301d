// ESP8266mDNS declarations used by firmware/node (see Arduino.h in this directory).
#ifndef STUB_ESP8266MDNS_H
#define STUB_ESP8266MDNS_H

#include "Arduino.h"

class MDNSResponder {
 public:
  bool begin(const char* hostname);
  void update();
  int queryService(const char* service, const char* proto);
  const char* hostname(int index);  // LEAmDNS; the legacy responder returns String
  IPAddress IP(int index);
  uint16_t port(int index);
};

extern MDNSResponder MDNS;

#endif

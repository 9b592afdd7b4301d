// Finds the gateway's MQTT address on WiFi: an IPv4 literal as is, "<name>.local" through
// mDNS service discovery (_mqtt._tcp, preferring the instance on that host), other names
// through DNS. The answer is cached until forget() (after repeated connect failures).
#ifndef NODE_GATEWAY_FINDER_H
#define NODE_GATEWAY_FINDER_H

#include <Arduino.h>
#include <ESP8266WiFi.h>
#include <ESP8266mDNS.h>

class GatewayFinder {
 public:
  GatewayFinder(const char* host, uint16_t port, const char* own_name)
      : host_(host), port_(port), own_name_(own_name) {}

  // Call while WiFi is connected. May block for the mDNS query (about a second) when the
  // address is not cached; never called more often than the sketch's reconnect backoff.
  bool resolve(IPAddress* ip, uint16_t* port) {
    if (cached_) {
      *ip = ip_;
      *port = cached_port_;
      return true;
    }
    IPAddress found;
    uint16_t found_port = port_;
    if (found.fromString(host_)) {
      cached_ = true;
    } else if (is_local(host_)) {
      cached_ = query_mdns(&found, &found_port);
    } else {
      cached_ = WiFi.hostByName(host_, found) == 1;
    }
    if (!cached_) return false;
    ip_ = found;
    cached_port_ = found_port;
    *ip = ip_;
    *port = cached_port_;
    return true;
  }

  void forget() { cached_ = false; }

  // Keeps the mDNS responder running; call from loop().
  void update() {
    if (mdns_started_) MDNS.update();
  }

 private:
  static bool is_local(const char* host) {
    size_t n = strlen(host);
    return n > 6 && strcmp(host + n - 6, ".local") == 0;
  }

  bool query_mdns(IPAddress* ip, uint16_t* port) {
    if (!mdns_started_) mdns_started_ = MDNS.begin(own_name_);
    if (!mdns_started_) return false;
    int n = MDNS.queryService("mqtt", "tcp");
    if (n <= 0) return false;
    // "gateway.local" -> "gateway": the instance on that host wins over other brokers.
    String wanted(host_);
    wanted.remove(wanted.length() - 6);
    int pick = 0;
    for (int i = 0; i < n; ++i) {
      String name = MDNS.hostname(i);
      if (name == wanted || name == String(host_)) {
        pick = i;
        break;
      }
    }
    *ip = MDNS.IP(pick);
    *port = MDNS.port(pick);
    return true;
  }

  const char* host_;
  uint16_t port_;
  const char* own_name_;
  bool cached_ = false;
  bool mdns_started_ = false;
  IPAddress ip_;
  uint16_t cached_port_ = 0;
};

#endif

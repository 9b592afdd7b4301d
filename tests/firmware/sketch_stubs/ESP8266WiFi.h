// ESP8266WiFi declarations used by firmware/node (see Arduino.h in this directory).
#ifndef STUB_ESP8266WIFI_H
#define STUB_ESP8266WIFI_H

#include "Arduino.h"

enum wl_status_t { WL_IDLE_STATUS = 0, WL_CONNECTED = 3 };
enum WiFiMode_t { WIFI_OFF = 0, WIFI_STA = 1 };

class ESP8266WiFiClass {
 public:
  wl_status_t status();
  void persistent(bool persistent);
  bool mode(WiFiMode_t mode);
  bool hostname(const char* name);
  bool setAutoReconnect(bool autoReconnect);
  wl_status_t begin(const char* ssid, const char* passphrase = nullptr);
  int hostByName(const char* host, IPAddress& result);
};

extern ESP8266WiFiClass WiFi;

class WiFiClient : public Client {
 public:
  int connect(IPAddress ip, uint16_t port) override;
  int connect(const char* host, uint16_t port) override;
  size_t write(uint8_t) override;
  size_t write(const uint8_t* buf, size_t size) override;
  int available() override;
  int read() override;
  int read(uint8_t* buf, size_t size) override;
  int peek() override;
  void flush() override;
  void stop() override;
  uint8_t connected() override;
  operator bool() override;
};

#endif

// The part of the Arduino core's API that FramedClient uses, for gwlink's unit tests (and
// its xtensa size probe), which build without the core: Print, Stream, IPAddress and
// Client with the ESP8266 core's virtual functions. The whole sketch is built and run
// against the real core and PubSubClient in tests/firmware/test_node_*.py.
#ifndef HOST_ARDUINO_CLIENT_H
#define HOST_ARDUINO_CLIENT_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

class Print {
 public:
  virtual ~Print() {}
  virtual size_t write(uint8_t) = 0;
  virtual size_t write(const uint8_t* buf, size_t size) = 0;
  size_t write(const char* str) {
    return str == 0 ? 0 : write(reinterpret_cast<const uint8_t*>(str), strlen(str));
  }
  virtual void flush() {}
  // The ESP8266 core's Print::printf, which the sketch's debug log uses.
  __attribute__((format(printf, 2, 3))) size_t printf(const char* format, ...) {
    char buf[256];
    va_list args;
    va_start(args, format);
    int n = vsnprintf(buf, sizeof(buf), format, args);
    va_end(args);
    if (n <= 0) return 0;
    size_t len = static_cast<size_t>(n) < sizeof(buf) ? static_cast<size_t>(n) : sizeof(buf) - 1;
    return write(reinterpret_cast<const uint8_t*>(buf), len);
  }
};

class Stream : public Print {
 public:
  virtual int available() = 0;
  virtual int read() = 0;
  virtual int peek() = 0;
};

class IPAddress {
 public:
  IPAddress() : bytes_{0, 0, 0, 0} {}
  IPAddress(uint8_t a, uint8_t b, uint8_t c, uint8_t d) : bytes_{a, b, c, d} {}
  uint8_t operator[](int i) const { return bytes_[i]; }
  bool fromString(const char* text) {
    unsigned a, b, c, d;
    char tail;
    if (sscanf(text, "%u.%u.%u.%u%c", &a, &b, &c, &d, &tail) != 4) return false;
    if (a > 255 || b > 255 || c > 255 || d > 255) return false;
    bytes_[0] = static_cast<uint8_t>(a);
    bytes_[1] = static_cast<uint8_t>(b);
    bytes_[2] = static_cast<uint8_t>(c);
    bytes_[3] = static_cast<uint8_t>(d);
    return true;
  }

 private:
  uint8_t bytes_[4];
};

class Client : public Stream {
 public:
  virtual int connect(IPAddress ip, uint16_t port) = 0;
  virtual int connect(const char* host, uint16_t port) = 0;
  virtual size_t write(uint8_t) = 0;
  virtual size_t write(const uint8_t* buf, size_t size) = 0;
  virtual int available() = 0;
  virtual int read() = 0;
  virtual int read(uint8_t* buf, size_t size) = 0;
  virtual int peek() = 0;
  virtual void flush() = 0;
  virtual void stop() = 0;
  virtual uint8_t connected() = 0;
  virtual operator bool() = 0;
  using Print::write;
};

#endif

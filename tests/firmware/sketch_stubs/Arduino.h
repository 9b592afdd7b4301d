// Declarations of the ESP8266 Arduino core API that firmware/node uses, with the core's
// signatures, so the test suite can at least type-check the sketch (g++ -fsyntax-only):
// the full sketch is built by PlatformIO or arduino-cli, which CI cannot reach.
#ifndef STUB_ARDUINO_H
#define STUB_ARDUINO_H

#include "../../../firmware/host/arduino_client.h"

#define HIGH 0x1
#define LOW 0x0
#define INPUT_PULLUP 0x02

unsigned long millis(void);
void delay(unsigned long ms);
extern "C" void yield(void);
void pinMode(uint8_t pin, uint8_t mode);
int digitalRead(uint8_t pin);

class String {
 public:
  String(const char* text);
  unsigned int length() const;
  void remove(unsigned int index);
  bool operator==(const String& other) const;
};

class HardwareSerial : public Stream {
 public:
  void begin(unsigned long baud);
  size_t setRxBufferSize(size_t size);
  int available() override;
  int read() override;
  int peek() override;
  size_t write(uint8_t byte) override;
  size_t write(const uint8_t* buf, size_t size) override;
  void flush() override;
  using Print::write;
};

extern HardwareSerial Serial;
extern HardwareSerial Serial1;

class EspClass {
 public:
  uint32_t getChipId();
  void deepSleep(uint64_t time_us);
};

extern EspClass ESP;

#endif

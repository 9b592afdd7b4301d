// The node's sensors: a DHT22 read on a timer and a debounced door contact.
#ifndef NODE_SENSORS_H
#define NODE_SENSORS_H

#include <Arduino.h>
#include <DHT.h>
#include <gwlink.h>

// A DHT22 read at most every interval_ms; readings pass gwlink::check_dht22 or are dropped.
class ClimateSensor {
 public:
  ClimateSensor(int pin, uint8_t model, uint32_t interval_ms)
      : dht_(pin < 0 ? 0 : pin, model), enabled_(pin >= 0), interval_ms_(interval_ms) {}

  void begin() {
    if (enabled_) dht_.begin();
  }

  bool enabled() const { return enabled_; }

  // True when a new plausible reading is in *celsius and *humidity.
  bool poll(uint32_t now, bool force, float* celsius, float* humidity) {
    if (!enabled_) return false;
    if (!force && have_read_ && now - last_read_ms_ < interval_ms_) return false;
    have_read_ = true;
    last_read_ms_ = now;
    float t = dht_.readTemperature();
    float h = dht_.readHumidity();
    if (gwlink::check_dht22(t, h) != gwlink::kDhtOk) {
      ++failures_;
      return false;
    }
    *celsius = t;
    *humidity = h;
    return true;
  }

  uint32_t failures() const { return failures_; }

 private:
  DHT dht_;
  bool enabled_;
  uint32_t interval_ms_;
  bool have_read_ = false;
  uint32_t last_read_ms_ = 0;
  uint32_t failures_ = 0;
};

// A reed switch to GND with the internal pull-up; a change counts once it has been stable
// for debounce_ms, so a bouncing contact publishes one state, not ten.
class DoorContact {
 public:
  DoorContact(int pin, bool invert, uint32_t debounce_ms = 50)
      : pin_(pin), invert_(invert), debounce_ms_(debounce_ms) {}

  void begin() {
    if (pin_ < 0) return;
    pinMode(pin_, INPUT_PULLUP);
    raw_ = digitalRead(pin_) == HIGH;
    stable_ = raw_;
  }

  bool enabled() const { return pin_ >= 0; }

  // True once per debounced change.
  bool poll(uint32_t now) {
    if (pin_ < 0) return false;
    bool raw = digitalRead(pin_) == HIGH;
    if (raw != raw_) {
      raw_ = raw;
      changed_ms_ = now;
    }
    if (raw_ != stable_ && now - changed_ms_ >= debounce_ms_) {
      stable_ = raw_;
      return true;
    }
    return false;
  }

  // Open: the magnet is away, the switch open, the pin pulled HIGH (unless inverted).
  bool open() const { return stable_ != invert_; }

 private:
  int pin_;
  bool invert_;
  uint32_t debounce_ms_;
  bool raw_ = false;
  bool stable_ = false;
  uint32_t changed_ms_ = 0;
};

#endif

// The node's sensors: a DHT22 read on a timer and a debounced door contact. The timing,
// plausibility and debouncing rules are gwlink's (unit-tested on the host); this file only
// connects them to the pins.
#ifndef NODE_SENSORS_H
#define NODE_SENSORS_H

#include <Arduino.h>
#include <DHT.h>
#include <gwlink.h>

// A DHT22 read at most every interval_ms; readings pass gwlink::check_dht22 or are dropped.
class ClimateSensor {
 public:
  ClimateSensor(int pin, uint8_t model, uint32_t interval_ms)
      : dht_(pin < 0 ? 0 : pin, model), enabled_(pin >= 0), interval_(interval_ms) {}

  void begin() {
    if (enabled_) dht_.begin();
  }

  bool enabled() const { return enabled_; }

  // True when a new plausible reading is in *celsius and *humidity. `force` reads now
  // (after a reconnect) whatever the interval says.
  bool poll(uint32_t now, bool force, float* celsius, float* humidity) {
    if (!enabled_) return false;
    if (!interval_.due(now) && !force) return false;
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
  gwlink::Interval interval_;
  uint32_t failures_ = 0;
};

// A reed switch to GND with the internal pull-up: open (magnet away) reads HIGH.
class DoorContact {
 public:
  DoorContact(int pin, bool invert, uint32_t debounce_ms = 50)
      : pin_(pin), invert_(invert), debounce_ms_(debounce_ms), debouncer_(false, debounce_ms) {}

  void begin() {
    if (pin_ < 0) return;
    pinMode(pin_, INPUT_PULLUP);
    debouncer_ = gwlink::Debouncer(digitalRead(pin_) == HIGH, debounce_ms_);
  }

  bool enabled() const { return pin_ >= 0; }

  // True once per debounced change.
  bool poll(uint32_t now) {
    if (pin_ < 0) return false;
    return debouncer_.update(digitalRead(pin_) == HIGH, now);
  }

  bool open() const { return debouncer_.state() != invert_; }

 private:
  int pin_;
  bool invert_;
  uint32_t debounce_ms_;
  gwlink::Debouncer debouncer_;
};

#endif

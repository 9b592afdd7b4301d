// The node's inputs: a DHT22 read on a timer and debounced binary inputs (contacts,
// buttons, motion sensors). The timing, plausibility and debouncing rules are gwlink's
// (unit-tested on the host); this file only connects them to the pins.
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

// What is wired to a binary input; decides the pull-up and which level means ON.
enum InputKind {
  CONTACT,  // reed switch to GND, pull-up: open (magnet away) reads HIGH = ON
  BUTTON,   // push button to GND, pull-up: pressed reads LOW = ON
  MOTION,   // PIR module output, driven: HIGH = ON
};

// One line of NODE_INPUTS.
struct InputConfig {
  const char* name;
  int pin;
  InputKind kind;
  bool invert;
};

// A debounced binary input.
class BinaryInput {
 public:
  static const uint32_t kDebounceMs = 50;

  void begin(const InputConfig& config) {
    config_ = config;
    pinMode(config_.pin, config_.kind == MOTION ? INPUT : INPUT_PULLUP);
    debouncer_ = gwlink::Debouncer(digitalRead(config_.pin) == HIGH, kDebounceMs);
  }

  // True once per debounced change.
  bool poll(uint32_t now) { return debouncer_.update(digitalRead(config_.pin) == HIGH, now); }

  bool on() const {
    bool high = debouncer_.state();
    bool on = config_.kind == BUTTON ? !high : high;
    return on != config_.invert;
  }

  const InputConfig& config() const { return config_; }

 private:
  InputConfig config_ = {"", 0, CONTACT, false};
  gwlink::Debouncer debouncer_{false, kDebounceMs};
};

#endif

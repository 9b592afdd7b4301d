// The DHT sensor of the emulated node: the Adafruit DHT library's own class (its DHT.h, the
// API the sketch uses) with readings taken from the bench instead of pulse timings on the
// data pin, which the host cannot produce. It stands in for the sensor, not for our code.
#include <DHT.h>
#include <math.h>

#include "emu_board.h"

DHT::DHT(uint8_t pin, uint8_t type, uint8_t count) : _pin(pin), _type(type) {
  (void)count;
  _lastreadtime = 0;
  _maxcycles = 0;
  _lastresult = false;
  pullTime = 55;
}

void DHT::begin(uint8_t usec) {
  pullTime = usec;
  pinMode(_pin, INPUT_PULLUP);
}

bool DHT::read(bool force) {
  (void)force;
  float celsius = NAN, humidity = NAN;
  _lastresult = emu::dht_reading(_pin, &celsius, &humidity);
  return _lastresult;
}

float DHT::readTemperature(bool fahrenheit, bool force) {
  float celsius = NAN, humidity = NAN;
  (void)force;
  if (!emu::dht_reading(_pin, &celsius, &humidity)) return NAN;
  return fahrenheit ? convertCtoF(celsius) : celsius;
}

float DHT::readHumidity(bool force) {
  float celsius = NAN, humidity = NAN;
  (void)force;
  if (!emu::dht_reading(_pin, &celsius, &humidity)) return NAN;
  return humidity;
}

float DHT::convertCtoF(float c) { return c * 1.8f + 32; }

float DHT::convertFtoC(float f) { return (f - 32) * 0.55555f; }

float DHT::computeHeatIndex(bool isFahrenheit) {
  return computeHeatIndex(readTemperature(isFahrenheit), readHumidity(), isFahrenheit);
}

float DHT::computeHeatIndex(float temperature, float percentHumidity, bool isFahrenheit) {
  // Not used by the sketch; the simple Steadman form is enough for a double.
  float t = isFahrenheit ? temperature : convertCtoF(temperature);
  float hi = 0.5f * (t + 61.0f + ((t - 68.0f) * 1.2f) + (percentHumidity * 0.094f));
  return isFahrenheit ? hi : convertFtoC(hi);
}

// ESP8266 sensor node for the sensor gateway: a DHT22 and a door contact published as
// home/<room>/<sensor> through PubSubClient, over WiFi or over the USB cable.
//
// Configuration: config.h (copy config.example.h). Build: PlatformIO (firmware/platformio.ini)
// or arduino-cli; see the README, section "ESP8266 nodes".
//
// loop() never waits for the network: WiFi reconnects by itself, MQTT reconnects are tried
// on a backoff timer (gwlink::Backoff), and the serial link's connect waits at most a second.
#define NODE_TRANSPORT_WIFI 1
#define NODE_TRANSPORT_SERIAL 2

#if __has_include("config.h")
#include "config.h"
#else
#error "Copy config.example.h to config.h next to node.ino and edit it (README: ESP8266 nodes)."
#endif

#include <Arduino.h>
#include <ESP8266WiFi.h>
#include <PubSubClient.h>
#include <gwlink.h>

#include "gateway_finder.h"
#include "sensors.h"

// The largest MQTT packet either way; PubSubClient's buffer and the serial link's frames
// are sized alike, and the gateway's bridge drops larger packets instead of sending them.
static const size_t kMaxPacket = 512;
static const char kOnline[] = "online";
static const char kOffline[] = "offline";

#if NODE_TRANSPORT == NODE_TRANSPORT_SERIAL
// UART0 (the USB cable) carries the link, so debug output goes to Serial1 (GPIO2, TX only).
#define DEBUG_PORT Serial1
typedef gwlink::FramedLink<HardwareSerial, kMaxPacket> SerialLink;
typedef gwlink::FramedClient<Client, IPAddress, HardwareSerial, kMaxPacket> SerialLinkClient;
static SerialLink serialLink(Serial, millis, yield);
static SerialLinkClient netClient(serialLink, 1000);
#elif NODE_TRANSPORT == NODE_TRANSPORT_WIFI
#define DEBUG_PORT Serial
static WiFiClient netClient;
static GatewayFinder gatewayFinder(GATEWAY_HOST, GATEWAY_PORT, NODE_ID);
#else
#error "NODE_TRANSPORT must be NODE_TRANSPORT_WIFI or NODE_TRANSPORT_SERIAL"
#endif

#if NODE_DEBUG
#define LOG(...) DEBUG_PORT.printf(__VA_ARGS__)
#else
#define LOG(...) \
  do {           \
  } while (0)
#endif

static PubSubClient mqtt(netClient);
static gwlink::Backoff mqttBackoff(1000, 60000);
// A battery node publishes once per wake-up, so it retries a failed DHT read as soon as the
// sensor allows (2 s) instead of waiting a whole reading interval.
static ClimateSensor climate(DHT_PIN, DHT_MODEL, (DEEP_SLEEP_S > 0 ? 2 : READ_INTERVAL_S) * 1000UL);
static DoorContact contact(CONTACT_PIN, CONTACT_INVERT != 0);

static char statusTopic[96];
static char temperatureTopic[96];
static char humidityTopic[96];
static char contactTopic[96];
static bool configValid = false;
static bool climatePublished = false;  // since boot (= since wake-up for a battery node)
static uint32_t mqttFailuresInARow = 0;

static bool buildTopics() {
  return gwlink::make_topic(statusTopic, sizeof(statusTopic), NODE_ROOM, NODE_ID, "status") &&
         gwlink::make_topic(temperatureTopic, sizeof(temperatureTopic), NODE_ROOM, "temperature") &&
         gwlink::make_topic(humidityTopic, sizeof(humidityTopic), NODE_ROOM, "humidity") &&
         gwlink::make_topic(contactTopic, sizeof(contactTopic), NODE_ROOM, CONTACT_NAME);
}

static bool publishValue(const char* topic, const char* payload) {
  bool ok = mqtt.publish(topic, payload, true);  // retained: a new subscriber sees it at once
  if (!ok) LOG("publish %s failed\n", topic);
  return ok;
}

static void publishClimate(bool force) {
  float celsius = 0, humidity = 0;
  if (!climate.poll(millis(), force, &celsius, &humidity)) return;
  char text[16];
  bool ok = true;
  if (gwlink::format_fixed(celsius, DHT_DECIMALS, text, sizeof(text))) {
    ok = publishValue(temperatureTopic, text) && ok;
  }
  if (gwlink::format_fixed(humidity, DHT_DECIMALS, text, sizeof(text))) {
    ok = publishValue(humidityTopic, text) && ok;
  }
  climatePublished = climatePublished || ok;
}

static void publishContact() {
  if (contact.enabled()) publishValue(contactTopic, gwlink::format_binary(contact.open()));
}

#if NODE_TRANSPORT == NODE_TRANSPORT_WIFI
// The SDK reconnects WiFi by itself; if it has not managed within a backoff delay (10 s,
// growing to 5 min) the association is started over, which clears the cases where the
// SDK's own retries get stuck (an access point that rebooted with new settings).
static gwlink::Backoff wifiBackoff(10000, 300000);
static bool wifiWasUp = false;

static bool wifiReady(uint32_t now) {
  if (WiFi.status() == WL_CONNECTED) {
    if (!wifiWasUp) LOG("wifi connected\n");
    wifiWasUp = true;
    wifiBackoff.succeeded();
    return true;
  }
  if (wifiWasUp) {
    LOG("wifi lost\n");
    wifiWasUp = false;
    wifiBackoff.failed(now);  // give the SDK's own reconnect the first delay
  } else if (wifiBackoff.failures() == 0) {
    wifiBackoff.failed(now);  // just booted: WiFi.begin() is under way
  } else if (wifiBackoff.ready(now)) {
    LOG("wifi: starting the association again\n");
    WiFi.begin(WIFI_SSID, WIFI_PASSWORD);
    wifiBackoff.failed(now);
  }
  return false;
}
#endif

// The transport is up (WiFi associated; a serial cable is always "up").
static bool transportReady(uint32_t now) {
#if NODE_TRANSPORT == NODE_TRANSPORT_WIFI
  gatewayFinder.update();
  return wifiReady(now);
#else
  (void)now;
  return true;
#endif
}

// One MQTT connection attempt; the caller's backoff decides when.
static bool connectMqtt() {
#if NODE_TRANSPORT == NODE_TRANSPORT_WIFI
  IPAddress ip;
  uint16_t port = 0;
  if (!gatewayFinder.resolve(&ip, &port)) {
    LOG("gateway %s not found\n", GATEWAY_HOST);
    return false;
  }
  mqtt.setServer(ip, port);
#else
  mqtt.setServer("gateway", 0);  // a serial cable has one end: host and port are unused
#endif
  const char* user = MQTT_USER[0] ? MQTT_USER : nullptr;
  const char* password = MQTT_PASSWORD[0] ? MQTT_PASSWORD : nullptr;
  if (!mqtt.connect(NODE_ID, user, password, statusTopic, 1, true, kOffline)) {
    LOG("mqtt connect failed, state %d\n", mqtt.state());
    return false;
  }
  LOG("mqtt connected\n");
  publishValue(statusTopic, kOnline);
  // Everything is re-published on (re)connect, so the gateway never shows stale states.
  publishContact();
  publishClimate(true);
  return true;
}

static void serviceMqtt(uint32_t now) {
  if (mqtt.connected()) {
    mqtt.loop();
    return;
  }
  if (!mqttBackoff.ready(now)) return;
  if (connectMqtt()) {
    mqttBackoff.succeeded();
    mqttFailuresInARow = 0;
    return;
  }
  mqttBackoff.failed(now);
#if NODE_TRANSPORT == NODE_TRANSPORT_WIFI
  // The gateway may have a new address (DHCP): look it up again after a few failures.
  if (++mqttFailuresInARow % 3 == 0) gatewayFinder.forget();
#endif
}

static void sleepIfDone(uint32_t now) {
#if DEEP_SLEEP_S > 0
  // Done: connected, status and contact published on connect, and a reading out (if the
  // node has a DHT). Or out of time: the gateway may be down; try again next wake-up.
  bool done = mqtt.connected() && (!climate.enabled() || climatePublished);
  bool timedOut = now >= AWAKE_TIMEOUT_S * 1000UL;
  if (!done && !timedOut) return;
  LOG("deep sleep for %d s\n", DEEP_SLEEP_S);
  if (mqtt.connected()) {
    netClient.flush();  // the last PUBLISH out before the DISCONNECT
    mqtt.disconnect();  // clean: no will, the node stays "online" while asleep
    delay(10);
  }
  ESP.deepSleep(static_cast<uint64_t>(DEEP_SLEEP_S) * 1000000ULL);
#else
  (void)now;
#endif
}

void setup() {
#if NODE_TRANSPORT == NODE_TRANSPORT_SERIAL
  Serial.setRxBufferSize(1024);  // two full frames: loop() may be busy with a DHT read
  Serial.begin(SERIAL_BAUD);
  DEBUG_PORT.begin(115200);
  WiFi.mode(WIFI_OFF);  // no radio needed: saves ~70 mA
#else
  DEBUG_PORT.begin(115200);
  WiFi.persistent(false);  // do not rewrite flash with the same credentials on every boot
  WiFi.mode(WIFI_STA);
  WiFi.hostname(NODE_ID);
  WiFi.setAutoReconnect(true);
  WiFi.begin(WIFI_SSID, WIFI_PASSWORD);
#endif
  LOG("\nnode %s in room %s\n", NODE_ID, NODE_ROOM);
  configValid = buildTopics();
  if (!configValid) {
    LOG("config.h: NODE_ROOM, NODE_ID and CONTACT_NAME must be a-z, 0-9, _ (max 32)\n");
    return;
  }
  mqttBackoff = gwlink::Backoff(1000, 60000, ESP.getChipId());
#if NODE_TRANSPORT == NODE_TRANSPORT_WIFI
  wifiBackoff = gwlink::Backoff(10000, 300000, ESP.getChipId() ^ 0x5A5A5A5Au);
#endif
  mqtt.setBufferSize(kMaxPacket);
  mqtt.setKeepAlive(MQTT_KEEPALIVE_S);
  mqtt.setSocketTimeout(5);
  climate.begin();
  contact.begin();
}

void loop() {
  uint32_t now = millis();
  if (!configValid) {
    delay(1000);  // nothing to do until the configuration is fixed and flashed again
    return;
  }
  if (transportReady(now)) serviceMqtt(now);
  if (contact.poll(now) && mqtt.connected()) publishContact();
  if (mqtt.connected()) publishClimate(false);
  sleepIfDone(now);
}

// Node configuration. Copy this file to config.h (next to node.ino) and edit it; config.h
// is ignored by git so WiFi passwords never get committed.
#ifndef NODE_CONFIG_H
#define NODE_CONFIG_H

// ---- Identity -------------------------------------------------------------------------
// Topics are home/<NODE_ROOM>/<name> for every input and output, and
// home/<NODE_ROOM>/<NODE_ID>/status for the node's availability (online / offline,
// retained, offline is the last will).
// Names: lowercase a-z, 0-9 and _, at most 32 characters (the gateway's naming rule).
#define NODE_ROOM "attic"
#define NODE_ID "attic_node"  // also the MQTT client id and the WiFi/mDNS host name

// ---- Transport --------------------------------------------------------------------------
// NODE_TRANSPORT_WIFI: MQTT over TCP to the gateway.
// NODE_TRANSPORT_SERIAL: MQTT in frames over the USB cable (UART0) to the gateway's bridge;
//   debug output then moves to Serial1 (GPIO2 / D4, transmit only).
#define NODE_TRANSPORT NODE_TRANSPORT_WIFI

// Serial transport: must match the gateway's serial baudrate (default 115200).
#define SERIAL_BAUD 115200

// WiFi transport.
#define WIFI_SSID "your-ssid"
#define WIFI_PASSWORD "your-wifi-password"
// The gateway: an mDNS name (found through its _mqtt._tcp service), a DNS name or an IPv4
// address such as "192.168.1.20".
#define GATEWAY_HOST "gateway.local"
#define GATEWAY_PORT 1883

// MQTT credentials if the gateway's broker requires them ("" for none).
#define MQTT_USER ""
#define MQTT_PASSWORD ""
#define MQTT_KEEPALIVE_S 15

// ---- Climate sensor -------------------------------------------------------------------------
// DHT22 / AM2302 data pin (a 10k pull-up to 3V3 unless the module has one); -1: none.
// Published as home/<room>/temperature and home/<room>/humidity.
#define DHT_PIN 14  // GPIO14 = D5 on NodeMCU and D1 mini
#define DHT_MODEL DHT22
#define DHT_DECIMALS 1
// Seconds between DHT readings (the DHT22 allows one reading every 2 s).
#define READ_INTERVAL_S 30

// ---- Binary inputs ----------------------------------------------------------------------------
// Up to 8, each { "name", GPIO, kind, invert }, published as home/<room>/<name>: ON / OFF.
//   CONTACT  reed switch between the pin and GND (internal pull-up): ON = open
//   BUTTON   push button between the pin and GND (internal pull-up): ON = pressed
//   MOTION   a PIR module's output (high on motion): ON = motion
//   invert   true if your part reads the other way round (a contact closed when open)
// Usable pins: GPIO4, 5, 12, 13, 14 (D2, D1, D6, D7, D5). {} for none.
#define NODE_INPUTS \
  { {"door", 12, CONTACT, false}, {"button", 13, BUTTON, false} }

// ---- Outputs ------------------------------------------------------------------------------------
// Up to 8, each { "name", GPIO, kind, active, boot_state }. The state is published retained
// on home/<room>/<name> (ON / OFF); commands go to home/<room>/<name>/set: ON/OFF, 1/0,
// true/false or TOGGLE, as for the gateway's own relays.
//   RELAY / LED    Home Assistant shows a switch / a light
//   ACTIVE_HIGH    the load is on while the pin is high; ACTIVE_LOW for the many relay
//                  boards that switch on when their input is pulled low
//   BOOT_OFF / BOOT_ON / BOOT_RESTORE  the state at power-up; RESTORE takes the node's last
//                  published state back from the gateway (off until the gateway answers)
// Usable pins: GPIO4, 5, 12, 13, 14. Avoid GPIO0, 2 and 15 (boot mode) and GPIO16 with
// deep sleep. A relay coil needs a driver transistor or a relay board, never the pin alone.
// {} for none. Outputs need DEEP_SLEEP_S 0 (a sleeping node hears no commands).
#define NODE_OUTPUTS \
  { {"relay", 5, RELAY, ACTIVE_LOW, BOOT_OFF} }

// ---- Power ----------------------------------------------------------------------------------
// 0: always on. >0: battery node: wake, publish once, disconnect, deep-sleep this many
// seconds. Needs a wire from GPIO16 (D0) to RST. The node stays "online" while asleep.
#define DEEP_SLEEP_S 0
// Awake at most this long per wake-up when the gateway cannot be reached.
#define AWAKE_TIMEOUT_S 30

// ---- Debug ------------------------------------------------------------------------------------
// 1: log to Serial (WiFi transport) or Serial1 (serial transport) at 115200 baud.
#define NODE_DEBUG 1

#endif

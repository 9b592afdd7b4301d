// Node configuration. Copy this file to config.h (next to node.ino) and edit it; config.h
// is ignored by git so WiFi passwords never get committed.
#ifndef NODE_CONFIG_H
#define NODE_CONFIG_H

// ---- Identity -------------------------------------------------------------------------
// Topics are home/<NODE_ROOM>/<sensor>, and home/<NODE_ROOM>/<NODE_ID>/status for the
// node's availability (online / offline, retained, offline is the last will).
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

// ---- Sensors ------------------------------------------------------------------------------
// DHT22 / AM2302 data pin (a 10k pull-up to 3V3 unless the module has one); -1: none.
#define DHT_PIN 14  // GPIO14 = D5 on NodeMCU and D1 mini
#define DHT_MODEL DHT22
#define DHT_DECIMALS 1

// Door/window contact (reed switch between the pin and GND, internal pull-up); -1: none.
// Published as home/<room>/<CONTACT_NAME>: ON = open, OFF = closed.
#define CONTACT_PIN 12  // GPIO12 = D6
#define CONTACT_NAME "door"
#define CONTACT_INVERT 0  // 1 if your switch is closed when the door is open

// Seconds between DHT readings (the DHT22 allows one reading every 2 s).
#define READ_INTERVAL_S 30

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

// Build options of the node firmware. Copy this file to config.h (next to node.ino); config.h
// is ignored by git. The node's name, room, WiFi, gateway, MQTT credentials and what is wired
// to which pin are NOT here: they are run-time settings, stored on the node and sent over the
// USB cable by `gateway node setup` (README: "Setting up a node"), so one build serves every
// node and a new room name needs no compiler.
#ifndef NODE_CONFIG_H
#define NODE_CONFIG_H

// ---- Transport --------------------------------------------------------------------------
// NODE_TRANSPORT_WIFI: MQTT over TCP to the gateway.
// NODE_TRANSPORT_SERIAL: MQTT in frames over the USB cable (UART0) to the gateway's bridge;
//   debug output then moves to Serial1 (GPIO2 / D4, transmit only).
#define NODE_TRANSPORT NODE_TRANSPORT_WIFI

// Serial transport: must match the gateway's serial baudrate (default 115200).
#define SERIAL_BAUD 115200

#define MQTT_KEEPALIVE_S 15

// Decimals of the published temperature and humidity.
#define DHT_DECIMALS 1

// A battery node (settings: sleep > 0) stays awake at most this long per wake-up when the
// gateway cannot be reached.
#define AWAKE_TIMEOUT_S 30

// 1: log to Serial (WiFi transport) or Serial1 (serial transport) at 115200 baud.
#define NODE_DEBUG 1

// Set-up from a phone (WiFi transport; README: "Setting up a node from a phone"). A node
// that has settings opens its access point gwnode-<chip id> after its WiFi has been down
// PORTAL_AFTER_S seconds without a break, and restarts to try its WiFi again when nobody
// used the access point for PORTAL_OPEN_S. A node without settings opens it at once.
// PORTAL_PASSWORD (8 to 63 characters), if defined, is the access point's WPA2 password;
// without it the access point is open.
#define PORTAL_AFTER_S 300
#define PORTAL_OPEN_S 600
// #define PORTAL_PASSWORD "on-the-label"

// Optional: settings a node uses while none are stored, in the text `gateway node setup`
// sends (one key=value per line; see firmware/lib/gwlink/src/settings.h). Leave it out for
// the generic firmware; a node without settings then says so and waits to be set up.
// #define NODE_PRESET "name=attic_node\nroom=attic\nwifi_ssid=...\nwifi_password=...\n" \
//                     "pin=14:dht22\npin=12:contact:door\npin=5:relay:fan:low\n"

#endif

// One MQTT.js client over WebSockets: subscribe, publish to itself, print what came back.
// Usage: node roundtrip.js <url> <protocolVersion 4|5> <topic> [username password]
// Prints one JSON line: {"connack": ..., "granted": [...], "received": "..."},
// {"subscribe_error": ...} or {"error": ...}.
"use strict";
const mqtt = require("mqtt");

const [url, version, topic, username, password] = process.argv.slice(2);
const client = mqtt.connect(url, {
  protocolVersion: Number(version),
  username,
  password,
  reconnectPeriod: 0,
  connectTimeout: 30000,
});
const done = (result) => {
  process.stdout.write(JSON.stringify(result) + "\n");
  client.end(true, () => process.exit(0));
};
setTimeout(() => done({ error: "timeout" }), 60000).unref();
client.on("error", (err) => done({ error: String(err.message || err) }));
client.on("connect", (connack) => {
  client.subscribe(topic, { qos: 1 }, (err, granted) => {
    // MQTT.js reports a refused subscription (SUBACK 0x80 / 0x87) as an error.
    if (err) return done({ subscribe_error: String(err.message || err) });
    const codes = granted.map((g) => g.qos);
    if (codes.some((c) => c >= 0x80)) return done({ connack: connack.returnCode ?? connack.reasonCode, granted: codes });
    client.on("message", (t, payload) =>
      done({ connack: connack.returnCode ?? connack.reasonCode ?? 0, granted: codes, topic: t, received: payload.toString() }));
    client.publish(topic, "hello from MQTT.js", { qos: 1 });
  });
});

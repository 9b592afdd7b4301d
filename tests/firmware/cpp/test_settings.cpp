// The node's run-time settings (gwlink/settings.h): what `gateway node setup` sends is
// parsed and checked on the node; bad settings are refused whole with a reason.
#include <string.h>

#include "check.h"
#include "gwlink.h"

namespace {
const char kGood[] =
    "name=attic_node\nroom=attic\nwifi_ssid=Home Net\nwifi_password=p=ss:word\n"
    "gateway=192.168.1.20:1884\ninterval=10\npin=14:dht22\npin=12:contact:door:invert\n"
    "pin=5:relay:fan:low,restore\n";

bool refused(const char* text, const char* reason) {
  static gwlink::NodeSettings s;
  char error[128] = "";
  bool ok = gwlink::parse_settings(text, strlen(text), &s, error, sizeof(error));
  if (ok || strstr(error, reason) == 0) {
    fprintf(stderr, "'%s': ok=%d error='%s', expected '%s'\n", text, ok, error, reason);
    return false;
  }
  return true;
}
}  // namespace

TEST(good_settings_parse) {
  gwlink::NodeSettings s;
  char error[128] = "";
  CHECK(gwlink::parse_settings(kGood, strlen(kGood), &s, error, sizeof(error)));
  CHECK(strcmp(s.name, "attic_node") == 0);
  CHECK(strcmp(s.room, "attic") == 0);
  CHECK(strcmp(s.wifi_ssid, "Home Net") == 0);
  CHECK(strcmp(s.wifi_password, "p=ss:word") == 0);
  CHECK(strcmp(s.gateway_host, "192.168.1.20") == 0);
  CHECK_EQ(s.gateway_port, 1884);
  CHECK_EQ(s.interval_s, 10);
  CHECK_EQ(s.dht_pin, 14);
  CHECK_EQ(s.dht_model, 22);
  CHECK_EQ(s.n_inputs, 1);
  CHECK(strcmp(s.inputs[0].name, "door") == 0);
  CHECK(s.inputs[0].invert);
  CHECK_EQ(s.n_outputs, 1);
  CHECK_EQ(s.outputs[0].role, gwlink::kPinRelay);
  CHECK(s.outputs[0].active_low);
  CHECK_EQ(s.outputs[0].boot, 2);
  char text[256];
  CHECK(gwlink::describe_settings(s, text, sizeof(text)));
  CHECK(strcmp(text, "name=attic_node room=attic gateway=192.168.1.20:1884 interval=10 sleep=0 "
                     "pins=14:dht22,12:contact:door:invert,5:relay:fan:low:restore") == 0);
  CHECK(!gwlink::describe_settings(s, text, 40));
}

TEST(defaults) {
  gwlink::NodeSettings s;
  char error[128];
  const char text[] = "name=n\r\nroom=r\r\n";
  CHECK(gwlink::parse_settings(text, strlen(text), &s, error, sizeof(error)));
  CHECK(strcmp(s.gateway_host, "gateway.local") == 0);
  CHECK_EQ(s.gateway_port, 1883);
  CHECK_EQ(s.dht_pin, -1);
  CHECK_EQ(s.interval_s, 30);
  char out[128];
  CHECK(gwlink::describe_settings(s, out, sizeof(out)));
  CHECK(strstr(out, "pins=none") != 0);
}

TEST(bad_settings_are_refused_and_change_nothing) {
  CHECK(refused("name=n\nroom=r\npin=3:contact:door\n", "unknown pin: 3 is not a usable GPIO"));
  CHECK(refused("name=n\nroom=r\npin=12:contact:door\npin=12:relay:fan\n",
                "pin used twice: GPIO12"));
  CHECK(refused("name=n\nroom=r\npin=14:dht22\npin=14:contact:door\n", "pin used twice"));
  CHECK(refused("name=Attic Node\nroom=r\n", "bad name"));
  CHECK(refused("name=n\nroom=r\npin=12:contact:Door\n", "bad name"));
  CHECK(refused("name=n\nroom=r\npin=12:contact:door\npin=13:relay:door\n", "name used twice"));
  CHECK(refused("name=n\nroom=r\npin=12:heater:x\n", "unknown kind"));
  CHECK(refused("name=n\nroom=r\npin=12:relay:x:invert\n", "unknown flag"));
  CHECK(refused("name=n\nroom=r\npin=x:relay:x\n", "expected GPIO:kind"));
  CHECK(refused("name=n\nroom=r\nsleep=60\npin=5:relay:fan\n", "outputs need sleep=0"));
  CHECK(refused("room=r\n", "name and room are required"));
  CHECK(refused("name=n\nroom=r\ncolour=red\n", "unknown setting"));
  CHECK(refused("name=n\nroom=r\ngateway=h:0\n", "bad port"));
  CHECK(refused("name=n\nroom=r\nwifi_ssid=123456789012345678901234567890123\n", "wifi_ssid"));
  CHECK(refused("name=n\nroom=r\ninterval=1\n", "interval"));
  CHECK(refused("name=n\nroom=r\npin=14:dht22\npin=12:dht11\n", "one DHT"));
}

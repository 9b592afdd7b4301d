// The emulated node's radio: the core's mock reports its station as always connected. With
// NODE_WIFI=down in the environment the station never gets its network (a wrong SSID or
// password, a router that is off), so a test sees what a node does when its WiFi settings
// do not work. The emu build links with --wrap=wifi_station_get_connect_status
// (firmware/Makefile), which sends the core's calls here.
#include <stdlib.h>
#include <string.h>
#include <user_interface.h>

extern "C" station_status_t __real_wifi_station_get_connect_status(void);

extern "C" station_status_t __wrap_wifi_station_get_connect_status(void) {
  const char* wifi = getenv("NODE_WIFI");
  if (wifi != nullptr && strcmp(wifi, "down") == 0) return STATION_NO_AP_FOUND;
  return __real_wifi_station_get_connect_status();
}

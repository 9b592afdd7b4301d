// Umbrella header of the node's portable link library (no Arduino headers inside).
#ifndef GWLINK_H
#define GWLINK_H

#include "backoff.h"
#include "cobs.h"
#include "crc16.h"
#include "debounce.h"
#include "frame.h"
#include "framed_client.h"
#include "framed_link.h"
#include "mqtt_packet.h"
#include "ota.h"
#include "payload.h"
#include "settings.h"
#include "topic.h"

#endif

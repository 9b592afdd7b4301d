// Topic names for a node, in the gateway's layout: home/<room>/<sensor> for values and
// home/<room>/<node>/status for the node's online/offline availability (its last will).
#ifndef GWLINK_TOPIC_H
#define GWLINK_TOPIC_H

#include <stddef.h>

namespace gwlink {

// True if `name` is a valid topic level for the gateway: 1..32 chars of a-z, 0-9 and '_'.
// The gateway normalises its own names the same way, so node topics cannot collide with
// differently spelled ones.
bool valid_name(const char* name);

// Joins "home", the levels given (NULL ends the list early) with '/'. Returns the length,
// or 0 if a level is not a valid_name() or `cap` is too small.
size_t make_topic(char* out, size_t cap, const char* room, const char* leaf,
                  const char* sub = 0);

}  // namespace gwlink

#endif

/* The core's heap.cpp and time.cpp define newlib's reentrant hooks (_malloc_r,
 * _gettimeofday_r, ...) with a `struct _reent *` they never use. picolibc has no reentrancy
 * structure; an incomplete type is all those definitions need. */
#ifndef FIRMWARE_XTENSA_SYS_REENT_H
#define FIRMWARE_XTENSA_SYS_REENT_H
struct _reent;
#endif

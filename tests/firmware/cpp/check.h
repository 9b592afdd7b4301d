// A minimal test harness for the firmware's host unit tests (run by tests/firmware/*.py):
// TEST(name) registers a case, CHECK* record failures with file and line, main() runs all
// and exits non-zero if any check failed.
#ifndef TESTS_FIRMWARE_CHECK_H
#define TESTS_FIRMWARE_CHECK_H

#include <stdio.h>
#include <string.h>

namespace check {

typedef void (*TestFn)();

struct Case {
  const char* name;
  TestFn fn;
  Case* next;
};

inline Case*& registry() {
  static Case* head = 0;
  return head;
}

inline int& failures() {
  static int count = 0;
  return count;
}

struct Registrar {
  Case entry;
  Registrar(const char* name, TestFn fn) {
    entry.name = name;
    entry.fn = fn;
    entry.next = registry();
    registry() = &entry;
  }
};

inline void fail(const char* file, int line, const char* what) {
  fprintf(stderr, "%s:%d: CHECK failed: %s\n", file, line, what);
  ++failures();
}

}  // namespace check

#define TEST(name)                                                   \
  static void test_##name();                                         \
  static check::Registrar registrar_##name(#name, &test_##name);     \
  static void test_##name()

#define CHECK(cond) \
  do {              \
    if (!(cond)) check::fail(__FILE__, __LINE__, #cond); \
  } while (0)

#define CHECK_EQ(a, b)                                                            \
  do {                                                                            \
    long long va_ = static_cast<long long>(a), vb_ = static_cast<long long>(b);   \
    if (va_ != vb_) {                                                             \
      char msg_[256];                                                             \
      snprintf(msg_, sizeof(msg_), "%s == %s (%lld != %lld)", #a, #b, va_, vb_);  \
      check::fail(__FILE__, __LINE__, msg_);                                      \
    }                                                                             \
  } while (0)

#define CHECK_MEM(a, b, n) CHECK(memcmp((a), (b), (n)) == 0)

int main() {
  int cases = 0;
  // Registration runs in reverse file order; reverse again so output follows the file.
  check::Case* reversed = 0;
  for (check::Case* c = check::registry(); c != 0;) {
    check::Case* next = c->next;
    c->next = reversed;
    reversed = c;
    c = next;
  }
  for (check::Case* c = reversed; c != 0; c = c->next) {
    int before = check::failures();
    c->fn();
    printf("%s %s\n", check::failures() == before ? "ok  " : "FAIL", c->name);
    ++cases;
  }
  printf("%d cases, %d failed checks\n", cases, check::failures());
  return check::failures() == 0 ? 0 : 1;
}

#endif

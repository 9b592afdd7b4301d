// The pieces of libstdc++'s runtime the core and the libraries reach for. The subset has no
// libstdc++.a (the core's own build removes these same objects from its copy and supplies
// new/new[] in abi.cpp); Debian ships only the headers. Without exceptions, every "throw"
// ends in the core's panic, as the core's -fno-exceptions build does.
#include <Arduino.h>

#include <functional>
#include <list>
#include <memory>
#include <new>

void operator delete(void* ptr, size_t) noexcept { free(ptr); }
void operator delete[](void* ptr) noexcept { free(ptr); }
void operator delete[](void* ptr, size_t) noexcept { free(ptr); }

namespace std {

const nothrow_t nothrow{};

void __throw_bad_function_call() { panic(); }

// The terminate handler is stored and handed back; nothing calls it without exceptions.
static terminate_handler current_terminate = nullptr;
terminate_handler set_terminate(terminate_handler handler) noexcept {
  terminate_handler previous = current_terminate;
  current_terminate = handler;
  return previous;
}

// make_shared without RTTI: the tag's type_info is the address of _S_ti()'s static object.
bool _Sp_make_shared_tag::_S_eq(const type_info& ti) noexcept { return &ti == &_S_ti(); }

namespace __detail {
void _List_node_base::_M_unhook() noexcept {
  _M_prev->_M_next = _M_next;
  _M_next->_M_prev = _M_prev;
}
}  // namespace __detail

}  // namespace std

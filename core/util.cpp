// Shared helpers declared in util.hpp.
#include "core/util.hpp"

#include <cstring>

namespace moat {

std::string errno_text(int err) {
  char buf[256];
  return strerror_r(err, buf, sizeof buf);
}

}  // namespace moat

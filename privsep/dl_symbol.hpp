// SPDX-License-Identifier: GPL-2.0-or-later
// A symbol of a library loaded with dlopen, into a typed pointer (libwrap.cpp,
// pam_auth.cpp: the libraries moatftpd loads only when a configuration needs them).
#pragma once

#include <dlfcn.h>

namespace moat {

template <typename T>
bool dl_symbol(void* lib, const char* name, T& out) {
  out = reinterpret_cast<T>(dlsym(lib, name));
  return out != nullptr;
}

}  // namespace moat

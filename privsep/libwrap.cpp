// SPDX-License-Identifier: GPL-2.0-or-later
// Loads libwrap with dlopen and looks up what moatftpd uses of it (libwrap.hpp).
#include "privsep/libwrap.hpp"

#ifdef HAVE_LIBWRAP
#include <dlfcn.h>
#include <syslog.h>
#endif

#include <string>

#include "privsep/dl_symbol.hpp"

namespace moat {

#ifdef HAVE_LIBWRAP
namespace {

// libwrap and the ten libraries it pulls in (libnsl, libtirpc, Kerberos...) are loaded only with
// tcp_wrappers=YES, by the master before it forks: linked in, their ~50 mappings were copied by
// every fork and torn down by every exit, three of each per login, for an option that is off by
// default. RTLD_LOCAL: libwrap's symbols stay out of the global scope; its own call to
// process_options still finds moatftpd's, which the executable exports (Makefile.am), because
// the global scope is searched before the library's own.
constexpr char kLibWrap[] = "libwrap.so.0";

LibWrap g_wrap;

bool bind_all(void* lib, LibWrap& w) {
  return dl_symbol(lib, "request_init", w.request_init) &&
         dl_symbol(lib, "hosts_access", w.hosts_access) && dl_symbol(lib, "xgets", w.xgets) &&
         dl_symbol(lib, "split_at", w.split_at) &&
         dl_symbol(lib, "allow_severity", w.allow_severity) &&
         dl_symbol(lib, "deny_severity", w.deny_severity) &&
         dl_symbol(lib, "dry_run", w.dry_run) &&
         dl_symbol(lib, "hosts_allow_table", w.hosts_allow_table) &&
         dl_symbol(lib, "hosts_deny_table", w.hosts_deny_table) &&
         dl_symbol(lib, "tcpd_buf", w.tcpd_buf) &&
         dl_symbol(lib, "tcpd_context", w.tcpd_context);
}

}  // namespace

const LibWrap& libwrap() { return g_wrap; }

Status wrappers_load() {
  if (g_wrap.hosts_access != nullptr) return Ok{};
  void* lib = dlopen(kLibWrap, RTLD_NOW | RTLD_LOCAL);
  if (lib == nullptr) return fail(std::string("tcp_wrappers=YES: ") + dlerror());
  LibWrap w;
  if (!bind_all(lib, w)) {
    dlclose(lib);
    return fail(std::string("tcp_wrappers=YES: ") + kLibWrap + " lacks a symbol");
  }
  *w.allow_severity = LOG_INFO;
  *w.deny_severity = LOG_WARNING;
  g_wrap = w;
  return Ok{};
}

#else
Status wrappers_load() { return fail("tcp_wrappers=YES but moatftpd was built without libwrap"); }
#endif

}  // namespace moat

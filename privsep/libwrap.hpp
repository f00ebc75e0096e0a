// SPDX-License-Identifier: GPL-2.0-or-later
// libwrap, loaded with dlopen only for tcp_wrappers=YES: the functions and variables of it that
// moatftpd uses, looked up once by the master before it forks.
#pragma once

#include "config.h"
#include "core/common/util.hpp"

#ifdef HAVE_LIBWRAP
#include <tcpd.h>

#include <csetjmp>
#include <cstdio>
#endif

namespace moat {

// Loads libwrap (once; for tcp_wrappers=YES, at start-up, SIGHUP and -t, before any session is
// forked, so that the judge finds it mapped).
Status wrappers_load();

#ifdef HAVE_LIBWRAP
// Its functions, and its variables through the addresses dlsym gives for them.
struct LibWrap {
  request_info* (*request_init)(request_info*, ...) = nullptr;
  int (*hosts_access)(request_info*) = nullptr;
  char* (*xgets)(char*, int, FILE*) = nullptr;  // its line reader: joins and counts lines
  char* (*split_at)(char*, int) = nullptr;      // its field splitter
  int* allow_severity = nullptr;                // which a linked program defines
  int* deny_severity = nullptr;
  int* dry_run = nullptr;
  char** hosts_allow_table = nullptr;
  char** hosts_deny_table = nullptr;
  jmp_buf* tcpd_buf = nullptr;  // hosts_access() sets it; option processing returns through it
  struct tcpd_context* tcpd_context = nullptr;  // the file and line being read
};

// What wrappers_load looked up; every member is null until it has succeeded.
const LibWrap& libwrap();
#endif

}  // namespace moat

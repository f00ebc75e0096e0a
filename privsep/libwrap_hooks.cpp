// SPDX-License-Identifier: GPL-2.0-or-later
// moatftpd's side of libwrap: the option processor it calls for the rule that matched, and -t's
// look at the rules.
#include "config.h"
#include "privsep/libwrap_hooks.hpp"

#include <strings.h>

#include <csetjmp>
#include <cstdio>
#include <cstring>
#include <memory>

#include "privsep/libwrap.hpp"
#include "privsep/wrappers_options.hpp"

namespace moat {
namespace {
int g_refused = -1;
}  // namespace

int wrappers_refused_option() { return g_refused; }

#ifdef HAVE_LIBWRAP
namespace {

struct FileClose {
  void operator()(FILE* f) const { std::fclose(f); }
};

// Whether a rule's daemon list may name moatftpd: a warning's scope, not a verdict.
bool names_moatftpd(char* daemons) {
  for (char* tok = std::strtok(daemons, ", \t\r\n"); tok != nullptr;
       tok = std::strtok(nullptr, ", \t\r\n")) {
    if (strcasecmp(tok, "EXCEPT") == 0) return false;
    if (strcasecmp(tok, "ALL") == 0) return true;
    if (strncasecmp(tok, "moatftpd", 8) == 0 && (tok[8] == '\0' || tok[8] == '@')) return true;
  }
  return false;
}

void warn_about_options(const LibWrap& w, const char* path, std::vector<std::string>& warnings) {
  std::unique_ptr<FILE, FileClose> f(std::fopen(path, "re"));
  if (!f) return;
  char line[2048];  // libwrap's BUFLEN
  w.tcpd_context->line = 0;
  // libwrap's own line reader and splitter, so lines join and split as hosts_access sees them.
  while (w.xgets(line, sizeof line, f.get()) != nullptr) {
    const int at = w.tcpd_context->line;
    if (line[0] == '#') continue;
    char* clients = w.split_at(line, ':');
    char* options = clients != nullptr ? w.split_at(clients, ':') : nullptr;
    if (options == nullptr || !names_moatftpd(line)) continue;
    const OptionField field = classify_option_field(options);
    if (field.kind != OptionField::kRefused) continue;
    warnings.push_back(std::string(path) + ":" + std::to_string(at) +
                       ": warning: moatftpd runs no tcp_wrappers options and refuses the "
                       "clients this rule matches (option \"" +
                       std::string(field.option) + "\"); only a lone allow or deny is honoured");
  }
}

}  // namespace

std::vector<std::string> wrappers_option_warnings() {
  if (!wrappers_load()) return {};  // -t has already reported why it cannot be loaded
  const LibWrap& w = libwrap();
  std::vector<std::string> warnings;
  warn_about_options(w, *w.hosts_allow_table, warnings);
  warn_about_options(w, *w.hosts_deny_table, warnings);
  return warnings;
}

#else
std::vector<std::string> wrappers_option_warnings() { return {}; }
#endif

}  // namespace moat

#ifdef HAVE_LIBWRAP
// libwrap calls this, through its PLT, for the option field of the rule that matched (its own runs
// spawn and twist through /bin/sh, switches users, writes banners): dlopened RTLD_LOCAL, it still
// finds this one first, as the executable exports it (Makefile.am). It returns to hosts_access() by
// longjmp, as libwrap's does: nothing here has a destructor to skip.
void process_options(char* options, struct request_info*) {
  jmp_buf& to_hosts_access = *moat::libwrap().tcpd_buf;
  const moat::OptionField field = moat::classify_option_field(options);
  if (field.kind == moat::OptionField::kAllow) longjmp(to_hosts_access, AC_PERMIT);
  if (field.kind == moat::OptionField::kRefused)
    moat::g_refused = static_cast<int>(moat::wrappers_option_index(field.option));
  longjmp(to_hosts_access, AC_DENY);
}
#endif

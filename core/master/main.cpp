// SPDX-License-Identifier: GPL-2.0-or-later
// Command line: moatftpd [-t | --who | --kick PID | --bans | --unban ADDR] [-o name=value]...
//               [[-c] CONFIG_FILE]
//               | --version | --man | --migration-lists
#include "config.h"

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "core/common/config.hpp"
#include "core/master/config_check.hpp"
#include "core/master/control_socket.hpp"
#include "core/master/master.hpp"
#include "core/master/migration_note.hpp"
#include "core/common/proctitle.hpp"
#include "core/common/server.hpp"
#include "core/master/seccomp_selftest.hpp"
#include "privsep/libwrap_hooks.hpp"

namespace {

struct Args {
  bool check_only = false;
  std::string control_request;  // --who, --kick PID, --bans, --unban ADDR: asked of the master
  std::string config_file = MOAT_SYSCONFDIR "/moatftpd/ftpd.conf";
  std::vector<std::string> overrides;
};

void usage() {
  std::fprintf(stderr,
               "usage: moatftpd [-t] [-o name=value]... [CONFIG_FILE]\n"
               "       moatftpd --who | --kick PID | --bans | --unban ADDR [-o name=value]...\n"
               "                [[-c] CONFIG_FILE]\n"
               "       moatftpd --version | --man\n");
}

// Returns false (after printing why) when the command line is malformed.
bool parse_args(int argc, char** argv, Args& args) {
  bool have_file = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "-t") {
      args.check_only = true;
    } else if (a == "--who") {
      args.control_request = "WHO";
    } else if (a == "--kick" && i + 1 < argc) {
      args.control_request = std::string("KICK ") + argv[++i];
    } else if (a == "--bans") {
      args.control_request = "BANS";
    } else if (a == "--unban" && i + 1 < argc) {
      args.control_request = std::string("UNBAN ") + argv[++i];
    } else if (a == "-c" && i + 1 < argc && !have_file) {
      args.config_file = argv[++i];
      have_file = true;
    } else if (a == "-o" && i + 1 < argc) {
      args.overrides.emplace_back(argv[++i]);
    } else if (a.size() > 2 && a.compare(0, 2, "-o") == 0) {
      args.overrides.push_back(a.substr(2));  // vsftpd's -oname=value
    } else if (!a.empty() && a[0] != '-' && !have_file) {
      args.config_file = a;
      have_file = true;
    } else {
      std::fprintf(stderr, "moatftpd: unexpected argument '%s'\n", a.c_str());
      return false;
    }
  }
  return true;
}

// --who, --kick, --bans and --unban: the running master answers on the control socket its config names.
int ask_master(const moat::Config& cfg, const std::string& request) {
  if (cfg.control_socket.empty()) {
    std::fprintf(stderr, "moatftpd: no control_socket in the configuration\n");
    return 1;
  }
  return moat::control_request(cfg.control_socket, request);
}

// -t: every error of the file, then of what start-up and logins need from the system;
// only a configuration without any is prepared as start-up would (the remaining checks).
int check_config(const Args& args) {
  moat::ConfigReport r = moat::config_load_all(args.config_file, args.overrides);
  std::vector<std::string> errors = std::move(r.errors);
  if (r.file_read) {
    for (std::string& e : moat::config_check(r.cfg)) errors.push_back(std::move(e));
  }
  if (errors.empty()) {
    if (auto ctx = moat::server_prepare(r.cfg, false); !ctx) {
      errors.push_back(args.config_file + ": " + ctx.error());
    } else if (auto st = moat::seccomp_check(r.cfg); !st) {
      errors.push_back(args.config_file + ": " + st.error());
    }
  }
  for (const std::string& note : r.cfg.notes) std::printf("%s\n", note.c_str());
  for (const std::string& e : errors) std::fprintf(stderr, "%s\n", e.c_str());
  if (!errors.empty()) return 1;
  if (r.cfg.tcp_wrappers)
    for (const std::string& warning : moat::wrappers_option_warnings())
      std::printf("%s\n", warning.c_str());
  std::printf("%s: configuration OK\n", args.config_file.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  moat::proctitle_init(argc, argv);  // before anything copies environ's pointers
  if (argc == 2 && std::strcmp(argv[1], "--version") == 0) {
    std::printf("moatftpd %s\n", PACKAGE_VERSION);
    return 0;
  }
  if (argc == 2 && std::strcmp(argv[1], "--man") == 0) {
    std::fputs(moat::config_man_page().c_str(), stdout);
    return 0;
  }
  if (argc == 2 && std::strcmp(argv[1], "--migration-lists") == 0) {
    std::fputs(moat::migration_option_lists().c_str(), stdout);
    return 0;
  }
  Args args;
  if (!parse_args(argc, argv, args)) {
    usage();
    return 2;
  }
  if (args.check_only) return check_config(args);
  auto cfg = moat::config_load(args.config_file, args.overrides);
  if (!cfg) {
    std::fprintf(stderr, "%s\n", cfg.error().c_str());
    return 1;
  }
  if (!args.control_request.empty()) return ask_master(*cfg, args.control_request);
  return moat::master_run(args.config_file, args.overrides, std::move(*cfg));
}

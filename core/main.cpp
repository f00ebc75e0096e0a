// SPDX-License-Identifier: GPL-2.0-or-later
// Command line: moatftpd [-t | --who | --kick PID] [-o name=value]... [[-c] CONFIG_FILE]
//               | --version | --man
#include "config.h"

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "core/config.hpp"
#include "core/control_socket.hpp"
#include "core/master.hpp"
#include "core/proctitle.hpp"
#include "core/server.hpp"
#include "core/seccomp_selftest.hpp"

namespace {

struct Args {
  bool check_only = false;
  std::string control_request;  // --who, --kick PID: asked of the running master
  std::string config_file = MOAT_SYSCONFDIR "/moatftpd/ftpd.conf";
  std::vector<std::string> overrides;
};

void usage() {
  std::fprintf(stderr,
               "usage: moatftpd [-t] [-o name=value]... [CONFIG_FILE]\n"
               "       moatftpd --who | --kick PID [-o name=value]... [[-c] CONFIG_FILE]\n"
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

// --who and --kick: the running master answers on the control socket its config names.
int ask_master(const moat::Config& cfg, const std::string& request) {
  if (cfg.control_socket.empty()) {
    std::fprintf(stderr, "moatftpd: no control_socket in the configuration\n");
    return 1;
  }
  return moat::control_request(cfg.control_socket, request);
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
  Args args;
  if (!parse_args(argc, argv, args)) {
    usage();
    return 2;
  }
  auto cfg = moat::config_load(args.config_file, args.overrides);
  if (!cfg) {
    std::fprintf(stderr, "%s\n", cfg.error().c_str());
    return 1;
  }
  if (!args.control_request.empty()) return ask_master(*cfg, args.control_request);
  if (args.check_only) {
    auto ctx = moat::server_prepare(*cfg, false);
    if (!ctx) {
      std::fprintf(stderr, "%s: %s\n", args.config_file.c_str(), ctx.error().c_str());
      return 1;
    }
    if (auto st = moat::seccomp_check(cfg.value()); !st) {
      std::fprintf(stderr, "%s: %s\n", args.config_file.c_str(), st.error().c_str());
      return 1;
    }
    for (const std::string& note : cfg->notes) std::printf("%s\n", note.c_str());
    std::printf("%s: configuration OK\n", args.config_file.c_str());
    return 0;
  }
  return moat::master_run(args.config_file, args.overrides, std::move(*cfg));
}

// SPDX-License-Identifier: GPL-2.0-or-later
// Test-only modules for the loader tests (tests/unit/modules_test.cpp): one shared
// object exporting one module per case. The test links it into a temporary module_dir
// under each case's name (mod_t_badabi.so -> this file), so the loader looks up that
// case's moat_module_NAME. The e2e module tests use one of them, mod_t_privother.
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "modules/moat_module.h"

namespace {

const moat_option kGoodOptions[] = {
    {"t_flag", MOAT_OPT_BOOL, "NO", "A boolean."},
    {"t_count", MOAT_OPT_UINT, "7", "A number."},
    {"t_text", MOAT_OPT_STRING, "hello", "A string."},
    {nullptr, MOAT_OPT_BOOL, nullptr, nullptr},
};
const char* const kGoodVerbs[] = {"XTST", nullptr};

int good_init(const moat_host* host, void** state) {
  *state = const_cast<moat_host*>(host);
  return 0;
}

int failing_init(const moat_host*, void**) { return 5; }

// Every case starts from a well-formed module named `name`.
constexpr moat_module base(const char* name, const moat_option* options = nullptr) {
  moat_module m{};
  m.abi_version = MOAT_MODULE_ABI_VERSION;
  m.struct_size = sizeof(moat_module);
  m.name = name;
  m.description = "loader test case";
  m.options = options;
  return m;
}

constexpr moat_module with_abi(moat_module m, uint32_t abi) {
  m.abi_version = abi;
  return m;
}

constexpr moat_module with_size(moat_module m, uint32_t size) {
  m.struct_size = size;
  return m;
}

const moat_option kDuplicate[] = {{"t_a", MOAT_OPT_BOOL, "NO", "a"},
                                  {"t_a", MOAT_OPT_BOOL, "NO", "a again"},
                                  {nullptr, MOAT_OPT_BOOL, nullptr, nullptr}};
const moat_option kCoreName[] = {{"listen_port", MOAT_OPT_UINT, "21", "the core's"},
                                 {nullptr, MOAT_OPT_BOOL, nullptr, nullptr}};
const moat_option kClash[] = {{"t_flag", MOAT_OPT_BOOL, "NO", "also mod_t_good's"},
                              {nullptr, MOAT_OPT_BOOL, nullptr, nullptr}};
const moat_option kBadDefault[] = {{"t_b", MOAT_OPT_BOOL, "maybe", "not a boolean"},
                                   {nullptr, MOAT_OPT_BOOL, nullptr, nullptr}};
const moat_option kBadNumber[] = {{"t_n", MOAT_OPT_UINT, "12x", "not a number"},
                                  {nullptr, MOAT_OPT_BOOL, nullptr, nullptr}};
const moat_option kBadType[] = {{"t_t", static_cast<moat_option_type>(7), "1", "no such type"},
                                {nullptr, MOAT_OPT_BOOL, nullptr, nullptr}};
const moat_option kBadName[] = {{"Bad-Name", MOAT_OPT_BOOL, "NO", "not a config name"},
                                {nullptr, MOAT_OPT_BOOL, nullptr, nullptr}};
const moat_option kFirstParty[] = {{"max_clients", MOAT_OPT_UINT, "0", "mod_iplimit's"},
                                   {nullptr, MOAT_OPT_BOOL, nullptr, nullptr}};
const moat_option kNoDescription[] = {{"t_d", MOAT_OPT_BOOL, "NO", nullptr},
                                      {nullptr, MOAT_OPT_BOOL, nullptr, nullptr}};
const char* const kBadVerbs[] = {"site x", nullptr};

moat_module good() {
  moat_module m = base("mod_t_good", kGoodOptions);
  m.preauth_commands = kGoodVerbs;
  m.init = good_init;
  return m;
}

moat_module reserved_set() {
  moat_module m = base("mod_t_reserved");
  m.reserved[3] = reinterpret_cast<void*>(1);
  return m;
}

moat_module bad_verbs() {
  moat_module m = base("mod_t_badverb");
  m.preauth_commands = kBadVerbs;
  return m;
}

moat_module init_fails() {
  moat_module m = base("mod_t_initfail");
  m.init = failing_init;
  return m;
}

// mod_t_privother: a second module with a priv_handler, for the e2e test that a
// module's privileged request reaches its own handler and no other. It grants type 1
// with the payload "other"; XOTHER <payload> asks for it from the worker.
const moat_host* g_other_host = nullptr;

int other_init(const moat_host* host, void** state) {
  g_other_host = host;
  *state = nullptr;
  return 0;
}

int other_priv(void*, const moat_conn*, const moat_session*, uint16_t type, const void* payload,
               size_t len, int) {
  const std::string_view data(static_cast<const char*>(payload), payload ? len : 0);
  const bool grant = type == 1 && data == "other";
  const std::string line = "priv_other len=" + std::to_string(len) + " grant=" + (grant ? "1" : "0");
  g_other_host->log("mod_t_privother", line.c_str());
  return grant ? 0 : -1;
}

int other_command_pre(void*, moat_session*, const moat_command* cmd) {
  if (std::strcmp(cmd->verb, "XOTHER") != 0) return MOAT_CONTINUE;
  const int rc = g_other_host->privileged(1, cmd->arg, std::strlen(cmd->arg), -1);
  g_other_host->reply(200, ("XOTHER result=" + std::to_string(rc)).c_str());
  return MOAT_HANDLED;
}

moat_module priv_other() {
  moat_module m = base("mod_t_privother");
  m.init = other_init;
  m.priv_handler = other_priv;
  m.command_pre = other_command_pre;
  return m;
}

}  // namespace

MOAT_MODULE(mod_t_good) = good();
MOAT_MODULE(mod_t_badabi) = with_abi(base("mod_t_badabi"), 99);
MOAT_MODULE(mod_t_small) = with_size(base("mod_t_small"), 16);
MOAT_MODULE(mod_t_badname) = base("mod_t_other");
MOAT_MODULE(mod_t_reserved) = reserved_set();
MOAT_MODULE(mod_t_dupopt) = base("mod_t_dupopt", kDuplicate);
MOAT_MODULE(mod_t_coreopt) = base("mod_t_coreopt", kCoreName);
MOAT_MODULE(mod_t_clash) = base("mod_t_clash", kClash);
MOAT_MODULE(mod_t_baddefault) = base("mod_t_baddefault", kBadDefault);
MOAT_MODULE(mod_t_badnumber) = base("mod_t_badnumber", kBadNumber);
MOAT_MODULE(mod_t_badtype) = base("mod_t_badtype", kBadType);
MOAT_MODULE(mod_t_badoptname) = base("mod_t_badoptname", kBadName);
MOAT_MODULE(mod_t_firstparty) = base("mod_t_firstparty", kFirstParty);
MOAT_MODULE(mod_t_nodesc) = base("mod_t_nodesc", kNoDescription);
MOAT_MODULE(mod_t_badverb) = bad_verbs();
MOAT_MODULE(mod_t_initfail) = init_fails();
MOAT_MODULE(mod_t_privother) = priv_other();

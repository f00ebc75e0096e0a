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

// Every case's handles: the loader fills in those of the table it accepts.
uint32_t g_handles[8];

const moat_option kGoodOptions[] = {
    {"t_flag", MOAT_OPT_BOOL, "NO", "A boolean.", &g_handles[0], 0},
    {"t_count", MOAT_OPT_UINT, "7", "A number.", &g_handles[1], 0},
    {"t_text", MOAT_OPT_STRING, "hello", "A string.", &g_handles[2], 0},
    {"listen_port", MOAT_OPT_UINT, nullptr, nullptr, &g_handles[3], MOAT_OPT_CORE},
    {nullptr, MOAT_OPT_BOOL, nullptr, nullptr, nullptr, 0},
};
const char* const kGoodVerbs[] = {"XTST", nullptr};

int good_init(moat_ctx* ctx) {
  ctx->state = ctx;
  return 0;
}

int failing_init(moat_ctx*) { return 5; }

// t_count=13 is refused by check, naming the option; t_count=14 fails without a word.
int good_check(moat_ctx* ctx) {
  const unsigned n = ctx->host->opt_uint(ctx, g_handles[1]);
  if (n == 13) ctx->host->check_error(ctx, g_handles[1], "unlucky");
  return n == 13 || n == 14 ? 1 : 0;
}

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

const moat_option kDuplicate[] = {{"t_a", MOAT_OPT_BOOL, "NO", "a", &g_handles[0], 0},
                                  {"t_a", MOAT_OPT_BOOL, "NO", "a again", &g_handles[1], 0},
                                  {nullptr, MOAT_OPT_BOOL, nullptr, nullptr, nullptr, 0}};
const moat_option kCoreName[] = {{"listen_port", MOAT_OPT_UINT, "21", "the core's", &g_handles[0], 0},
                                 {nullptr, MOAT_OPT_BOOL, nullptr, nullptr, nullptr, 0}};
const moat_option kClash[] = {{"t_flag", MOAT_OPT_BOOL, "NO", "also mod_t_good's", &g_handles[0], 0},
                              {nullptr, MOAT_OPT_BOOL, nullptr, nullptr, nullptr, 0}};
const moat_option kBadDefault[] = {{"t_b", MOAT_OPT_BOOL, "maybe", "not a boolean", &g_handles[0], 0},
                                   {nullptr, MOAT_OPT_BOOL, nullptr, nullptr, nullptr, 0}};
const moat_option kBadNumber[] = {{"t_n", MOAT_OPT_UINT, "12x", "not a number", &g_handles[0], 0},
                                  {nullptr, MOAT_OPT_BOOL, nullptr, nullptr, nullptr, 0}};
const moat_option kBadType[] = {{"t_t", static_cast<moat_option_type>(7), "1", "no such type", &g_handles[0], 0},
                                {nullptr, MOAT_OPT_BOOL, nullptr, nullptr, nullptr, 0}};
const moat_option kBadName[] = {{"Bad-Name", MOAT_OPT_BOOL, "NO", "not a config name", &g_handles[0], 0},
                                {nullptr, MOAT_OPT_BOOL, nullptr, nullptr, nullptr, 0}};
const moat_option kFirstParty[] = {{"max_clients", MOAT_OPT_UINT, "0", "mod_iplimit's", &g_handles[0], 0},
                                   {nullptr, MOAT_OPT_BOOL, nullptr, nullptr, nullptr, 0}};
const moat_option kNoDescription[] = {{"t_d", MOAT_OPT_BOOL, "NO", nullptr, &g_handles[0], 0},
                                      {nullptr, MOAT_OPT_BOOL, nullptr, nullptr, nullptr, 0}};
// ABI v2: options are resolved at load, so a core option that does not exist, one read
// as another type, and an entry without a handle are load errors.
const moat_option kUnknownCore[] = {
    {"no_such_core_option", MOAT_OPT_UINT, nullptr, nullptr, &g_handles[0], MOAT_OPT_CORE},
    {nullptr, MOAT_OPT_BOOL, nullptr, nullptr, nullptr, 0}};
const moat_option kWrongCoreType[] = {
    {"listen_port", MOAT_OPT_BOOL, nullptr, nullptr, &g_handles[0], MOAT_OPT_CORE},
    {nullptr, MOAT_OPT_BOOL, nullptr, nullptr, nullptr, 0}};
const moat_option kNoHandle[] = {{"t_h", MOAT_OPT_BOOL, "NO", "no handle", nullptr, 0},
                                 {nullptr, MOAT_OPT_BOOL, nullptr, nullptr, nullptr, 0}};
const char* const kBadVerbs[] = {"site x", nullptr};

moat_module good() {
  moat_module m = base("mod_t_good", kGoodOptions);
  m.preauth_commands = kGoodVerbs;
  m.check = good_check;
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
int other_priv(moat_ctx* ctx, const moat_conn*, const moat_session*, uint16_t type,
               const void* payload, size_t len, int) {
  const std::string_view data(static_cast<const char*>(payload), payload ? len : 0);
  const bool grant = type == 1 && data == "other";
  const std::string line = "priv_other len=" + std::to_string(len) + " grant=" + (grant ? "1" : "0");
  ctx->host->log(ctx, line.c_str());
  return grant ? 0 : -1;
}

int other_command_pre(moat_ctx* ctx, moat_session*, const moat_command* cmd) {
  if (std::strcmp(cmd->verb, "XOTHER") != 0) return MOAT_CONTINUE;
  const int rc = ctx->host->privileged(ctx, 1, cmd->arg, std::strlen(cmd->arg), -1);
  ctx->host->reply(ctx, 200, ("XOTHER result=" + std::to_string(rc)).c_str());
  return MOAT_HANDLED;
}

moat_module priv_other() {
  moat_module m = base("mod_t_privother");
  m.priv_handler = other_priv;
  m.command_pre = other_command_pre;
  return m;
}

}  // namespace

MOAT_MODULE(mod_t_good) = good();
MOAT_MODULE(mod_t_badabi) = with_abi(base("mod_t_badabi"), 99);
// A module built against the version 1 header: its stamp is read before anything else.
MOAT_MODULE(mod_t_v1) = with_abi(base("mod_t_v1"), 1);
MOAT_MODULE(mod_t_unknowncore) = base("mod_t_unknowncore", kUnknownCore);
MOAT_MODULE(mod_t_wrongcore) = base("mod_t_wrongcore", kWrongCoreType);
MOAT_MODULE(mod_t_nohandle) = base("mod_t_nohandle", kNoHandle);
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

// SPDX-License-Identifier: GPL-2.0-or-later
// The host side of the module ABI: what a module may ask of the core, and nothing
// that bypasses it. Services a process cannot give (a reply outside a worker) fail
// visibly instead of pretending to work.
#include "core/host/module_host.hpp"

#include <sys/mman.h>

#include <cstdio>
#include <string>
#include <variant>
#include <vector>

#include "core/common/config.hpp"
#include "core/common/server_log.hpp"
#include "core/host/modules.hpp"

namespace moat {
namespace {

constexpr std::size_t kMaxShared = std::size_t{64} << 20;
constexpr std::size_t kMaxLogName = 64;
constexpr std::size_t kMaxLogMessage = 1024;

const Config* g_cfg = nullptr;
bool g_in_init = false;
int g_current = -1;
ModuleWorkerServices* g_worker = nullptr;
constexpr size_t kMaxPrivPayload = 4096;

template <class T>
const T* core_field(const char* name) {
  if (g_cfg == nullptr || name == nullptr) return nullptr;
  const OptionInfo* info = option_find(name);
  if (info == nullptr) return nullptr;
  const auto* field = std::get_if<T Config::*>(&info->field);
  return field ? &(g_cfg->**field) : nullptr;
}

const char* module_text(const char* name, moat_option_type type) {
  if (g_cfg == nullptr || name == nullptr) return nullptr;
  return module_option_text(*g_cfg, name, type);
}

int host_option_bool(const char* name) {
  if (const bool* v = core_field<bool>(name)) return *v ? 1 : 0;
  const char* text = module_text(name, MOAT_OPT_BOOL);
  if (text == nullptr) return 0;
  auto b = config_parse_bool(name, text);
  return b && *b ? 1 : 0;
}

unsigned host_option_uint(const char* name) {
  if (const unsigned* v = core_field<unsigned>(name)) return *v;
  const char* text = module_text(name, MOAT_OPT_UINT);
  if (text == nullptr) return 0;
  auto n = config_parse_uint(name, text);
  return n ? *n : 0;
}

const char* host_option_string(const char* name) {
  if (const std::string* v = core_field<std::string>(name)) return v->c_str();
  const char* text = module_text(name, MOAT_OPT_STRING);
  return text ? text : "";
}

// One line, whatever the module passes: bounded, control characters replaced.
std::string log_text(const char* text, std::size_t max) {
  std::string out = text ? std::string(text).substr(0, max) : "(null)";
  for (char& c : out) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  }
  return out;
}

// In the master (admit, login_failed: bans and limits) the line also reaches the log
// files and syslog; elsewhere stderr, which the session's helper relays.
void host_log(const char* module, const char* message) {
  server_log(log_text(module, kMaxLogName) + ": " + log_text(message, kMaxLogMessage));
}

struct SharedRegion {
  void* addr;
  size_t size;
};
std::vector<SharedRegion> g_shared;  // every shared_alloc region, for detach

void* host_shared_alloc(size_t size) {
  if (!g_in_init || size == 0 || size > kMaxShared) return nullptr;
  void* p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return nullptr;
  g_shared.push_back({p, size});
  return p;  // kept for the life of the server
}

void unavailable(const char* service) {
  std::fprintf(stderr, "moatftpd: module host: %s is not available in this process\n", service);
}

void host_reply(int code, const char* text) {
  if (g_worker == nullptr) return unavailable("reply");
  // A module replies with a real FTP code: 100..599, anything else is a 5xx.
  g_worker->reply(code >= 100 && code <= 599 ? code : 550, text ? text : "");
}

int host_privileged(uint16_t type, const void* payload, size_t len, int fd) {
  if (g_worker == nullptr || g_current < 0) {
    unavailable("privileged");
    return -1;
  }
  if (len > kMaxPrivPayload || (len > 0 && payload == nullptr)) return -1;
  auto bytes = std::span(static_cast<const uint8_t*>(payload), len);
  return g_worker->privileged(static_cast<uint16_t>(g_current), type, bytes, fd);
}

void host_rate_limit(uint64_t bytes_per_second) {
  if (g_worker == nullptr) return unavailable("rate_limit");
  g_worker->rate_limit(bytes_per_second);
}

moat_host make_host() {
  moat_host h{};
  h.abi_version = MOAT_MODULE_ABI_VERSION;
  h.struct_size = sizeof(moat_host);
  h.option_bool = host_option_bool;
  h.option_uint = host_option_uint;
  h.option_string = host_option_string;
  h.log = host_log;
  h.shared_alloc = host_shared_alloc;
  h.reply = host_reply;
  h.privileged = host_privileged;
  h.rate_limit = host_rate_limit;
  return h;
}

const moat_host g_host = make_host();

}  // namespace

const moat_host* module_host() { return &g_host; }

void module_host_bind(const Config* cfg) { g_cfg = cfg; }

void module_host_set_init(bool in_init) { g_in_init = in_init; }

bool module_shared_detach() {
  bool ok = true;
  for (const SharedRegion& r : g_shared) {
    void* p = mmap(r.addr, r.size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
                   -1, 0);
    ok = ok && p == r.addr;
  }
  return ok;
}

void module_host_set_current(int index) { g_current = index; }

int module_host_current() { return g_current; }

void module_host_bind_worker(ModuleWorkerServices* services) { g_worker = services; }

}  // namespace moat

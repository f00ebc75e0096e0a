// SPDX-License-Identifier: GPL-2.0-or-later
// The host side of the module ABI: what a module may ask of the core, and nothing
// that bypasses it. Services a process cannot give (a reply outside a worker) fail
// visibly instead of pretending to work. Which module calls, and with which
// configuration, comes from the caller's moat_ctx.
#include "core/host/module_host.hpp"

#include <sys/mman.h>

#include <cstdio>
#include <string>
#include <variant>

#include "core/common/config.hpp"
#include "core/common/server_log.hpp"

namespace moat {
namespace {

constexpr std::size_t kMaxShared = std::size_t{64} << 20;
constexpr std::size_t kMaxLogMessage = 1024;
constexpr size_t kMaxPrivPayload = 4096;

ModuleContext* context(const moat_ctx* ctx) {
  return ctx ? static_cast<ModuleContext*>(ctx->host_private) : nullptr;
}

void complain(const ModuleContext* m, const std::string& what) {
  std::fprintf(stderr, "moatftpd: module host: %s: %s\n", m ? m->name.c_str() : "(no context)",
               what.c_str());
}

// The entry behind `handle`, when it is the module's and of the type asked.
const ResolvedOption* resolve(const moat_ctx* ctx, uint32_t handle, moat_option_type type) {
  ModuleContext* m = context(ctx);
  if (m == nullptr || handle == 0 || handle > m->options.size()) {
    complain(m, "option read with an unknown handle " + std::to_string(handle));
    return nullptr;
  }
  const ResolvedOption& o = m->options[handle - 1];
  if (o.type != type) {
    complain(m, "option " + o.name + " read as another type");
    return nullptr;
  }
  return m->host->cfg ? &o : nullptr;
}

template <class T>
const T* core_value(const Config& cfg, const std::string& name) {
  const OptionInfo* info = option_find(name);
  const auto* field = info ? std::get_if<T Config::*>(&info->field) : nullptr;
  return field ? &(cfg.**field) : nullptr;
}

// An own option's text: as set in ftpd.conf (or the user's file), else its default.
const char* module_text(const Config& cfg, const ResolvedOption& o) {
  auto it = cfg.module_options.find(o.name);
  return it == cfg.module_options.end() ? o.default_text : it->second.c_str();
}

const Config& cfg_of(const moat_ctx* ctx) { return *context(ctx)->host->cfg; }

int host_opt_bool(const moat_ctx* ctx, uint32_t handle) {
  const ResolvedOption* o = resolve(ctx, handle, MOAT_OPT_BOOL);
  if (o == nullptr) return 0;
  if (o->core) return *core_value<bool>(cfg_of(ctx), o->name) ? 1 : 0;
  auto b = config_parse_bool(o->name, module_text(cfg_of(ctx), *o));
  return b && *b ? 1 : 0;
}

unsigned host_opt_uint(const moat_ctx* ctx, uint32_t handle) {
  const ResolvedOption* o = resolve(ctx, handle, MOAT_OPT_UINT);
  if (o == nullptr) return 0;
  if (o->core) return *core_value<unsigned>(cfg_of(ctx), o->name);
  auto n = config_parse_uint(o->name, module_text(cfg_of(ctx), *o));
  return n ? *n : 0;
}

const char* host_opt_string(const moat_ctx* ctx, uint32_t handle) {
  const ResolvedOption* o = resolve(ctx, handle, MOAT_OPT_STRING);
  if (o == nullptr) return "";
  if (o->core) return core_value<std::string>(cfg_of(ctx), o->name)->c_str();
  return module_text(cfg_of(ctx), *o);
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
void host_log(const moat_ctx* ctx, const char* message) {
  const ModuleContext* m = context(ctx);
  server_log((m ? m->name : std::string("(no context)")) + ": " +
             log_text(message, kMaxLogMessage));
}

void* host_shared_alloc(const moat_ctx* ctx, size_t size) {
  ModuleContext* m = context(ctx);
  if (m == nullptr || !m->host->in_init || size == 0 || size > kMaxShared) return nullptr;
  void* p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return nullptr;
  m->host->shared.push_back({p, size});
  return p;  // kept for the life of the server
}

// The worker's services, or nullptr after saying this process has none.
ModuleWorkerServices* worker_of(const moat_ctx* ctx, const char* service) {
  ModuleContext* m = context(ctx);
  if (m != nullptr && m->host->worker != nullptr) return m->host->worker;
  std::fprintf(stderr, "moatftpd: module host: %s is not available in this process\n", service);
  return nullptr;
}

void host_reply(const moat_ctx* ctx, int code, const char* text) {
  ModuleWorkerServices* w = worker_of(ctx, "reply");
  // A module replies with a real FTP code: 100..599, anything else is a 5xx.
  if (w) w->reply(code >= 100 && code <= 599 ? code : 550, text ? text : "");
}

int host_privileged(const moat_ctx* ctx, uint16_t type, const void* payload, size_t len, int fd) {
  ModuleWorkerServices* w = worker_of(ctx, "privileged");
  if (w == nullptr) return -1;
  if (len > kMaxPrivPayload || (len > 0 && payload == nullptr)) return -1;
  auto bytes = std::span(static_cast<const uint8_t*>(payload), len);
  return w->privileged(static_cast<uint16_t>(context(ctx)->index), type, bytes, fd);
}

void host_rate_limit(const moat_ctx* ctx, uint64_t bytes_per_second) {
  if (ModuleWorkerServices* w = worker_of(ctx, "rate_limit")) w->rate_limit(bytes_per_second);
}

void host_check_error(const moat_ctx* ctx, uint32_t handle, const char* message) {
  ModuleContext* m = context(ctx);
  if (m == nullptr || m->host->check == nullptr) {
    std::fprintf(stderr, "moatftpd: module host: check_error is not available here\n");
    return;
  }
  const bool known = handle > 0 && handle <= m->options.size();
  const std::string name = known ? m->options[handle - 1].name : m->name;
  m->host->check->errors.push_back(m->host->check->where(name) + ": " + name + ": " +
                                   log_text(message, kMaxLogMessage));
}

moat_host make_host() {
  moat_host h{};
  h.abi_version = MOAT_MODULE_ABI_VERSION;
  h.struct_size = sizeof(moat_host);
  h.opt_bool = host_opt_bool;
  h.opt_uint = host_opt_uint;
  h.opt_string = host_opt_string;
  h.log = host_log;
  h.shared_alloc = host_shared_alloc;
  h.reply = host_reply;
  h.privileged = host_privileged;
  h.rate_limit = host_rate_limit;
  h.check_error = host_check_error;
  return h;
}

const moat_host g_host = make_host();  // constant: the same table for every module

}  // namespace

const moat_host* module_host() { return &g_host; }

moat_ctx module_ctx(ModuleContext& mc) { return moat_ctx{&g_host, nullptr, &mc}; }

}  // namespace moat

// SPDX-License-Identifier: GPL-2.0-or-later
// The worker's side of modules: their session, command and transfer hooks, and the
// services host->reply, host->privileged and host->rate_limit give them here.
#include <fcntl.h>
#include <sys/socket.h>

#include "core/host/modules.hpp"
#include "core/session/session.hpp"
#include "privsep/ipc.hpp"

namespace moat {
namespace {

constexpr timeval kProgressInterval{0, 500 * 1000};

moat_transfer describe(const Transfer& x, bool complete) {
  moat_transfer t{};
  t.upload = x.upload() ? 1 : 0;
  t.listing = x.spec().kind == TransferSpec::kSendBuffer ? 1 : 0;
  t.path = x.spec().log_path.c_str();
  t.bytes = x.bytes();
  t.complete = complete ? 1 : 0;
  return t;
}

}  // namespace

void Session::modules_start() {
  ModuleRegistry* m = cfg.modules.get();
  if (m == nullptr || m->size() == 0) return;
  m->bind(&cfg);
  m->bind_worker(this);
  std::string peer_text = sockaddr_host_text(st.peer);
  moat_conn conn{st.peer, st.local, peer_text.c_str()};
  m->session_start(conn, st.logged_in ? st.user : std::string(), st.anonymous, st.logged_in);
}

int Session::modules_command_pre(const std::string& verb, const std::string& arg) {
  ModuleRegistry* m = cfg.modules.get();
  if (m == nullptr || m->size() == 0) return MOAT_CONTINUE;
  if (!st.logged_in && !m->declares_preauth(verb)) return MOAT_CONTINUE;
  return m->command_pre(verb, arg);
}

void Session::modules_command_post(const std::string& verb, const std::string& arg) {
  ModuleRegistry* m = cfg.modules.get();
  if (m == nullptr || m->size() == 0 || !st.logged_in) return;
  m->command_post(verb, arg, last_reply_code_);
}

void Session::modules_file_created(int fd, const std::string& path) {
  ModuleRegistry* m = cfg.modules.get();
  if (m != nullptr && !m->file_created(fd, path)) end_silently();
}

void Session::modules_transfer(int phase, bool complete) {
  ModuleRegistry* m = cfg.modules.get();
  if (m == nullptr || !xfer_ || !m->has_transfer_hooks()) return;
  switch (phase) {
    case kBegin:
      m->transfer_begin(describe(*xfer_, false));
      arm_progress_timer();
      break;
    case kProgress:
      m->transfer_progress(describe(*xfer_, false));
      arm_progress_timer();
      break;
    default:
      progress_ev_.reset();
      m->transfer_end(describe(*xfer_, complete));
      break;
  }
}

void Session::arm_progress_timer() {
  if (!progress_ev_) {
    auto cb = [](evutil_socket_t, short, void* self) {
      static_cast<Session*>(self)->modules_transfer(kProgress);
    };
    progress_ev_.reset(evtimer_new(base.get(), cb, this));
  }
  evtimer_add(progress_ev_.get(), &kProgressInterval);
}

// Before login a module has nothing to ask for: the helper would end the session
// for an out-of-state request, so the worker refuses it here.
int Session::privileged(uint16_t module, uint16_t type, std::span<const uint8_t> payload,
                        int fd) {
  if (!st.logged_in) return -1;
  if (fd >= 0 && fcntl(fd, F_GETFD) < 0) return -1;  // a module's bad descriptor is its error
  ModulePrivRequest req{module, type, {payload.begin(), payload.end()}};
  auto res = ipc_call(st.helper_fd, req, std::span(&fd, fd >= 0 ? 1 : 0));
  if (!res) end_silently();
  return res->body.ok ? 0 : -1;
}

void Session::rate_limit(uint64_t bytes_per_second) {
  if (xfer_) xfer_->set_rate_limit(bytes_per_second);
}

}  // namespace moat

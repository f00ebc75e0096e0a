// SPDX-License-Identifier: GPL-2.0-or-later
// The post-login worker's process title: IDLE, or the running transfer's command and
// its bytes so far, refreshed once a second while it runs (ps, moatftpd --who).
#include "core/common/proctitle.hpp"
#include "core/session/session.hpp"

namespace moat {
namespace {

constexpr timeval kTitleInterval{1, 0};

}  // namespace

// Called after every command and at the end of each transfer; a transfer that ends
// without transfer_done (ABOR, a data connection that never came) is noticed by the
// timer, which stops once the title says IDLE again.
void Session::title_update() {
  if (!st.logged_in) return;  // the pre-login worker shows its helper's title
  const std::string client = sockaddr_host_text(st.peer);
  const std::string user = proctitle_user(st.user, st.anonymous && !st.guest);
  if (!transferring()) {
    title_ev_.reset();
    return proctitle_set(proctitle_worker(client, user, "", "", -1));
  }
  const int64_t bytes = xfer_ ? static_cast<int64_t>(xfer_->bytes()) : 0;
  proctitle_set(proctitle_worker(client, user, title_verb_, title_arg_, bytes));
  if (!title_ev_) {
    auto cb = [](evutil_socket_t, short, void* self) {
      static_cast<Session*>(self)->title_update();
    };
    title_ev_.reset(evtimer_new(base.get(), cb, this));
  }
  evtimer_add(title_ev_.get(), &kTitleInterval);
}

void Session::title_command(const std::string& verb, const std::string& arg) {
  title_verb_ = verb;
  title_arg_ = arg;
  title_update();
}

}  // namespace moat

// SPDX-License-Identifier: GPL-2.0-or-later
// Both ends of the master <-> helper link. The messages use the IPC framing and
// decoders of privsep/ipc; the master checks type, size and descriptors of each.
#include "privsep/master_link.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>

#include <string>

namespace moat {
namespace {

UniqueFd g_helper_end;

}  // namespace

Result<MasterLinkPair> master_link_pair() {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
    return fail("master link: socketpair: " + errno_text(errno));
  }
  MasterLinkPair pair{UniqueFd(sv[0]), UniqueFd(sv[1])};
  const int flags = fcntl(pair.master.get(), F_GETFL);
  if (flags < 0 || fcntl(pair.master.get(), F_SETFL, flags | O_NONBLOCK) != 0) {
    return fail("master link: O_NONBLOCK: " + errno_text(errno));
  }
  return pair;
}

Result<std::optional<LoginFailed>> master_link_receive(int fd) {
  auto msg = ipc_recv(fd);
  if (!msg) {
    if (msg.error() == "ipc: peer closed") return std::optional<LoginFailed>();
    return fail(msg.error());
  }
  if (msg->type != MsgType::kLoginFailed) {
    return fail("unexpected message type " + std::to_string(static_cast<unsigned>(msg->type)));
  }
  if (!msg->fds.empty()) return fail("message with a descriptor");
  auto event = decode<LoginFailed>(msg->payload);
  if (!event) return fail(event.error());
  return std::optional<LoginFailed>(std::move(*event));
}

bool master_link_readable(int fd) {
  pollfd p{fd, POLLIN, 0};
  return poll(&p, 1, 0) == 1 && (p.revents & (POLLIN | POLLHUP | POLLERR)) != 0;
}

// Non-blocking: a master too busy to read loses the event rather than stalling a login.
void master_link_adopt(UniqueFd fd) {
  g_helper_end = std::move(fd);
  const int flags = g_helper_end ? fcntl(g_helper_end.get(), F_GETFL) : -1;
  if (flags >= 0) fcntl(g_helper_end.get(), F_SETFL, flags | O_NONBLOCK);
}

int master_link_fd() { return g_helper_end.get(); }

void master_link_login_failed(std::string_view user) {
  if (!g_helper_end) return;
  (void)ipc_send(g_helper_end.get(), LoginFailed{std::string(user.substr(0, kMaxUserLen))});
}

}  // namespace moat

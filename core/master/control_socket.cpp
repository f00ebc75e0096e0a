// SPDX-License-Identifier: GPL-2.0-or-later
// The control socket in the master's event loop. Only uid 0 is served (SO_PEERCRED),
// and the socket is 0600 besides; a request is one short line, read without blocking
// the loop, and an answer is written with a short send timeout: a root client that
// stops reading costs the master at most that.
#include "core/master/control_socket.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>

namespace moat {
namespace {

constexpr std::size_t kMaxRequest = 256;
constexpr timeval kRequestTimeout{5, 0};
constexpr timeval kSendTimeout{2, 0};

Result<sockaddr_un> unix_address(const std::string& path) {
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  if (path.size() >= sizeof a.sun_path) return fail("control_socket " + path + ": path too long");
  std::memcpy(a.sun_path, path.c_str(), path.size() + 1);
  return a;
}

bool peer_is_root(int fd) {
  ucred cred{};
  socklen_t len = sizeof cred;
  return getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0 && cred.uid == 0;
}

void send_answer(int fd, const std::string& text) {
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &kSendTimeout, sizeof kSendTimeout);
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  std::size_t off = 0;
  while (off < text.size()) {
    ssize_t n = send(fd, text.data() + off, text.size() - off, MSG_NOSIGNAL);
    if (n <= 0) return;
    off += static_cast<std::size_t>(n);
  }
}

}  // namespace

struct ControlSocket::Client {
  ControlSocket* owner = nullptr;
  UniqueFd fd;
  std::string request;
  std::unique_ptr<event, EventFree> ev;
};

Result<std::unique_ptr<ControlSocket>> ControlSocket::open(event_base* base,
                                                           const std::string& path,
                                                           Handler handler) {
  if (path.empty()) return std::unique_ptr<ControlSocket>();
  auto addr = unix_address(path);
  if (!addr) return fail(addr.error());
  UniqueFd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd) return fail("control_socket: socket: " + errno_text(errno));
  unlink(path.c_str());  // a socket left by a master that died; the pid file guards a live one
  const mode_t old = umask(0177);  // born 0600: no moment where others could connect
  const int rc = bind(fd.get(), reinterpret_cast<sockaddr*>(&*addr), sizeof *addr);
  umask(old);
  if (rc != 0 || listen(fd.get(), 16) != 0)
    return fail("control_socket " + path + ": " + errno_text(errno));
  return std::unique_ptr<ControlSocket>(
      new ControlSocket(base, path, std::move(fd), std::move(handler)));
}

ControlSocket::ControlSocket(event_base* base, std::string path, UniqueFd fd, Handler handler)
    : base_(base),
      path_(std::move(path)),
      fd_(std::move(fd)),
      handler_(std::move(handler)),
      owner_(getpid()) {
  auto cb = [](evutil_socket_t, short, void* self) {
    static_cast<ControlSocket*>(self)->on_accept();
  };
  ev_.reset(event_new(base_, fd_.get(), EV_READ | EV_PERSIST, cb, this));
  event_add(ev_.get(), nullptr);
}

ControlSocket::~ControlSocket() {
  if (owner_ == getpid()) unlink(path_.c_str());
}

void ControlSocket::on_accept() {
  UniqueFd fd(accept4(fd_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
  if (!fd || !peer_is_root(fd.get())) return;
  auto c = std::make_unique<Client>();
  c->owner = this;
  c->fd = std::move(fd);
  auto cb = [](evutil_socket_t, short what, void* arg) {
    auto* client = static_cast<Client*>(arg);
    client->owner->on_client(*client, what);
  };
  c->ev.reset(event_new(base_, c->fd.get(), EV_READ | EV_PERSIST, cb, c.get()));
  event_add(c->ev.get(), &kRequestTimeout);
  clients_.push_back(std::move(c));
}

// Reads until the request's newline; a client that sends too much, closes or
// dawdles is dropped without an answer.
void ControlSocket::on_client(Client& c, short what) {
  char buf[kMaxRequest];
  ssize_t n = (what & EV_READ) ? recv(c.fd.get(), buf, sizeof buf, 0) : 0;
  if (n > 0) c.request.append(buf, static_cast<std::size_t>(n));
  const std::size_t eol = c.request.find('\n');
  if (eol == std::string::npos && n > 0 && c.request.size() < kMaxRequest) return;
  if (eol != std::string::npos) send_answer(c.fd.get(), handler_(c.request.substr(0, eol)));
  std::erase_if(clients_, [&](const auto& p) { return p.get() == &c; });
}

int control_request(const std::string& path, const std::string& request) {
  auto addr = unix_address(path);
  if (!addr) {
    std::fprintf(stderr, "moatftpd: %s\n", addr.error().c_str());
    return 1;
  }
  UniqueFd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd || connect(fd.get(), reinterpret_cast<sockaddr*>(&*addr), sizeof *addr) != 0) {
    std::fprintf(stderr, "moatftpd: control_socket %s: %s\n", path.c_str(),
                 errno_text(errno).c_str());
    return 1;
  }
  const std::string line = request + "\n";
  if (send(fd.get(), line.data(), line.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(line.size()))
    return 1;
  std::string answer;
  char buf[4096];
  ssize_t n;
  while ((n = read(fd.get(), buf, sizeof buf)) > 0) answer.append(buf, static_cast<std::size_t>(n));
  std::fputs(answer.c_str(), stdout);
  if (answer.empty()) std::fprintf(stderr, "moatftpd: no answer (are you root?)\n");
  return answer.empty() || answer.starts_with("ERR") ? 1 : 0;
}

}  // namespace moat

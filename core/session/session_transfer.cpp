// SPDX-License-Identifier: GPL-2.0-or-later
// Data connections: PASV/EPSV listeners, PORT/EPRT connects (from port 20 through
// the helper when configured), and the transfers that run over them.
#include "core/session/transfer.hpp"

#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/bufferevent_ssl.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <algorithm>
#include <utility>

#include "core/protocol/ascii.hpp"
#include "core/session/session.hpp"
#include "privsep/ipc.hpp"

namespace moat {
namespace {

constexpr size_t kAsciiChunk = 64 * 1024;
constexpr size_t kListChunk = 64 * 1024;
constexpr size_t kMaxSingleWrite = 4 * 1024 * 1024;
constexpr size_t kMaxSingleRead = 1024 * 1024;
constexpr uint64_t kPumpBytes = 8 << 20;  // per wake-up, so commands (ABOR) get their turn
// How long a TLS data connection waits for the client's close_notify after ours:
// clients send it (or close) as soon as they have read ours, one round trip.
constexpr unsigned kCloseNotifyWaitMs = 2000;
constexpr int kMaxDiscardReads = 16;  // per wake-up, so a talkative client cannot hog the loop

// 452 when the disk is full, 552 over quota or size limits, 451 otherwise.
int write_failure_code(int err) {
  if (err == ENOSPC) return 452;
  if (err == EDQUOT || err == EFBIG) return 552;
  return 451;
}

timeval seconds_tv(unsigned s) { return timeval{static_cast<time_t>(s), 0}; }

timespec deadline_after(unsigned ms) {
  timespec t{};
  clock_gettime(CLOCK_MONOTONIC, &t);
  t.tv_sec += ms / 1000 + (t.tv_nsec + (ms % 1000) * 1000000L) / 1000000000L;
  t.tv_nsec = (t.tv_nsec + (ms % 1000) * 1000000L) % 1000000000L;
  return t;
}

timeval time_left(const timespec& deadline) {
  timespec now{};
  clock_gettime(CLOCK_MONOTONIC, &now);
  long long us = (deadline.tv_sec - now.tv_sec) * 1000000LL + (deadline.tv_nsec - now.tv_nsec) / 1000;
  if (us < 0) us = 0;
  return timeval{static_cast<time_t>(us / 1000000), static_cast<suseconds_t>(us % 1000000)};
}

}  // namespace

// ---- Transfer ----------------------------------------------------------------

Transfer::Transfer(event_base* base, TransferSpec spec, unsigned timeout_seconds, Done done)
    : base_(base), spec_(std::move(spec)), timeout_(timeout_seconds), done_(std::move(done)) {
  clock_gettime(CLOCK_MONOTONIC, &started_);
}

Transfer::~Transfer() {
  tls_sender_.reset();  // gives the SSL its socket back before bev_ frees both
  if (close_ev_) event_free(close_ev_);
  if (sock_ev_) event_free(sock_ev_);
  if (bev_) bufferevent_free(bev_);
  if (rate_cfg_) ev_token_bucket_cfg_free(rate_cfg_);
  if (segment_) evbuffer_file_segment_free(segment_);  // after the chains using it
}

// Under a rate limit: the bytes one 100 ms tick allows (never 0).
// Rates below 10 bytes/s (vsftpd accepts them) refill once a second instead, so that
// a tick never rounds up to more than the rate asked for.
namespace {
constexpr uint64_t kTicksPerSecond = 10;

bool slow_rate(uint64_t rate) { return rate < kTicksPerSecond; }
}  // namespace

uint64_t Transfer::tick_bytes() const {
  if (slow_rate(rate_)) return rate_;
  return std::min<uint64_t>(rate_ / kTicksPerSecond, EV_RATE_LIMIT_MAX);
}

// A token bucket refilled every 100 ms (1 s below 10 bytes/s), in both directions; its
// burst is one tick's worth, so a transfer never runs ahead of the rate by more than
// one tick of data.
void Transfer::set_rate_limit(uint64_t bytes_per_second) {
  rate_ = bytes_per_second;
  if (sock_ev_ && rate_ > 0) {  // the bucket is a bufferevent's
    if (tls_sender_) tls_sender_->stop();  // the rest moves once its batch has left
    if (file_sender_) send_rest_through_bufferevent();
    if (upload()) read_through_bufferevent();
  }
  if (!bev_) return;  // applied by start()
  ev_token_bucket_cfg* old = rate_cfg_;
  rate_cfg_ = nullptr;
  if (rate_ > 0) {
    const timeval tick_len = slow_rate(rate_) ? timeval{1, 0} : timeval{0, 100 * 1000};
    const uint64_t tick = tick_bytes();
    rate_cfg_ = ev_token_bucket_cfg_new(tick, tick, tick, tick, &tick_len);
  }
  bufferevent_set_rate_limit(bev_, rate_cfg_);
  if (rate_cfg_ && !old) {  // a new bucket starts full: empty it, or the first tick is free
    bufferevent_decrement_read_limit(bev_, static_cast<ev_ssize_t>(tick_bytes()));
    bufferevent_decrement_write_limit(bev_, static_cast<ev_ssize_t>(tick_bytes()));
  }
  if (old) ev_token_bucket_cfg_free(old);
}

double Transfer::seconds() const {
  timespec now{};
  clock_gettime(CLOCK_MONOTONIC, &now);
  return static_cast<double>(now.tv_sec - started_.tv_sec) +
         static_cast<double>(now.tv_nsec - started_.tv_nsec) / 1e9;
}

void Transfer::start(int data_fd, DataTls tls) {
  clock_gettime(CLOCK_MONOTONIC, &started_);
  if (upload()) sink_ = std::make_unique<UploadSink>(spec_.file.get(), spec_.ascii);
  if (upload() && !tls.ssl && rate_ == 0) return read_directly(data_fd);
  if (spec_.kind == TransferSpec::kSendFile && !tls.ssl && !spec_.ascii && rate_ == 0)
    return send_file_directly(data_fd);
  open_bufferevent(data_fd, std::move(tls));
  if (rate_ > 0) set_rate_limit(rate_);
  if (handshaking_) {  // nothing moves before the handshake and the reuse check
    bufferevent_enable(bev_, EV_READ);
    return;
  }
  begin_io();
}

void Transfer::open_bufferevent(int fd, DataTls tls) {
  if (tls.ssl) {
    tls_ = handshaking_ = true;
    reuse_tag_ = std::move(tls.reuse_tag);
    strict_shutdown_ = tls.strict_shutdown;
    if (!tls.strict_eof) SSL_set_options(tls.ssl.get(), SSL_OP_IGNORE_UNEXPECTED_EOF);
    bev_ = bufferevent_openssl_socket_new(base_, fd, tls.ssl.release(),
                                          BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
    // Without strict_ssl_read_eof a client that closes without close_notify still
    // ends its upload (OpenSSL's SSL_OP_IGNORE_UNEXPECTED_EOF is set when strict is off).
    bufferevent_openssl_set_allow_dirty_shutdown(bev_, tls.strict_eof ? 0 : 1);
  } else {
    bev_ = bufferevent_socket_new(base_, fd, BEV_OPT_CLOSE_ON_FREE);
  }
  bufferevent_set_max_single_write(bev_, kMaxSingleWrite);
  bufferevent_set_max_single_read(bev_, kMaxSingleRead);
  if (timeout_) {
    timeval tv = seconds_tv(timeout_);
    bufferevent_set_timeouts(bev_, &tv, &tv);
  }
  bufferevent_setcb(bev_, on_read, on_write, on_event, this);
}

// A plain upload without a rate limit is read without a bufferevent, whose reads are
// 4 KiB each (libevent 2.1) and whose buffer is one more copy: the sink takes the
// bytes from the socket itself. The event's timeout restarts whenever data comes.
void Transfer::read_directly(int fd) {
  sock_.reset(fd);
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);  // a step ends when the socket is dry
  sock_ev_ = event_new(base_, fd, EV_READ | EV_PERSIST, on_socket_ready, this);
  timeval tv = seconds_tv(timeout_);
  event_add(sock_ev_, timeout_ ? &tv : nullptr);
}

// A rate limit set during a direct upload: the rest goes through a throttled
// bufferevent. The sink holds no bytes between steps, so nothing is reordered.
void Transfer::read_through_bufferevent() {
  event_free(std::exchange(sock_ev_, nullptr));
  open_bufferevent(sock_.release(), DataTls{});
  begin_io();  // reading only: an idle write side would report the end
}

// A plain binary download needs no buffer: the file goes by sendfile(2) as the socket
// takes it. The first step runs from the loop at once (a fresh socket has room), and
// the write event is added only when the socket fills, so a small file costs no
// event changes at all; being persistent, it costs none per wake-up either.
void Transfer::send_file_directly(int fd) {
  sock_.reset(fd);
  remaining_ = spec_.length;
  file_sender_ = std::make_unique<FileSender>(fd, spec_.file.get(), remaining_);
  sock_ev_ = event_new(base_, fd, EV_WRITE | EV_PERSIST, on_send_ready, this);
  event_active(sock_ev_, EV_WRITE, 0);
}

void Transfer::keep_waiting_to_write() {
  if (event_pending(sock_ev_, EV_WRITE, nullptr)) return;
  timeval tv = seconds_tv(timeout_);
  event_add(sock_ev_, timeout_ ? &tv : nullptr);
}

void Transfer::on_socket_ready(evutil_socket_t fd, short what, void* self) {
  auto* t = static_cast<Transfer*>(self);
  if (what & EV_TIMEOUT) return t->finish(false, 421, "Data timeout. Reconnect. Sorry.");
  UploadSink::Step step = t->sink_->pump(fd, kPumpBytes);
  t->bytes_ += step.bytes;
  switch (step.status) {
    case UploadSink::Status::kMoved:
    case UploadSink::Status::kWouldBlock:
      return;
    case UploadSink::Status::kEof:
      return t->finish_upload();
    case UploadSink::Status::kReadError:
      return t->finish(false, 426, "Failure reading network stream.");
    case UploadSink::Status::kWriteError:
      return t->finish(false, write_failure_code(step.err), "Failure writing to local file.");
  }
}

void Transfer::begin_io() {
  switch (spec_.kind) {
    case TransferSpec::kSendBuffer:
      evbuffer_add(bufferevent_get_output(bev_), spec_.buffer.data(), spec_.buffer.size());
      bytes_ = spec_.buffer.size();
      queued_all_ = !spec_.listing;
      if (spec_.listing) fill_listing();
      break;
    case TransferSpec::kSendFile:
      remaining_ = spec_.length;
      if (tls_ && !spec_.ascii && rate_ == 0 && remaining_ > 0) return send_tls_directly();
      queue_file();
      break;
    case TransferSpec::kRecvFile:
      bufferevent_enable(bev_, EV_READ);
      bufferevent_disable(bev_, EV_WRITE);
      return;
  }
  start_writing();
}

// A binary file goes out as pieces of one file segment; ASCII is converted as it goes.
void Transfer::queue_file() {
  if (!spec_.ascii && remaining_ > 0) {
    off_t offset = lseek(spec_.file.get(), 0, SEEK_CUR);
    segment_ = evbuffer_file_segment_new(spec_.file.get(), offset,
                                         static_cast<ev_off_t>(remaining_),
                                         EVBUF_FS_CLOSE_ON_FREE);
    if (segment_) spec_.file.release();
  }
  fill_output();
}

void Transfer::start_writing() {
  bufferevent_enable(bev_, EV_WRITE);
  bufferevent_disable(bev_, EV_READ);
  // An empty payload never drains: run the write callback once anyway.
  bufferevent_trigger(bev_, EV_WRITE, BEV_TRIG_IGNORE_WATERMARKS | BEV_TRIG_DEFER_CALLBACKS);
}

// After the handshake the bufferevent stands aside (it would make a write(2) of each
// record) until the close: the sender batches records (tls_file_sender.hpp).
void Transfer::send_tls_directly() {
  bufferevent_disable(bev_, EV_READ | EV_WRITE);
  const int fd = bufferevent_getfd(bev_);
  tls_sender_ = std::make_unique<TlsFileSender>(bufferevent_openssl_get_ssl(bev_), fd,
                                                spec_.file.get(), remaining_);
  sock_ev_ = event_new(base_, fd, EV_WRITE | EV_PERSIST, on_send_ready, this);
  keep_waiting_to_write();
}

// A rate limit set during a binary download: the rest goes through the throttled
// bufferevent (a plain one made now), from the file's offset the sender reached.
void Transfer::send_rest_through_bufferevent() {
  remaining_ = tls_sender_ ? tls_sender_->remaining() : file_sender_->remaining();
  tls_sender_.reset();
  file_sender_.reset();
  event_free(std::exchange(sock_ev_, nullptr));
  if (!bev_) open_bufferevent(sock_.release(), DataTls{});
  queue_file();
  start_writing();
}

// Either sender's step: a TLS sender's event waits from the start, a plain one's is
// added when needed.
void Transfer::on_send_ready(evutil_socket_t, short what, void* self) {
  auto* t = static_cast<Transfer*>(self);
  if (what & EV_TIMEOUT) return t->finish(false, 421, "Data timeout. Reconnect. Sorry.");
  SendStep step = t->tls_sender_ ? t->tls_sender_->pump(kPumpBytes)
                                 : t->file_sender_->pump(kPumpBytes);
  t->bytes_ += step.bytes;
  switch (step.status) {
    case SendStatus::kMoved:
    case SendStatus::kWouldBlock:
      return t->keep_waiting_to_write();
    case SendStatus::kStopped:
      return t->send_rest_through_bufferevent();
    case SendStatus::kDone:
      return t->finish(true, 226, t->spec_.complete);
    case SendStatus::kWriteError:
      return t->finish(false, 426, "Failure writing network stream.");
  }
}

// ASCII downloads are converted a chunk at a time as the socket drains.
// Binary downloads go out in pieces of the file segment (sendfile without TLS):
// libevent sends a whole piece at once whatever the token bucket says, so under a
// rate limit a piece is one tick's worth; otherwise it is large.
uint64_t Transfer::piece_size() const {
  constexpr uint64_t kUnlimitedPiece = 16 << 20;
  return rate_ > 0 ? std::max<uint64_t>(tick_bytes(), 4096) : kUnlimitedPiece;
}

uint64_t Transfer::bytes() const {
  if (upload() || bev_ == nullptr) return bytes_;
  return bytes_ - evbuffer_get_length(bufferevent_get_output(bev_));  // moved, not queued
}

// A listing is produced as the socket drains, like ASCII: the first lines leave
// while later entries are still to be stat'ed, and a large directory never sits
// whole in memory.
void Transfer::fill_listing() {
  std::string chunk;
  chunk.reserve(kListChunk + 4096);
  queued_all_ = !spec_.listing->fill(chunk, kListChunk);
  if (queued_all_) spec_.listing.reset();  // closes its directories now
  bytes_ += chunk.size();
  evbuffer_add(bufferevent_get_output(bev_), chunk.data(), chunk.size());
}

void Transfer::fill_output() {
  if (spec_.listing) return fill_listing();
  if (remaining_ == 0) {
    queued_all_ = true;
    return;
  }
  if (segment_) {
    uint64_t piece = std::min(remaining_, piece_size());
    evbuffer_add_file_segment(bufferevent_get_output(bev_), segment_,
                              static_cast<ev_off_t>(segment_pos_), static_cast<ev_off_t>(piece));
    segment_pos_ += piece;
    remaining_ -= piece;
    bytes_ += piece;
    queued_all_ = remaining_ == 0;
    return;
  }
  std::string in(std::min<uint64_t>(remaining_, kAsciiChunk), '\0');
  ssize_t n = read(spec_.file.get(), in.data(), in.size());
  if (n <= 0) {
    remaining_ = 0;  // the file shrank: send what there was
    queued_all_ = true;
    return;
  }
  in.resize(static_cast<size_t>(n));
  remaining_ -= static_cast<uint64_t>(n);
  queued_all_ = remaining_ == 0;
  std::string out;
  ascii_lf_to_crlf(in, out, prev_cr_);
  bytes_ += out.size();
  evbuffer_add(bufferevent_get_output(bev_), out.data(), out.size());
}

bool Transfer::drain_input() {
  evbuffer* in = bufferevent_get_input(bev_);
  while (size_t len = evbuffer_get_contiguous_space(in)) {
    const char* p = reinterpret_cast<const char*>(evbuffer_pullup(in, static_cast<ev_ssize_t>(len)));
    if (!sink_->write({p, len})) return false;
    bytes_ += len;
    evbuffer_drain(in, len);
  }
  return true;
}

// The client's end of an upload: what is still buffered goes to the file, then the
// file is closed, which can fail too (a quota on a network file system).
void Transfer::finish_upload() {
  if ((bev_ && !drain_input()) || !sink_->flush() || close(spec_.file.release()) != 0)
    return finish(false, write_failure_code(errno), "Failure writing to local file.");
  finish(true, 226, spec_.complete);
}

// The final reply goes out only once the data connection is closed (RFC 959, and
// what vsftpd does): a client may take the reply as the end of the data. Over TLS
// the close is clean first (tls_close_step).
void Transfer::finish(bool ok, int code, const std::string& text) {
  tls_sender_.reset();  // the close_notify goes through the socket BIO again
  file_sender_.reset();
  if (sock_ev_) event_del(sock_ev_);
  if (bev_) {
    bufferevent_disable(bev_, EV_READ | EV_WRITE);
    bufferevent_setcb(bev_, nullptr, nullptr, nullptr, nullptr);  // no deferred callback after this
  }
  outcome_ = {ok, code, text};
  if (tls_ && ok) return tls_close_step();
  close_and_report();
}

void Transfer::close_and_report() {
  bytes_ = bytes();  // downloads: what left, before the unsent rest goes with the buffer
  if (close_ev_) event_free(std::exchange(close_ev_, nullptr));
  if (sock_ev_) event_free(std::exchange(sock_ev_, nullptr));
  sock_.reset();
  if (bev_) {
    // libevent closes the descriptor only later, from its loop: the FIN goes out now.
    shutdown(bufferevent_getfd(bev_), SHUT_WR);
    bufferevent_free(std::exchange(bev_, nullptr));
  }
  Outcome o = std::move(outcome_);
  done_(o.ok, o.code, o.text);  // may destroy this: nothing after
}

// A clean TLS end: our close_notify, then the client's awaited (anything before it is
// discarded), then FIN. Closing before the client's close_notify arrives would answer
// it with a reset. The wait is short unless strict_ssl_write_shutdown makes the
// client's close_notify the proof of a complete download; it never blocks the loop.
void Transfer::tls_close_step() {
  SSL* ssl = bufferevent_openssl_get_ssl(bev_);
  ERR_clear_error();
  if (!close_notify_sent_) {
    int rc = SSL_shutdown(ssl);
    if (rc == 1) return close_and_report();  // theirs came first (an upload's end)
    if (rc < 0 && SSL_get_error(ssl, rc) == SSL_ERROR_WANT_WRITE) return tls_close_wait(EV_WRITE);
    if (rc < 0) return close_and_report();  // a broken connection: nothing more to say
    close_notify_sent_ = true;
  }
  char sink[4096];
  int n = 0;
  for (int i = 0; i < kMaxDiscardReads && (n = SSL_read(ssl, sink, sizeof sink)) > 0; ++i) {
  }
  int err = n > 0 ? SSL_ERROR_WANT_READ : SSL_get_error(ssl, n);  // more later: back to the loop
  if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE)
    return tls_close_wait(err == SSL_ERROR_WANT_READ ? EV_READ : EV_WRITE);
  ERR_clear_error();
  if (!(SSL_get_shutdown(ssl) & SSL_RECEIVED_SHUTDOWN)) require_confirmation();
  close_and_report();
}

// strict_ssl_write_shutdown: a download counts only when the client confirmed it.
void Transfer::require_confirmation() {
  if (strict_shutdown_ && !upload())
    outcome_ = {false, 426, "Failure writing network stream: no TLS shutdown from the client."};
}

void Transfer::tls_close_wait(short what) {
  if (close_ev_) {
    event_free(close_ev_);
  } else {  // the first wait starts the clock
    unsigned strict_ms = (timeout_ ? std::min(timeout_, 10u) : 10u) * 1000;
    close_deadline_ = deadline_after(strict_shutdown_ ? strict_ms : kCloseNotifyWaitMs);
  }
  close_ev_ = event_new(base_, bufferevent_getfd(bev_), what, on_close_ready, this);
  timeval left = time_left(close_deadline_);
  event_add(close_ev_, &left);
}

void Transfer::on_close_ready(evutil_socket_t, short what, void* self) {
  auto* t = static_cast<Transfer*>(self);
  if (!(what & EV_TIMEOUT)) return t->tls_close_step();
  t->require_confirmation();
  t->close_and_report();
}

void Transfer::on_read(bufferevent*, void* self) {
  auto* t = static_cast<Transfer*>(self);
  if (!t->drain_input()) t->finish(false, write_failure_code(errno), "Failure writing to local file.");
}

void Transfer::on_write(bufferevent* bev, void* self) {
  auto* t = static_cast<Transfer*>(self);
  evbuffer* out = bufferevent_get_output(bev);
  if (evbuffer_get_length(out) > 0) return;
  if (!t->queued_all_) t->fill_output();
  if (evbuffer_get_length(out) > 0) return;
  t->finish(true, 226, t->spec_.complete);
}

void Transfer::on_event(bufferevent* bev, short what, void* self) {
  auto* t = static_cast<Transfer*>(self);
  if (what & BEV_EVENT_CONNECTED) {
    t->handshaking_ = false;
    if (!t->reuse_tag_.empty() &&
        !tls_resumed_control_session(bufferevent_openssl_get_ssl(bev), t->reuse_tag_))
      return t->finish(false, 522, "SSL connection failed: session reuse required");
    return t->begin_io();
  }
  if (t->handshaking_) {
    if (what & BEV_EVENT_TIMEOUT) return t->finish(false, 421, "Data timeout. Reconnect. Sorry.");
    return t->finish(false, 522, "SSL connection failed: " + tls_error_text());
  }
  if (what & BEV_EVENT_TIMEOUT) return t->finish(false, 421, "Data timeout. Reconnect. Sorry.");
  if (t->upload() && (what & BEV_EVENT_EOF)) return t->finish_upload();
  t->finish(false, 426,
            t->upload() ? "Failure reading network stream." : "Failure writing network stream.");
}

// ---- Session: data connection set-up -----------------------------------------

void Session::clear_data_setup() {
  pasv_fd_.reset();
  port_target_.reset();
  connecting_fd_.reset();
  setup_ev_.reset();
}

static uint16_t bound_port(int fd) {
  sockaddr_storage bound{};
  socklen_t len = sizeof bound;
  getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &len);
  return sockaddr_port(bound);
}

// Listens on the first free port of `tries` in lo..hi, from a random one on; lo == 0
// asks the kernel for any port.
static Result<PassiveSocket> listen_in_range(sockaddr_storage local, unsigned lo, unsigned hi,
                                             unsigned tries) {
  if (lo == 0 || hi == 0 || lo > hi) lo = hi = 0;  // any port
  unsigned span = hi - lo + 1;
  unsigned first = lo ? static_cast<unsigned>(arc4random_uniform(span)) : 0;
  for (unsigned i = 0; i < (lo ? std::min(span, tries) : 1); ++i) {
    unsigned port = lo ? lo + (first + i) % span : 0;
    UniqueFd fd(socket(local.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (!fd) return fail(errno_text(errno));
    if (local.ss_family == AF_INET)
      reinterpret_cast<sockaddr_in&>(local).sin_port = htons(port);
    else
      reinterpret_cast<sockaddr_in6&>(local).sin6_port = htons(port);
    socklen_t len = local.ss_family == AF_INET ? sizeof(sockaddr_in) : sizeof(sockaddr_in6);
    // A port whose last data connection is in TIME_WAIT is free to listen on again:
    // without this an 11-port range runs dry after 11 transfers a minute.
    int one = 1;
    setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd.get(), reinterpret_cast<sockaddr*>(&local), len) == 0 && listen(fd.get(), 1) == 0)
      return PassiveSocket{std::move(fd), port ? static_cast<uint16_t>(port) : bound_port(fd.get())};
    if (errno != EADDRINUSE) return fail(errno_text(errno));
  }
  return fail("no free port in pasv_min_port..pasv_max_port");
}

// Without pasv_min_port/pasv_max_port the port is drawn here from the kernel's own
// ephemeral range, as bind(0) would: bind(0) first looks for a port that not even a
// TIME_WAIT socket holds, and once thousands of data connections have ended (one per
// small file) that search took most of a session's CPU. A drawn port is one lookup;
// SO_REUSEADDR lets it take over from TIME_WAIT. The kernel chooses when a few draws
// find nothing.
Result<PassiveSocket> Session::pasv_listen(const sockaddr_storage& local) const {
  constexpr unsigned kDraws = 16;
  if (cfg.pasv_min_port && cfg.pasv_max_port && cfg.pasv_min_port <= cfg.pasv_max_port)
    return listen_in_range(local, cfg.pasv_min_port, cfg.pasv_max_port, UINT_MAX);
  auto fd = listen_in_range(local, ctx.ephemeral_ports.first, ctx.ephemeral_ports.second, kDraws);
  return fd ? std::move(fd) : listen_in_range(local, 0, 0, 1);
}

void Session::cmd_pasv(bool extended, EpsvArg which) {
  if (!cfg.pasv_enable) return deny("pasv_enable=NO");
  sockaddr_storage local = st.local;
  sockaddr_unmap(local);
  if ((which == EpsvArg::kIpv4 && local.ss_family != AF_INET) ||
      (which == EpsvArg::kIpv6 && local.ss_family != AF_INET6))
    return reply(522, local.ss_family == AF_INET ? "Network protocol not supported, use (1)"
                                                 : "Network protocol not supported, use (2)");
  if (!extended && local.ss_family != AF_INET && !ctx.pasv_address)
    return reply(425, "PASV needs IPv4; use EPSV.");
  clear_data_setup();
  auto fd = pasv_listen(local);
  if (!fd) return reply(425, "Cannot open passive connection: " + fd.error());
  pasv_fd_ = std::move(fd->fd);
  const uint16_t port = fd->port;
  if (extended) return reply_raw(format_epsv_reply(port) + "\r\n");
  in_addr adv = ctx.pasv_address ? *ctx.pasv_address
                                 : reinterpret_cast<const sockaddr_in&>(local).sin_addr;
  reply_raw(format_pasv_reply(adv, port) + "\r\n");
}

void Session::cmd_port(const sockaddr_storage& target) {
  if (!cfg.port_enable) return deny("port_enable=NO");
  sockaddr_storage t = target;
  sockaddr_unmap(t);
  if (!cfg.port_promiscuous && (!same_host(t, st.peer) || sockaddr_port(t) < 1024))
    return reply(500, "Illegal PORT command.");
  clear_data_setup();
  port_target_ = t;
  reply(200, "PORT command successful. Consider using PASV.");
}

void Session::start_transfer(TransferSpec spec) {
  if (!data_setup()) return reply(425, "Use PORT or PASV first.");
  if (data_must_be_private())
    return refuse(522, "Data connections must be encrypted.", "TLS required for data");
  xfer_ = std::make_unique<Transfer>(
      base.get(), std::move(spec), cfg.data_connection_timeout,
      [this](bool ok, int code, const std::string& text) { transfer_done(ok, code, text); });
  auto timeout_cb = [](evutil_socket_t, short what, void* self) {
    auto* s = static_cast<Session*>(self);
    if (what & EV_TIMEOUT) return s->on_setup_timeout();
    if (s->pasv_fd_) return s->on_pasv_accept();
    s->on_connect_done();
  };
  if (pasv_fd_) {
    // Clients connect as soon as they have read the 227/229, before they send the
    // command: the connection is usually queued already and is taken without a wait.
    if (take_passive_connection()) return;
    setup_ev_.reset(event_new(base.get(), pasv_fd_.get(), EV_READ, timeout_cb, this));
    timeval tv = seconds_tv(cfg.accept_timeout);
    event_add(setup_ev_.get(), cfg.accept_timeout ? &tv : nullptr);
    return;
  }
  begin_active_connect();
  if (!connecting_fd_) return;
  setup_ev_.reset(event_new(base.get(), connecting_fd_.get(), EV_WRITE, timeout_cb, this));
  timeval tv = seconds_tv(cfg.connect_timeout);
  event_add(setup_ev_.get(), cfg.connect_timeout ? &tv : nullptr);
}

// With connect_from_port_20 the socket comes connected from the helper (root); the
// write event then fires at once and on_connect_done finds it ready.
void Session::begin_active_connect() {
  sockaddr_storage target = *port_target_;
  UniqueFd fd;
  if (cfg.connect_from_port_20) {
    auto res = ipc_call(st.helper_fd, Port20Request{target});
    if (!res) end_silently();
    if (!res->body.ok || res->fds.size() != 1) {
      xfer_.reset();
      clear_data_setup();
      return reply(425, "Failed to establish connection: " + res->body.text);
    }
    connecting_fd_ = std::move(res->fds[0]);
    fcntl(connecting_fd_.get(), F_SETFL, fcntl(connecting_fd_.get(), F_GETFL) | O_NONBLOCK);
    return;
  } else {
    fd.reset(socket(target.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0));
  }
  if (fd) fcntl(fd.get(), F_SETFL, fcntl(fd.get(), F_GETFL) | O_NONBLOCK);
  socklen_t len = target.ss_family == AF_INET ? sizeof(sockaddr_in) : sizeof(sockaddr_in6);
  if (!fd || (connect(fd.get(), reinterpret_cast<sockaddr*>(&target), len) != 0 &&
              errno != EINPROGRESS)) {
    xfer_.reset();
    clear_data_setup();
    return reply(425, "Failed to establish connection.");
  }
  connecting_fd_ = std::move(fd);
}

void Session::on_connect_done() {
  int err = 0;
  socklen_t len = sizeof err;
  getsockopt(connecting_fd_.get(), SOL_SOCKET, SO_ERROR, &err, &len);
  if (err != 0) {
    xfer_.reset();
    clear_data_setup();
    return reply(425, "Failed to establish connection.");
  }
  on_connected(connecting_fd_.release());
}

// A passive connection from anyone but the control peer is refused (data
// connection stealing) unless pasv_promiscuous=YES, or it comes through a trusted
// balancer that balances the passive ports too (proxy_data_from_balancer=YES).
void Session::on_pasv_accept() {
  if (!take_passive_connection()) on_setup_timeout();  // woken, yet nothing to accept
}

// false when no connection is waiting yet; otherwise the transfer has started or
// been refused.
bool Session::take_passive_connection() {
  sockaddr_storage peer{};
  socklen_t len = sizeof peer;
  int fd = accept4(pasv_fd_.get(), reinterpret_cast<sockaddr*>(&peer), &len,
                   SOCK_CLOEXEC | SOCK_NONBLOCK);
  if (fd < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return false;
  if (fd < 0) {
    on_setup_timeout();
    return true;
  }
  const bool via_balancer = cfg.proxy_data_from_balancer && ctx.proxy_from.contains(peer);
  if (!cfg.pasv_promiscuous && !via_balancer && !same_host(peer, st.peer)) {
    close(fd);
    xfer_.reset();
    clear_data_setup();
    log_event("FAIL: data connection from " + sockaddr_host_text(peer) + " refused");
    reply(425, "Security: Bad IP connecting.");
    return true;
  }
  on_connected(fd);
  return true;
}

void Session::on_setup_timeout() {
  xfer_.reset();
  clear_data_setup();
  reply(425, "Failed to establish connection.");
}

// fd is non-blocking already (accept4, begin_active_connect).
void Session::on_connected(int fd) {
  clear_data_setup();
  reply(150, xfer_->spec().opening);
  modules_transfer(kBegin);  // may set a rate limit before the first byte
  DataTls tls;
  if (st.tls.prot_private) {
    tls.ssl = tls_new_data_ssl(ctx.tls.get());
    tls.reuse_tag = cfg.require_ssl_reuse ? st.tls.tag : "";
    tls.strict_eof = cfg.strict_ssl_read_eof;
    tls.strict_shutdown = cfg.strict_ssl_write_shutdown;
  }
  xfer_->start(fd, std::move(tls));
}

static TransferRecord record_of(const Session& s, const Transfer& x, bool complete) {
  TransferRecord r;
  r.end_time = time(nullptr);
  r.seconds = x.seconds();
  r.remote_host = sockaddr_host_text(s.st.peer);
  r.bytes = x.bytes();
  r.path = x.spec().log_path;
  r.ascii = x.spec().ascii;
  r.upload = x.upload();
  r.anonymous = s.st.anonymous && !s.st.guest;  // a guest is logged by its login name
  r.user = r.anonymous ? s.st.anon_password : s.st.user;
  r.complete = complete;
  return r;
}

void Session::transfer_done(bool ok, int code, std::string text) {
  complete_upload(*xfer_, ok, code, text);  // before any reply: the 226 means it is in place
  modules_transfer(kEnd, ok);
  std::unique_ptr<Transfer> x = std::move(xfer_);  // freed when this returns
  if (!x->spec().log_path.empty()) log_transfer(record_of(*this, *x, ok));
  if (code == 421) end_session(code, text);
  reply(code, text);
  arm_idle_timer();
  arm_heap_trim();
  title_update();
  process_input();
}

void Session::abort_transfer() {
  if (!xfer_) {
    clear_data_setup();
    return reply(225, "No transfer to ABOR.");
  }
  bool started = !setup_ev_;
  if (started) modules_transfer(kEnd, false);
  if (started && !xfer_->spec().log_path.empty()) log_transfer(record_of(*this, *xfer_, false));
  bool upload = xfer_->upload();
  xfer_.reset();
  arm_heap_trim();
  clear_data_setup();
  if (started)
    reply(426, upload ? "Failure reading network stream." : "Failure writing network stream.");
  reply(226, "ABOR successful.");
}

}  // namespace moat

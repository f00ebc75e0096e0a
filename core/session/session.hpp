// SPDX-License-Identifier: GPL-2.0-or-later
// The worker's FTP session: control connection, command state, data connections.
// Internal to core/ (worker.cpp, commands.cpp, transfer.cpp).
#pragma once

#include <event2/event.h>
#include <sys/socket.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <utility>
#include <string>
#include <string_view>

#include "core/protocol/ftpcmd.hpp"
#include "core/host/module_host.hpp"
#include "core/tls/tls.hpp"
#include "core/session/transfer.hpp"
#include "core/session/upload.hpp"
#include "core/session/worker.hpp"
#include "core/common/xferlog.hpp"
#include "privsep/log_request.hpp"

namespace moat {

struct Handover;

struct EventDeleter {
  void operator()(event* e) const { event_free(e); }
};
using EventPtr = std::unique_ptr<event, EventDeleter>;
struct EventBaseDeleter {
  void operator()(event_base* b) const { event_base_free(b); }
};

class Session;

// A PASV/EPSV listener and the port it listens on.
struct PassiveSocket {
  UniqueFd fd;
  uint16_t port = 0;
};
using Handler = void (*)(Session&, const std::string& arg);

// What a command changes, and so which permission it needs: every write needs
// write_enable, and an anonymous session the right for that kind of write as well
// (mod_anon_upload's options, vsftpd's meanings; the helper grants them at login).
enum class Writes : uint8_t {
  kNothing,
  kUpload,  // a new file: anon_upload_enable
  kMkdir,   // anon_mkdir_write_enable
  kOther,   // delete, rename, set a time: anon_other_write_enable
};

struct CommandSpec {
  const char* verb;
  Handler fn;
  bool preauth;    // allowed before login
  bool needs_arg;  // 501 when the argument is empty
  Writes writes;   // checked once, in dispatch: 550 unless the session may
  const char* tests;  // the e2e test files (tests/e2e/) of this command's behaviour
  // When the command writes only in some forms (MDTM setting a time): whether this
  // one does. nullptr: every form does what `writes` says.
  bool (*writes_when)(const Session&, const std::string& arg) = nullptr;
};

// The command table (commands.cpp).
const CommandSpec* command_find(std::string_view verb);
// The permission column: why this session may not run this command with this argument
// (for the 550 and the FAIL COMMAND line), or null when it may.
const char* write_refusal(const Session& s, const CommandSpec& spec, const std::string& arg);
std::string help_text();  // 214 reply listing every command

class Session : private ModuleWorkerServices {
 public:
  explicit Session(const WorkerStart& start);
  [[noreturn]] void run();

  // Replies on the control connection (also host->reply for modules).
  void reply(int code, std::string_view text) override;
  void reply_raw(std::string_view text);
  [[noreturn]] void end_session(int code, std::string_view text);
  [[noreturn]] void end_silently();

  // Pre-login: ask the helper; on success hand the control connection over.
  void try_login(const std::string& user, const std::string& pass);
  // Post-login REIN: the helper starts a fresh pre-login worker on this connection.
  [[noreturn]] void reinitialize() { handover(); }

  // Data connections (transfer.cpp).
  void cmd_pasv(bool extended, EpsvArg which);
  Result<PassiveSocket> pasv_listen(const sockaddr_storage& local) const;
  void cmd_port(const sockaddr_storage& target);
  void start_transfer(TransferSpec spec);
  void abort_transfer();
  bool data_setup() const { return pasv_fd_ || port_target_.has_value(); }
  bool transferring() const { return xfer_ != nullptr || lock_wait_ != nullptr; }
  void clear_data_setup();

  // Upload integrity (session_upload.cpp): lock_upload_files and atomic_uploads.
  // A transfer whose file another holds locked waits for the lock, then runs
  // `prepare` (sizes, truncation: what must happen under the lock; false when it
  // has replied with an error), then start_transfer().
  using Prepare = std::function<bool(TransferSpec&)>;
  void transfer_when_locked(TransferSpec spec, std::optional<FileLock> lock, Prepare prepare);
  bool cancel_lock_wait();  // ABOR while waiting for a lock: true when there was one

  // Logging.
  // Sent to the helper, which writes the line (privsep/log_relay.hpp).
  void log_transfer(const TransferRecord& r);
  void log_event(std::string_view text);  // a note of the worker's own
  void log_request(const LogRequest& req);
  // A file-system change tried (MKD, RMD, DELE, RNFR/RNTO, SITE CHMOD): path as the
  // client named it, made absolute here; detail is RNTO's absolute target or the mode.
  void log_change(LogKind kind, const std::string& path, bool ok, std::string detail = {});
  // 550 Permission denied for a policy (write_enable, cmds_denied, deny_file...),
  // logged with the command line and `why`.
  void deny(std::string_view why);
  void refuse(int code, std::string_view text, std::string_view why);  // the same, any reply
  // 530 `text` before PAM (user list, TLS required), logged as a failed login of
  // `user` because of `why`.
  void refuse_login(const std::string& user, std::string_view why, std::string_view text);
  std::string absolute_path(const std::string& arg) const;
  std::string expand_tilde(std::string_view verb, const std::string& arg) const;

  // FTPS (session_tls.cpp).
  bool tls_enabled() const;  // ssl_enable=YES and a server TLS context
  void cmd_auth(const std::string& arg);
  void cmd_pbsz(const std::string& arg);
  void cmd_prot(const std::string& arg);
  void cmd_ccc(const std::string& arg);
  std::string tls_login_refusal(bool anonymous) const;  // "" when USER may go on
  bool data_must_be_private() const;  // force_*_data_ssl without PROT P

  // Modules' worker hooks (session_modules.cpp); no-ops without modules.
  void modules_start();
  int modules_command_pre(const std::string& verb, const std::string& arg);
  void modules_command_post(const std::string& verb, const std::string& arg);
  // An upload created a new file: the modules' file_created hooks (mod_anon_upload's
  // chown_uploads); a refusal ends the session, as the file cannot be what they need.
  void modules_file_created(int fd, const std::string& path);
  void modules_transfer(int phase, bool complete = false);  // kBegin, kProgress, kEnd
  enum { kBegin, kProgress, kEnd };

  const ServerContext& ctx;
  const Config& cfg;
  WorkerStart st;
  std::unique_ptr<event_base, EventBaseDeleter> base;
  std::string login_dir;  // the directory the session started in: what "~" means

  // Command state.
  std::string pending_user;  // after USER
  bool user_given = false;
  unsigned preauth_unknown = 0;
  bool ascii = false;
  uint64_t rest = 0;
  std::string rnfr;
  bool epsv_all = false;
  bool utf8 = true;

 private:
  void on_readable();
  void process_input();
  void dispatch(const std::string& line);
  bool command_filtered(std::string_view verb) const;
  std::string named_user() const;
  void arm_idle_timer();
  void keep_heap_between_transfers();
  void arm_heap_trim();
  void on_connected(int fd);
  void on_pasv_accept();
  bool take_passive_connection();
  void on_connect_done();
  void on_setup_timeout();
  void transfer_done(bool ok, int code, std::string text);
  void complete_upload(Transfer& x, bool& ok, int& code, std::string& text);
  bool control_vanished() const;
  void begin_active_connect();
  [[noreturn]] void handover();
  void write_all(std::string_view bytes);
  ssize_t control_read(char* buf, size_t len);
  bool tls_handshake();
  bool tls_wait(int ssl_error);
  void tls_write_all(std::string_view bytes);
  void tls_close();
  void tls_handover(Handover& h);
  // ModuleWorkerServices: what host->privileged and rate_limit do here (host->reply
  // is reply() above).
  int privileged(uint16_t module, uint16_t type, std::span<const uint8_t> payload,
                 int fd) override;
  void rate_limit(uint64_t bytes_per_second) override;
  void arm_progress_timer();
  // Process title (session_title.cpp).
  void title_update();
  void title_command(const std::string& verb, const std::string& arg);

  std::string inbuf_;
  size_t line_start_ = 0;  // bytes of inbuf_ already handled
  bool discarding_ = false;  // inside an over-long line
  EventPtr ctrl_ev_;
  EventPtr idle_ev_;
  EventPtr trim_ev_;  // gives a finished transfer's memory back (keep_heap_between_transfers)
  EventPtr helper_ev_;  // the helper never speaks unasked: readable means it is gone
  UniqueFd pasv_fd_;
  std::optional<sockaddr_storage> port_target_;
  UniqueFd connecting_fd_;
  EventPtr setup_ev_;  // waiting for accept or connect
  std::unique_ptr<Transfer> xfer_;
  std::unique_ptr<LockWait> lock_wait_;  // a transfer waiting for its file's lock
  SslPtr ssl_;                 // the control connection's TLS, in the worker that has it
  bool discard_pending_input_ = false;  // after AUTH: plaintext sent after it is dropped
  EventPtr progress_ev_;       // transfer_progress while a transfer runs
  int last_reply_code_ = 0;    // for command_post
  std::optional<std::pair<std::string, std::string>> pending_post_;  // a transfer's verb, arg
  EventPtr title_ev_;          // refreshes the title while a transfer runs
  std::string title_verb_, title_arg_;  // the transfer the title shows
  std::string command_line_;   // the command being handled, for deny()'s log line
};

}  // namespace moat

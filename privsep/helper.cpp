// SPDX-License-Identifier: GPL-2.0-or-later
// The session helper (root): a state machine in the OpenSSH monitor style. It
// never reads the client's bytes; workers send it typed requests, and each request
// is allowed only in the states and as often as the table below says.
#include "config.h"
#include "privsep/helper.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <map>
#include <optional>

#include "core/common/config.hpp"
#include "core/common/proctitle.hpp"
#include "core/common/sockaddr.hpp"
#include "privsep/children.hpp"
#include "privsep/guest.hpp"
#include "privsep/ipc.hpp"
#include "privsep/key_holder.hpp"
#include "privsep/log_relay.hpp"
#include "privsep/master_link.hpp"
#include "privsep/pam_auth.hpp"
#include "privsep/port20.hpp"
#include "privsep/sandbox.hpp"
#include "core/common/users.hpp"
#include "privsep/worker_stderr.hpp"
#include "privsep/wrappers.hpp"

namespace moat {
namespace {

// The session's states, one bit each so that a rule can name several. Only the grant
// steps (Helper::permit) move between them.
enum State : unsigned {
  kPreauth = 1,   // the pre-login worker: it may try to log in
  kAuthed = 2,    // a login succeeded: the next request hands the connection over
  kPostauth = 4,  // the post-login worker: the requests its login granted
  kRefusing = 8,  // the last permitted login failed: nothing more
};

enum class Fds : uint8_t { kNone, kOne, kOptional };

// Who a successful login makes the worker, decided here and nowhere else.
struct Grant {
  UserInfo user;
  bool anonymous = false;  // anonymous rights: anonymous logins, and guests (guest_enable)
  bool guest = false;      // guest_enable: user.name is the login, the account guest_username's
  std::string anon_password;
  Identity identity;
  bool write_enable = false;
  AnonRights anon;  // anonymous sessions: the writes the modules granted
  std::string refusal;  // the login is refused after all: the reply, sent by the helper
  std::shared_ptr<const Config> cfg;  // the session's options: ftpd.conf + user_config_dir
};

bool printable_name(const std::string& s) {
  if (s.empty() || s.size() > kMaxUserLen) return false;
  for (unsigned char c : s)
    if (c < 0x21 || c == 0x7f || c == '/') return false;
  return true;
}

bool writable_by(const struct stat& st, const UserInfo& u) {
  if (st.st_uid == u.uid) return st.st_mode & S_IWUSR;
  for (gid_t g : u.groups)
    if (g == st.st_gid) return st.st_mode & S_IWGRP;
  return st.st_mode & S_IWOTH;
}

std::string writable_root_message(const std::string& dir) {
  return "500 OOPS: refusing to run with writable root inside chroot: " + dir +
         " is writable by this user. Make it read-only for the user (chmod a-w " + dir +
         ") or set allow_writeable_chroot=YES.\r\n";
}

class Helper;

// What a rule's configuration test sees: the session's options (ftpd.conf, or the
// user's file after a login) and the login's grant, if any.
struct PolicyView {
  const Config& cfg;
  const Grant* grant;
  bool control_tls;  // the control connection is TLS (told at the hand-over)
};

// One row of the helper's policy (OpenSSH's mon_dispatch): a request is served only in
// the states it names, at most max_count times per session, with the descriptors it
// says, when the configuration allows it; anything else ends the session. A request
// may have several rows, for different states or configurations: the first row that
// fits the state and the configuration serves it, and each row keeps its own count.
struct Rule {
  MsgType type;
  const char* name;
  unsigned states;
  unsigned max_count;
  Fds fds;
  bool (*allowed_by)(const PolicyView&);  // nullptr: any configuration
  const char* needs;                       // what allowed_by wants, for the log
  void (Helper::*handler)(Message&);
};

class Helper {
 public:
  Helper(std::shared_ptr<const ServerContext> ctx, const sockaddr_storage& peer,
         HelperHooks hooks)
      : ctx_(std::move(ctx)), cfg_(ctx_->cfg), peer_(peer), hooks_(std::move(hooks)) {}

  [[noreturn]] void run(UniqueFd client, bool implicit_tls);

 private:
  void spawn_worker(UniqueFd control, WorkerStart start, const Identity& id,
                    const SeccompPolicy& policy, std::vector<int> keep);
  void spawn_preauth(UniqueFd control, std::string pending, bool after_rein, TlsState tls = {});
  void spawn_postauth(UniqueFd control, std::string pending, TlsState tls);
  void serve();
  void await_request();
  void handle(Message& msg);
  void check(const Rule& rule, const Message& msg);
  const Rule& row_for(MsgType type);
  void permit(State next) { state_ = next; }
  void title(bool logged_in);
  void on_login(Message& msg);
  void on_handover(Message& msg);
  void on_port20(Message& msg);
  void on_module_priv(Message& msg);
  void on_key_sign(Message& msg);
  void on_log_event(Message& msg);
  Result<Grant> authenticate(const LoginRequest& req);
  Result<Grant> grant_anonymous(const LoginRequest& req);
  Result<Grant> grant_local(const LoginRequest& req);
  Status grant_anon_rights(Grant& g);
  void decide_root(Grant& g, const std::string& home, bool force_chroot);
  Result<std::shared_ptr<const Config>> user_config(const std::string& name);
  [[noreturn]] void end(const std::string& why);
  [[noreturn]] void refuse_login(UniqueFd control);
  void reap_worker();
  pid_t retire_worker();
  void reap_retired(pid_t pid);
  void say_how_it_ended(int status, int sent) const;

  std::shared_ptr<const ServerContext> ctx_;
  const Config& cfg_;
  sockaddr_storage peer_{};
  sockaddr_storage local_{};
  HelperHooks hooks_;
  UniqueFd sock_;
  pid_t worker_ = -1;
  unsigned state_ = kPreauth;  // one of the State bits
  std::map<const Rule*, unsigned> counts_;  // requests served, per row
  unsigned login_fails_ = 0;
  bool implicit_tls_ = false;
  pid_t relay_ = -1;  // the TLS relay of the control connection, once logged in
  bool control_tls_ = false;  // the control connection is TLS (told at the hand-over)
  KeySigner keys_{*ctx_};
  SessionLog log_{*ctx_, peer_};
  WorkerStderr stderr_{sockaddr_host_text(peer_)};
  std::optional<Grant> grant_;
  std::optional<PamLogin> pam_;

 public:
  static const Rule kPolicy[];
};

bool port20_enabled(const PolicyView& v) { return v.cfg.connect_from_port_20; }
bool tls_enabled(const PolicyView& v) { return v.cfg.ssl_enable; }
// Data connections' handshakes: only when the control connection is TLS. With
// require_ssl_reuse a data handshake that did not resume is refused after it anyway.
bool data_tls_reusing(const PolicyView& v) { return v.control_tls && v.cfg.require_ssl_reuse; }
bool data_tls_fresh(const PolicyView& v) { return v.control_tls && !v.cfg.require_ssl_reuse; }

// clang-format off
// The whole policy. Adding a request: one row here and its handler.
constexpr unsigned kMany = 1u << 20;  // per session: effectively a bound on a runaway loop
const Rule Helper::kPolicy[] = {
// request                 name            states               max    descriptor
//   configuration it needs                                      handler
  {MsgType::kLogin,        "LOGIN",        kPreauth,            64,    Fds::kNone,
     nullptr, "",                                                &Helper::on_login},
  // After a login: to the post-login worker. In post-login: REIN, back to pre-login.
  {MsgType::kHandover,     "HANDOVER",     kAuthed | kPostauth, 64,    Fds::kOne,
     nullptr, "",                                                &Helper::on_handover},
  {MsgType::kPort20Socket, "PORT20",       kPostauth,           kMany, Fds::kNone,
     port20_enabled, "connect_from_port_20=YES",                 &Helper::on_port20},
  // The priv_handler of the module the request names (the worker's word, see MODULES.md).
  {MsgType::kModulePriv,   "MODULE_PRIV",  kPostauth,           kMany, Fds::kOptional,
     nullptr, "",                                                &Helper::on_module_priv},
  // A TLS handshake's signature (key_holder.hpp): the control connection's, once per
  // session, then the data connections' (a signing oracle bounded by these counts).
  {MsgType::kKeySign,      "KEY_SIGN",     kPreauth,            1,     Fds::kNone,
     tls_enabled, "ssl_enable=YES",                              &Helper::on_key_sign},
  {MsgType::kKeySign,      "KEY_SIGN",     kPostauth,           8,     Fds::kNone,
     data_tls_reusing, "a TLS control connection",               &Helper::on_key_sign},
  {MsgType::kKeySign,      "KEY_SIGN",     kPostauth,           1u << 16, Fds::kNone,
     data_tls_fresh, "a TLS control connection",                 &Helper::on_key_sign},
  // A log line: the worker says what happened, the helper who and from where.
  {MsgType::kLogEvent,     "LOG",          kPreauth | kPostauth, 1u << 30, Fds::kNone,
     nullptr, "",                                                &Helper::on_log_event},
};
// clang-format on

void Helper::end(const std::string& why) {
  if (!why.empty()) std::fprintf(stderr, "moatftpd: session %s: %s\n",
                                 sockaddr_host_text(peer_).c_str(), why.c_str());
  sock_.reset();
  if (worker_ > 0) {
    kill(worker_, SIGKILL);
    waitpid(worker_, nullptr, 0);
  }
  pam_.reset();
  // It sends close_notify, then exits; one that does not is killed after the grace.
  if (relay_ > 0) reap_within(relay_, kExitGrace);
  stderr_.drain();
  _exit(0);
}

// A login that must not start a session (a writable chroot): the helper says why on
// the control connection itself, rather than trusting a worker to say it and exit.
void Helper::refuse_login(UniqueFd control) {
  const std::string& text = grant_->refusal;
  ssize_t ignored = write(control.get(), text.data(), text.size());
  (void)ignored;
  control.reset();
  end("login refused: " + text.substr(0, text.find('\r')));
}

// The worker has handed over or closed its IPC socket: it is on its way out, or it is
// hostile and lingers with the control connection; either way it goes.
// What ps shows for the session: the client, then the user once logged in (the
// workers inherit it; the post-login worker adds its state).
void Helper::title(bool logged_in) {
  const std::string user =
      logged_in ? proctitle_user(grant_->user.name, grant_->anonymous && !grant_->guest)
                : std::string();
  proctitle_set(proctitle_session(sockaddr_host_text(peer_), user));
}

void Helper::reap_worker() {
  if (worker_ <= 0) return;
  const int status = reap_within(worker_, kExitGrace);
  stderr_.drain();  // its last words before the helper's about its end
  say_how_it_ended(status, 0);
  worker_ = -1;
}

// A worker that has handed the connection over has nothing left to do but exit:
// killed at once, it can neither linger with the control connection nor keep the
// next worker waiting for its exit (the post-login worker starts while the kernel
// tears the old one down). After kill() it runs no more code of its own.
pid_t Helper::retire_worker() {
  const pid_t pid = worker_;
  if (pid > 0) kill(pid, SIGKILL);
  worker_ = -1;
  return pid;
}

void Helper::reap_retired(pid_t pid) {
  if (pid <= 0) return;
  int status = 0;
  pid_t r;
  do r = waitpid(pid, &status, 0);
  while (r < 0 && errno == EINTR);
  stderr_.drain();
  if (r == pid) say_how_it_ended(status, SIGKILL);
}

// A worker's death by a signal, other than the one the helper sent it.
void Helper::say_how_it_ended(int status, int sent) const {
  if (status != -1 && WIFSIGNALED(status) && WTERMSIG(status) != sent) {
    int sig = WTERMSIG(status);
    std::fprintf(stderr, "moatftpd: session %s: worker killed by signal %d%s\n",
                 sockaddr_host_text(peer_).c_str(), sig,
                 sig == SIGSYS ? " (seccomp: forbidden system call)" : "");
  }
}

// Read here, in the helper, because the worker's sandbox leaves no NSS (userdb.hpp).
std::shared_ptr<const UserDb> session_userdb(const Config& c, bool chrooted) {
  UserDbWants wants{c.text_userdb_names, c.tilde_user_enable && !chrooted};
  if (!wants.names && !wants.homes) return nullptr;
  return std::make_shared<const UserDb>(userdb_load(wants));
}

void Helper::spawn_worker(UniqueFd control, WorkerStart start, const Identity& id,
                          const SeccompPolicy& policy, std::vector<int> keep) {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0)
    end("socketpair: " + errno_text(errno));
  sock_.reset(sv[0]);
  auto err = stderr_.open();
  if (!err) end(err.error());
  auto pid = hooks_.launch(WorkerLaunch{std::move(control), UniqueFd(sv[1]), std::move(*err),
                                    std::move(start), id, policy, std::move(keep)});
  stderr_.started(pid ? *pid : 0);
  if (!pid) end(pid.error());
  worker_ = *pid;
}

void Helper::spawn_preauth(UniqueFd control, std::string pending, bool after_rein,
                           TlsState tls) {
  const UserInfo& nopriv = ctx_->nopriv;
  Identity id{nopriv.uid, nopriv.gid, {nopriv.gid}, cfg_.secure_chroot_dir, "/"};
  WorkerStart start;
  start.ctx = ctx_.get();
  start.peer = peer_;
  start.local = local_;
  start.pending = std::move(pending);
  start.after_rein = after_rein;
  start.implicit_tls = implicit_tls_;
  start.tls = std::move(tls);
  permit(kPreauth);
  // No log descriptor: a worker's log lines are LogEvent requests (log_relay.hpp).
  spawn_worker(std::move(control), start, id, {SeccompProfile::kPreauth, false}, {2});
}

void Helper::spawn_postauth(UniqueFd control, std::string pending, TlsState tls) {
  const Grant& g = *grant_;
  WorkerStart start;
  start.tls = std::move(tls);
  start.ctx = ctx_.get();
  start.session_cfg = g.cfg;
  start.peer = peer_;
  start.local = local_;
  start.logged_in = true;
  start.pending = std::move(pending);
  start.user = g.user.name;
  start.anonymous = g.anonymous;
  start.guest = g.guest;
  start.anon_password = g.anon_password;
  start.chrooted = !g.identity.chroot_dir.empty();
  start.write_enable = g.write_enable;
  start.anon = g.anon;
  start.userdb = session_userdb(*g.cfg, start.chrooted);
  permit(kPostauth);
  spawn_worker(std::move(control), start, g.identity,
               {SeccompProfile::kPostauth, g.write_enable, g.cfg->connect_from_port_20}, {2});
}

// chroot_local_user, chroot_list, passwd_chroot_enable, local_root and user_sub_token,
// as vsftpd; guests with anonymous rights are always chrooted.
void Helper::decide_root(Grant& g, const std::string& account_home, bool force_chroot) {
  const Config& c = *g.cfg;
  bool chroot = c.chroot_local_user;
  if (c.chroot_list_enable && ctx_->chroot_list.count(g.user.name)) chroot = !chroot;
  chroot = chroot || force_chroot;
  const std::string home = substitute_user_token(account_home, c.user_sub_token, g.user.name);
  const std::string local_root = substitute_user_token(c.local_root, c.user_sub_token, g.user.name);
  std::string root = home;
  std::string start = "/";
  auto marker = home.find("/./");
  if (c.passwd_chroot_enable && marker != std::string::npos) {
    chroot = true;
    root = home.substr(0, marker);
    start = home.substr(marker + 2);
  }
  if (!local_root.empty()) root = local_root, start = "/";
  g.identity.chroot_dir = chroot ? root : "";
  g.identity.start_dir = chroot ? start : (local_root.empty() ? home : local_root);
}

// user_config_dir: the file named after the user overrides ftpd.conf for the session
// (read here, as root, like vsftpd). A broken file refuses the login and says why in
// the log rather than running the session with half of it.
Result<std::shared_ptr<const Config>> Helper::user_config(const std::string& name) {
  if (cfg_.user_config_dir.empty()) return std::shared_ptr<const Config>(ctx_, &cfg_);
  auto c = std::make_shared<Config>(cfg_);
  if (auto st = config_apply_user_file(*c, cfg_.user_config_dir + "/" + name); !st)
    return fail("user_config_dir: " + st.error());
  return std::shared_ptr<const Config>(std::move(c));
}

// deny_email_enable and secure_email_list_enable: the anonymous "password" (an
// e-mail address by custom) compared whole with the lines of the lists.
Status check_anon_password(const ServerContext& ctx, const std::string& pass) {
  const Config& c = ctx.cfg;
  if (c.deny_email_enable && ctx.banned_emails.count(pass))
    return fail("anonymous password in banned_email_file");
  if (c.secure_email_list_enable && !ctx.email_passwords.count(pass))
    return fail("anonymous password not in email_password_file");
  return Ok{};
}

// userlist_enable, for every name (anonymous ones too, as vsftpd): the worker already
// answered USER with 530; a worker that asks anyway is refused here.
bool userlist_refuses(const ServerContext& ctx, const std::string& user) {
  if (!ctx.cfg.userlist_enable) return false;
  return (ctx.userlist.count(user) > 0) == ctx.cfg.userlist_deny;
}

// Anonymous writes come from the modules (mod_anon_upload), and so do the seccomp
// policy's write syscalls: without a grant the session cannot write at all.
Status Helper::grant_anon_rights(Grant& g) {
  auto rights = hooks_.anon_rights({*g.cfg, peer_, local_, g.user.name, true, g.identity.uid});
  if (!rights) return fail(rights.error());
  g.anon = *rights;
  g.write_enable = g.anon.any();
  return Ok{};
}

Result<Grant> Helper::grant_anonymous(const LoginRequest& req) {
  if (auto st = check_anon_password(*ctx_, req.pass); !st) return fail(st.error());
  auto ftp = user_account(cfg_.ftp_username);  // runs with its primary group only
  if (!ftp) return fail("anonymous login: ftp_username: " + ftp.error());
  auto c = user_config(ftp->name);
  if (!c) return fail(c.error());
  Grant g;
  g.cfg = *c;
  g.user = *ftp;
  g.anonymous = true;
  g.anon_password = req.pass;
  std::string root = g.cfg->anon_root.empty() ? ftp->home : g.cfg->anon_root;
  g.identity = {ftp->uid, ftp->gid, {ftp->gid}, root, "/"};
  if (auto st = grant_anon_rights(g); !st) return fail(st.error());
  return g;
}

Result<Grant> Helper::grant_local(const LoginRequest& req) {
  if (!cfg_.local_enable) return fail("local logins are disabled");
  PamRequest pr{cfg_.pam_service_name, req.user, req.pass, sockaddr_host_text(peer_),
                cfg_.session_support};
  auto login = PamLogin::start(pr);
  if (!login) return fail("PAM: " + login.error());
  // The user's file first, as vsftpd: it may make this login a guest.
  auto c = user_config(login->user());
  if (!c) return fail(c.error());
  const bool guest = (*c)->guest_enable;
  auto user = guest ? guest_account(**c, login->user()) : user_lookup(login->user());
  if (!user) return fail(user.error());
  if (user->uid == 0) return fail("root may not log in");
  Grant g;
  g.cfg = *c;
  g.user = *user;
  g.guest = guest;
  g.anonymous = guest && guest_is_anonymous(*g.cfg);
  g.identity = {user->uid, user->gid, user->groups, "", ""};
  g.write_enable = g.cfg->write_enable;
  // A guest without virtual_use_local_privs: anonymous rights.
  if (g.anonymous)
    if (auto st = grant_anon_rights(g); !st) return fail(st.error());
  decide_root(g, user->home, g.anonymous);
  pam_.emplace(std::move(*login));
  return g;
}

Result<Grant> Helper::authenticate(const LoginRequest& req) {
  if (!printable_name(req.user)) return fail("malformed user name");
  if (userlist_refuses(*ctx_, req.user)) return fail("user refused by userlist_file");
  bool anon = is_anonymous_name(req.user) && cfg_.anonymous_enable;
  auto g = anon ? grant_anonymous(req) : grant_local(req);
  if (!g) return g;
  const std::string& root = g->identity.chroot_dir;
  struct stat st {};
  if (!root.empty() && stat(root.c_str(), &st) != 0)
    return fail("session root " + root + ": " + errno_text(errno));
  if (!root.empty() && writable_by(st, g->user) && !g->cfg->allow_writeable_chroot)
    g->refusal = writable_root_message(root);
  return g;
}

void Helper::on_login(Message& msg) {
  auto req = decode<LoginRequest>(msg.payload);
  if (!req) end("bad LOGIN request: " + req.error());
  auto g = authenticate(*req);
  LoginResult res;
  if (g) {
    if (cfg_.delay_successful_login) sleep(cfg_.delay_successful_login);
    grant_ = std::move(*g);
    res.ok = true;
    permit(kAuthed);
    title(true);
    log_.logged_in({grant_->user.name, grant_->anonymous && !grant_->guest, grant_->anon_password,
                    grant_->cfg->use_localtime, grant_->guest});
  } else {
    std::fprintf(stderr, "moatftpd: session %s: login failed for '%s': %s\n",
                 sockaddr_host_text(peer_).c_str(),
                 printable_name(req->user) ? req->user.c_str() : "?", g.error().c_str());
    log_.login_failed(req->user, g.error());
    master_link_login_failed(req->user);  // the master's modules (login_failed)
    if (cfg_.delay_failed_login) sleep(cfg_.delay_failed_login);
    res.fatal = ++login_fails_ >= cfg_.max_login_fails && cfg_.max_login_fails > 0;
    if (res.fatal) permit(kRefusing);
    res.text = "Login incorrect.";
  }
  if (auto st = ipc_send(sock_.get(), res); !st) end(st.error());
  // After a fatal result the worker answers 530 and exits; serve() then sees EOF.
}

void Helper::on_handover(Message& msg) {
  auto h = decode<Handover>(msg.payload);
  if (!h) end("bad HANDOVER: " + h.error());
  UniqueFd control = std::move(msg.fds[0]);
  control_tls_ = h->tls.active;
  sock_.reset();
  // With TLS the pre-login worker that did the handshake stays, relaying the control
  // connection; it ends when the session's last worker has gone (see end()).
  pid_t retired = -1;
  if (h->relay && state_ == kAuthed && relay_ < 0) {
    relay_ = worker_;
    worker_ = -1;
  } else {
    retired = retire_worker();
  }
  if (state_ == kAuthed && !grant_->refusal.empty()) {
    reap_retired(retired);
    refuse_login(std::move(control));
  }
  if (state_ == kAuthed) {
    spawn_postauth(std::move(control), std::move(h->pending), std::move(h->tls));
  } else {  // REIN: back to a fresh pre-login worker; the login's grants go.
    grant_.reset();
    title(false);
    log_.logged_out();
    pam_.reset();
    spawn_preauth(std::move(control), std::move(h->pending), true, std::move(h->tls));
  }
  reap_retired(retired);
}

// An active data connection to the control peer from ftp_data_port: bound and
// connected here, so the worker never holds a privileged port it could point
// elsewhere or listen on. A connection that fails or times out is an answer (425).
void Helper::on_port20(Message& msg) {
  auto req = decode<Port20Request>(msg.payload);
  if (!req) end("bad PORT20 request: " + req.error());
  const Config& c = grant_ ? *grant_->cfg : cfg_;
  if (!c.port_promiscuous && (!same_host(req->peer, peer_) || sockaddr_port(req->peer) < 1024))
    end("PORT20 request for a foreign address");
  auto s = port20_connect(local_, static_cast<uint16_t>(c.ftp_data_port), req->peer,
                          c.connect_timeout);
  Port20Result res{s.ok(), s ? "" : s.error()};
  const int fd = s ? s->get() : -1;
  auto st = ipc_send(sock_.get(), res, std::span(&fd, res.ok ? 1 : 0));
  if (!st) end(st.error());
}

// A module's own privileged request: the core checks who may ask (a logged-in
// session, a loaded module with a handler), the module's priv_handler judges the
// request. A refusal is an answer, not a protocol error: the session goes on.
void Helper::on_module_priv(Message& msg) {
  auto req = decode<ModulePrivRequest>(msg.payload);
  if (!req) end("bad MODULE_PRIV request: " + req.error());
  const int fd = msg.fds.empty() ? -1 : msg.fds[0].get();
  ModulePrivResult res;
  const Grant& g = *grant_;
  res.ok = hooks_.module_priv(*req, {*g.cfg, peer_, local_, g.user.name, g.anonymous, g.identity.uid},
                              fd);
  msg.fds.clear();  // the helper closes a passed descriptor, whatever the module did
  if (auto sent = ipc_send(sock_.get(), res); !sent)
    end(sent.error());
}

// A handshake signature (privsep/key_holder.hpp checks the input; the table the count).
void Helper::on_key_sign(Message& msg) {
  if (auto st = keys_.serve(msg, sock_.get()); !st) end(st.error());
}

// A worker's log line: it says what happened; who and from where is the helper's part.
void Helper::on_log_event(Message& msg) {
  auto req = decode<LogRequest>(msg.payload);
  if (!req) end("bad LOG request: " + req.error());
  log_.write(*req);
}

// The request's row for this state and configuration: the first that fits.
const Rule& Helper::row_for(MsgType type) {
  const PolicyView view{grant_ ? *grant_->cfg : cfg_, grant_ ? &*grant_ : nullptr, control_tls_};
  const Rule* in_state = nullptr;
  const Rule* any = nullptr;
  for (const Rule& rule : kPolicy) {
    if (rule.type != type) continue;
    if (!any) any = &rule;
    if (!(rule.states & state_)) continue;
    if (!rule.allowed_by || rule.allowed_by(view)) return rule;
    if (!in_state) in_state = &rule;
  }
  if (!any) end("request not in the table");
  const std::string name = any->name;
  if (!in_state) end(name + " request out of state");
  end(name + " request without " + in_state->needs);
}

// Everything else "may this request happen now?" asks, read from its row.
void Helper::check(const Rule& rule, const Message& msg) {
  const std::string name = rule.name;
  if (++counts_[&rule] > rule.max_count) end(name + " request over its limit");
  if (msg.fds.size() > 1) end(name + " request with more than one descriptor");
  if (rule.fds == Fds::kNone && !msg.fds.empty()) end(name + " request with a descriptor");
  if (rule.fds == Fds::kOne && msg.fds.empty()) end(name + " request without its descriptor");
}

void Helper::handle(Message& msg) {
  const Rule& rule = row_for(msg.type);
  check(rule, msg);
  (this->*rule.handler)(msg);
}

// Until the worker's next request, relaying what workers write to their stderr.
void Helper::await_request() {
  for (;;) {
    std::vector<pollfd> fds{{sock_.get(), POLLIN, 0}};
    stderr_.watch(fds);
    if (poll(fds.data(), fds.size(), -1) < 0) {
      if (errno == EINTR) continue;
      end("poll: " + errno_text(errno));
    }
    stderr_.relay(std::span(fds).subspan(1));
    if (fds[0].revents != 0) return;
  }
}

void Helper::serve() {
  for (;;) {
    await_request();
    auto msg = ipc_recv(sock_.get());
    if (!msg) {
      reap_worker();
      end(msg.error().find("peer closed") != std::string::npos ? "" : "IPC: " + msg.error());
    }
    handle(*msg);
  }
}

void Helper::run(UniqueFd client, bool implicit_tls) {
  prctl(PR_SET_NAME, "moat-helper");
  title(false);
  socklen_t len = sizeof local_;
  if (getsockname(client.get(), reinterpret_cast<sockaddr*>(&local_), &len) != 0)
    end("getsockname: " + errno_text(errno));
  if (auto w = wrappers_check(cfg_, {peer_, local_}, stderr_); !w.allow) {
    refuse_client(client.get(), implicit_tls);
    end(w.why);
  }
  if (auto st = hooks_.session_start(); !st) end(st.error());
  log_.connected();
  implicit_tls_ = implicit_tls;
  spawn_preauth(std::move(client), "", false);
  implicit_tls_ = false;  // a later pre-login worker (REIN) finds the TLS relay already there
  serve();
  _exit(0);
}

}  // namespace

void refuse_client(int control, bool implicit_tls) {
  static const char kRefused[] = "421 Service not available.\r\n";
  if (implicit_tls) return;
  ssize_t ignored = write(control, kRefused, sizeof kRefused - 1);
  (void)ignored;
}

void helper_run(std::shared_ptr<const ServerContext> ctx, UniqueFd client,
                const sockaddr_storage& peer, HelperHooks hooks, bool implicit_tls) {
  Helper h(std::move(ctx), peer, std::move(hooks));
  h.run(std::move(client), implicit_tls);
}

}  // namespace moat

/* SPDX-License-Identifier: GPL-2.0-or-later */
/* moat_module.h: the moatftpd module ABI, version 2 (C, usable from C and C++).
 *
 * A module is data: a shared object NAME.so in module_dir, enabled in ftpd.conf with
 * load_module=NAME, that exports one `const struct moat_module moat_module_NAME`
 * (see MOAT_MODULE): its name, an ABI stamp, an option table and its hooks. The
 * master dlopens every module at start-up, before any fork and before any chroot,
 * checks it, and resolves its option table to handles. Nothing is loaded later.
 *
 * Load-time checks (each refusal stops start-up and `moatftpd -t` with
 * "FILE:LINE: load_module=NAME: PATH: reason"): NAME.so is a regular file owned by
 * root (or the user running moatftpd) and not writable by group or others; dlopen
 * (RTLD_NOW | RTLD_LOCAL) succeeds; moat_module_NAME exists; abi_version equals
 * MOAT_MODULE_ABI_VERSION (a module built for version 1 is refused, naming both);
 * struct_size >= the server's sizeof(struct moat_module); name equals NAME; every
 * reserved field is zero; the option table is well formed (see struct moat_option);
 * preauth_commands are upper-case verbs of at most 8 letters (at most 32).
 * A module needs no symbol of the server (build it with -Wl,-z,defs).
 *
 * Processes (moatftpd's doc/DESIGN.md) and where each hook runs:
 *   master  (root, libevent loop, never parses client bytes):
 *             check (also in `moatftpd -t`), init, admit, session_closed,
 *             login_failed, control
 *   helper  (root, one per session, never parses FTP):
 *             login_rights, priv_handler
 *   worker  (unprivileged, chrooted, seccomp; speaks FTP):
 *             session_start, command_pre, command_post, file_created,
 *             transfer_begin, transfer_progress, transfer_end
 * A hook runs only in the process named; state set up in init is inherited by the
 * session processes through fork (copy-on-write), never shared back, except what a
 * module explicitly places in memory from host->shared_alloc (mapped MAP_SHARED by
 * the master before any fork).
 *
 * Every hook and every host call takes the module's context, struct moat_ctx: the
 * host finds from it which module is calling and which configuration it reads.
 * Modules call the core only through struct moat_host. Every file operation goes
 * through the core: a module never receives a path it could open itself, and a
 * worker module cannot reach the helper except through host->privileged(), which
 * the helper validates with the module's own priv_handler.
 *
 * Hooks must not throw (C++ modules: catch everything) and must not block for long:
 * the master and workers run event loops.
 */
#ifndef MOAT_MODULE_H
#define MOAT_MODULE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Bumped on any incompatible change; a module built for another version is refused. */
#define MOAT_MODULE_ABI_VERSION 2u

struct moat_host;

/* A module's context, one per loaded module and process. Every hook receives it and
 * every host call takes it back: that is how the host knows which module calls (for
 * host->privileged and log lines) and which configuration it reads (the session's,
 * with its user_config_dir file, in session processes). */
struct moat_ctx {
  const struct moat_host *host; /* the server's services */
  void *state;                  /* the module's own; set it in init */
  void *host_private;           /* the host's: never touch */
};

enum moat_option_type { MOAT_OPT_BOOL = 0, MOAT_OPT_UINT = 1, MOAT_OPT_STRING = 2 };

/* moat_option.flags */
#define MOAT_OPT_CORE 1u /* not the module's: a core option it reads (e.g. write_enable) */

/* One entry of the option table, which ends with a NULL name. At load the host
 * resolves each entry and writes its handle to *handle; the module reads the value
 * with host->opt_bool/opt_uint/opt_string(ctx, handle). So an option is known or
 * refused when the module loads, never "0" at run time:
 *   - an own option: name of a-z, 0-9 and _, at most 64 bytes, unique, no core
 *     option's name, no other loaded module's, no option of another first-party
 *     module; a known type; a default_text that parses as that type; a one-line
 *     description; at most 128 entries;
 *   - MOAT_OPT_CORE: name must be a core option of exactly that type (default_text and
 *     description unused, may be NULL).
 * Every entry needs a handle pointer. Values are parsed as the core parses ftpd.conf:
 * booleans YES/NO/TRUE/FALSE/1/0 in any case, numbers decimal or octal with a leading
 * 0. A SIGHUP reload may change values (not which modules are loaded): read them when
 * needed rather than once in init. */
struct moat_option {
  const char *name;          /* as written in ftpd.conf */
  enum moat_option_type type;
  const char *default_text;  /* as it would be written: "NO", "0", "022", "" */
  const char *description;   /* one line, for -t, the man page and the sample config */
  uint32_t *handle;          /* filled in by the host at load */
  uint32_t flags;            /* 0 or MOAT_OPT_CORE */
};

/* A connection as the master and helper see it (no FTP state). */
struct moat_conn {
  struct sockaddr_storage peer;  /* client address */
  struct sockaddr_storage local; /* server address the client connected to */
  const char *peer_text;         /* "127.0.0.1", "::1" */
};

/* The logged-in session as the helper and a worker see it. */
struct moat_session {
  const struct moat_conn *conn;
  const char *user;     /* login name; for anonymous sessions the ftp_username */
  int anonymous;        /* 1 for anonymous rights (anonymous logins, guests without
                           virtual_use_local_privs) */
  void *module_state;   /* the module's per-session pointer, owned by the module */
  uint32_t uid;         /* the uid the session's worker runs as */
};

/* One FTP command, before or after the core handles it. */
struct moat_command {
  const char *verb;     /* upper case: "STOR" */
  const char *arg;      /* verbatim argument, "" if none */
  int reply_code;       /* command_post only: the code the core replied */
};

struct moat_transfer {
  int upload;           /* 1 for STOR/APPE/STOU, 0 for RETR and listings */
  int listing;          /* 1 for LIST/NLST/MLSD */
  const char *path;     /* absolute path as the session sees it */
  uint64_t bytes;       /* transfer_end: bytes moved */
  int complete;         /* transfer_end: 1 when it completed */
};

/* Return values of hooks that can refuse. */
enum moat_verdict { MOAT_CONTINUE = 0, MOAT_REFUSE = 1, MOAT_HANDLED = 2 };

/* The writes an anonymous session may do (login_rights); any other write needs
 * MOAT_WRITE_OTHER. write_enable=NO refuses them all whatever a module grants. */
#define MOAT_WRITE_UPLOAD 1u /* STOR/STOU of a new file */
#define MOAT_WRITE_MKDIR 2u  /* MKD */
#define MOAT_WRITE_OTHER 4u  /* DELE, RMD, RNFR/RNTO, APPE, overwriting uploads */

struct moat_host {
  uint32_t abi_version;
  uint32_t struct_size;
  /* The value behind a handle from the module's option table. A handle of another
   * type (or none) is the module's bug: it is logged and reads as 0 / "". A string
   * stays valid until the hook returns. */
  int (*opt_bool)(const struct moat_ctx *ctx, uint32_t handle);
  unsigned (*opt_uint)(const struct moat_ctx *ctx, uint32_t handle);
  const char *(*opt_string)(const struct moat_ctx *ctx, uint32_t handle);
  /* Logging: "moatftpd: MODULE: message" on stderr; control characters become '?',
   * at most 1 KiB. In the master (admit, login_failed, session_closed) the line also
   * goes to the vsftpd-format log (or syslog) and json_log_file; in session processes
   * their helper relays it from stderr. */
  void (*log)(const struct moat_ctx *ctx, const char *message);
  /* Master, in init only: zeroed memory shared by every process of the server.
   * Returns NULL after init or when size is 0 or too large (> 64 MiB). */
  void *(*shared_alloc)(const struct moat_ctx *ctx, size_t size);
  /* The three worker services below fail in other processes: they log "not
   * available in this process", and privileged() returns -1. */
  /* Worker: send one reply line (code and text) on the control connection. */
  void (*reply)(const struct moat_ctx *ctx, int code, const char *text);
  /* Worker, after login: ask the helper to run this module's privileged request
   * `type` with a payload (at most 4 KiB) and optionally one descriptor. Returns 0
   * when the module's priv_handler in the helper granted it, -1 otherwise. */
  int (*privileged)(const struct moat_ctx *ctx, uint16_t type, const void *payload,
                    size_t len, int fd);
  /* Worker, in transfer_begin or transfer_progress: limit the running transfer to
   * `bytes_per_second` (0 = no limit), enforced with a libevent token bucket on the
   * data connection, never by sleeping. The latest call wins. */
  void (*rate_limit)(const struct moat_ctx *ctx, uint64_t bytes_per_second);
  /* In check only: report a bad value of the option behind `handle`. The host prints
   * it as "FILE:LINE: NAME: message" (where the option was set) like every other
   * configuration error, and `moatftpd -t`, start-up and reload fail. */
  void (*check_error)(const struct moat_ctx *ctx, uint32_t handle, const char *message);
  void *reserved[8];
};

/* Helper side of a privileged request. `fd` is -1 when none was passed (the helper
 * closes it afterwards). Return 0 to grant, -1 to refuse; a module must validate
 * everything it is given, as the core's own requests are validated. */
typedef int (*moat_priv_handler)(struct moat_ctx *ctx, const struct moat_conn *conn,
                                 const struct moat_session *session, uint16_t type,
                                 const void *payload, size_t len, int fd);

struct moat_module {
  uint32_t abi_version;   /* MOAT_MODULE_ABI_VERSION */
  uint32_t struct_size;   /* sizeof(struct moat_module) */
  const char *name;       /* must equal the file name without .so */
  const char *description;
  const struct moat_option *options; /* NULL-terminated; may be NULL */
  /* Commands the module handles itself before login (NULL-terminated); every other
   * command a module sees is post-login only. */
  const char *const *preauth_commands;

  /* master */
  /* The configuration's values, in `moatftpd -t`, at start-up (before init) and at
   * each reload: report each bad one with host->check_error and return non-zero.
   * Only the option reads, log and check_error work here. */
  int (*check)(struct moat_ctx *ctx);
  /* Once, in the master, before it listens or forks (not for `moatftpd -t`). A
   * non-zero return stops start-up ("NAME: init failed (N)"). */
  int (*init)(struct moat_ctx *ctx); /* 0 = ok */
  /* On accept, before fork. Return MOAT_REFUSE and fill `reply` (a full reply line
   * such as "421 There are too many connected users, please try later.") to refuse;
   * the master writes it instead of forking. Modules are asked in load_module order;
   * the first refusal wins, and the modules that had already admitted the connection
   * get session_closed for it. Any return other than MOAT_CONTINUE refuses. The
   * reply is cut at the first line break, control characters become '?', and it is
   * prefixed with "421 " unless it starts with a 4xx or 5xx code and a space. */
  int (*admit)(struct moat_ctx *ctx, const struct moat_conn *conn, char *reply,
               size_t reply_len);
  /* Once for every admitted connection, when its session helper has been reaped:
   * however the session ended (QUIT, timeout, crash, SIGKILL), or when the fork
   * after admit failed. */
  void (*session_closed)(struct moat_ctx *ctx, const struct moat_conn *conn);
  /* After each failed login of a session (reported to the master by its helper);
   * `user` is the name the client gave, control characters and spaces made '?'. */
  void (*login_failed)(struct moat_ctx *ctx, const struct moat_conn *conn, const char *user);
  /* A line an operator sent on the control socket that the core does not answer
   * itself (moatftpd --bans sends "BANS", --unban ADDR "UNBAN ADDR"). Write a text
   * answer of lines (at most answer_len - 1 bytes, NUL-terminated; an error starts
   * with "ERR ") and return MOAT_HANDLED, or MOAT_CONTINUE when it is not the module's. */
  int (*control)(struct moat_ctx *ctx, const char *request, char *answer, size_t answer_len);

  /* helper */
  /* When the helper grants a login with anonymous rights (an anonymous login, or a
   * guest without virtual_use_local_privs), every time: add the MOAT_WRITE_* bits the
   * session may do to *rights (the modules' grants are OR-ed; none means read-only;
   * with write_enable=NO the core grants none whatever they say). Options read
   * here are the session's (user_config_dir included). Return non-zero to refuse the
   * login (say why with host->log). Runs as root before the worker exists; state
   * kept here stays in this session's helper, for priv_handler. */
  int (*login_rights)(struct moat_ctx *ctx, const struct moat_session *session,
                      uint32_t *rights);
  moat_priv_handler priv_handler;

  /* worker (after login) */
  void (*session_start)(struct moat_ctx *ctx, struct moat_session *session);
  /* MOAT_REFUSE: the module has replied (host->reply) and the core skips the command;
   * MOAT_HANDLED: the module implemented it and replied. */
  int (*command_pre)(struct moat_ctx *ctx, struct moat_session *session,
                     const struct moat_command *cmd);
  void (*command_post)(struct moat_ctx *ctx, struct moat_session *session,
                       const struct moat_command *cmd);
  /* An upload opened its file (STOR, STOU, APPE; the temporary file of an atomic
   * upload), before any byte is written: `fd` is it, open for writing, `path` its
   * name as the session sees it. The file may be an existing one (an overwrite):
   * fstat tells whether the session's uid made it. MOAT_CONTINUE lets the upload go on; any other
   * value ends the session (fail closed: the file cannot be what the module needs). */
  int (*file_created)(struct moat_ctx *ctx, struct moat_session *session, int fd,
                      const char *path);
  void (*transfer_begin)(struct moat_ctx *ctx, struct moat_session *session,
                         const struct moat_transfer *xfer);
  /* About every 500 ms while a transfer runs (xfer->bytes: moved so far), so that
   * a module can adjust host->rate_limit to what other sessions are doing. */
  void (*transfer_progress)(struct moat_ctx *ctx, struct moat_session *session,
                            const struct moat_transfer *xfer);
  void (*transfer_end)(struct moat_ctx *ctx, struct moat_session *session,
                       const struct moat_transfer *xfer);

  void *reserved[8];      /* zero: room to grow without breaking the ABI */
};

#ifdef __cplusplus
}
#endif

/* Declares the exported module symbol: MOAT_MODULE(mod_example) = { ... }; */
#ifdef __cplusplus
#define MOAT_MODULE(name) \
  extern "C" __attribute__((visibility("default"))) const struct moat_module moat_module_##name
#else
#define MOAT_MODULE(name) \
  __attribute__((visibility("default"))) const struct moat_module moat_module_##name
#endif

#endif /* MOAT_MODULE_H */

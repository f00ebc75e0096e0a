/* SPDX-License-Identifier: GPL-2.0-or-later */
/* moat_module.h: the moatftpd module ABI (C, usable from C and C++).
 *
 * A module is a shared object NAME.so in module_dir, enabled in ftpd.conf with
 * load_module=NAME. It exports one symbol, `moat_module_NAME` (see MOAT_MODULE),
 * of type `const struct moat_module`. The master dlopens every module at start-up,
 * before any fork and before any chroot, checks abi_version and struct_size, and
 * registers the module's options. Nothing is loaded later.
 *
 * Load-time checks (each refusal stops start-up and `moatftpd -t` with
 * "FILE:LINE: load_module=NAME: PATH: reason"): NAME.so is a regular file owned by
 * root (or the user running moatftpd) and not writable by group or others; dlopen
 * (RTLD_NOW | RTLD_LOCAL) succeeds; moat_module_NAME exists; abi_version equals
 * MOAT_MODULE_ABI_VERSION; struct_size >= the server's sizeof(struct moat_module);
 * name equals NAME; every reserved field is zero; the option table is well formed
 * (names of a-z, 0-9 and _, at most 64 bytes, unique, no core option's name, no
 * other loaded module's, no name of another first-party module; a known type; a
 * default_text that parses as that type; a one-line description; at most 128
 * entries); preauth_commands are upper-case verbs of at most 8 letters (at most 32).
 * A module needs no symbol of the server (build it with -Wl,-z,defs).
 *
 * Processes (moatftpd's doc/DESIGN.md, sections 3 and 8) and where each hook runs:
 *   master  (root, libevent loop, never parses client bytes):
 *             init, admit, session_closed, login_failed, control
 *   helper  (root, one per session, never parses FTP):
 *             privileged requests the module declares (priv_handler)
 *   worker  (unprivileged, chrooted, seccomp; speaks FTP):
 *             session_start, command_pre, command_post, transfer_begin, transfer_end
 * A hook runs only in the process named; state set up in init is inherited by the
 * session processes through fork (copy-on-write), never shared back, except what a
 * module explicitly places in memory from host->shared_alloc (mapped MAP_SHARED by
 * the master before any fork).
 *
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
#define MOAT_MODULE_ABI_VERSION 1u

enum moat_option_type { MOAT_OPT_BOOL = 0, MOAT_OPT_UINT = 1, MOAT_OPT_STRING = 2 };

/* One ftpd.conf option owned by the module; the table ends with a NULL name. */
struct moat_option {
  const char *name;          /* as written in ftpd.conf */
  enum moat_option_type type;
  const char *default_text;  /* as it would be written: "NO", "0", "022", "" */
  const char *description;   /* one line, for -t, the man page and the sample config */
};

/* Value of an option, through host->option_*; names are the module's own options
 * or any core option. Values are parsed as the core parses ftpd.conf: booleans
 * YES/NO/TRUE/FALSE/1/0 in any case, numbers decimal or octal with a leading 0.
 * A SIGHUP reload may change values (not which modules are loaded): read them when
 * needed rather than once in init. */

/* A connection as the master and helper see it (no FTP state). */
struct moat_conn {
  struct sockaddr_storage peer;  /* client address */
  struct sockaddr_storage local; /* server address the client connected to */
  const char *peer_text;         /* "127.0.0.1", "::1" */
};

/* The logged-in session as a worker sees it. */
struct moat_session {
  const struct moat_conn *conn;
  const char *user;     /* login name; for anonymous sessions the ftp_username */
  int anonymous;        /* 1 for anonymous sessions */
  void *module_state;   /* the module's per-session pointer, owned by the module */
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

struct moat_host {
  uint32_t abi_version;
  uint32_t struct_size;
  /* Configuration (immutable after load). Unknown names, and a name asked with the
   * wrong type, return 0 / "". A string stays valid until the hook returns. */
  int (*option_bool)(const char *name);
  unsigned (*option_uint)(const char *name);
  const char *(*option_string)(const char *name);
  /* Logging: "moatftpd: MODULE: message" on stderr; control characters become '?',
   * at most 1 KiB. In the master (admit, login_failed, session_closed) the line also
   * goes to the vsftpd-format log (or syslog) and json_log_file; in session processes
   * their helper relays it from stderr. */
  void (*log)(const char *module, const char *message);
  /* Master, in init only: zeroed memory shared by every process of the server.
   * Returns NULL after init or when size is 0 or too large (> 64 MiB). */
  void *(*shared_alloc)(size_t size);
  /* The three worker services below fail in other processes: they log "not
   * available in this process", and privileged() returns -1. */
  /* Worker: send one reply line (code and text) on the control connection. */
  void (*reply)(int code, const char *text);
  /* Worker: ask the helper to run this module's privileged request `type` with a
   * payload (at most 4 KiB) and optionally one descriptor. Returns 0 when the
   * module's priv_handler in the helper granted it, -1 otherwise. */
  int (*privileged)(uint16_t type, const void *payload, size_t len, int fd);
  /* Worker, in transfer_begin or transfer_progress: limit the running transfer to
   * `bytes_per_second` (0 = no limit), enforced with a libevent token bucket on the
   * data connection, never by sleeping. The latest call wins. */
  void (*rate_limit)(uint64_t bytes_per_second);
  void *reserved[8];
};

/* Helper side of a privileged request. `fd` is -1 when none was passed (the helper
 * closes it afterwards). Return 0 to grant, -1 to refuse; a module must validate
 * everything it is given, as the core's own requests are validated. */
typedef int (*moat_priv_handler)(void *module_state, const struct moat_conn *conn,
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
  /* Once, in the master, before it listens or forks (not for `moatftpd -t`). A
   * non-zero return stops start-up ("NAME: init failed (N)"). The host pointer stays
   * valid for the life of the process; keep it for the other hooks. */
  int (*init)(const struct moat_host *host, void **module_state); /* 0 = ok */
  /* On accept, before fork. Return MOAT_REFUSE and fill `reply` (a full reply line
   * such as "421 There are too many connected users, please try later.") to refuse;
   * the master writes it instead of forking. Modules are asked in load_module order;
   * the first refusal wins, and the modules that had already admitted the connection
   * get session_closed for it. Any return other than MOAT_CONTINUE refuses. The
   * reply is cut at the first line break, control characters become '?', and it is
   * prefixed with "421 " unless it starts with a 4xx or 5xx code and a space. */
  int (*admit)(void *module_state, const struct moat_conn *conn, char *reply, size_t reply_len);
  /* Once for every admitted connection, when its session helper has been reaped:
   * however the session ended (QUIT, timeout, crash, SIGKILL), or when the fork
   * after admit failed. */
  void (*session_closed)(void *module_state, const struct moat_conn *conn);
  /* After each failed login of a session (reported to the master by its helper);
   * `user` is the name the client gave, control characters and spaces made '?'. */
  void (*login_failed)(void *module_state, const struct moat_conn *conn, const char *user);

  /* helper */
  moat_priv_handler priv_handler;

  /* worker (after login) */
  void (*session_start)(void *module_state, struct moat_session *session);
  /* MOAT_REFUSE: the module has replied (host->reply) and the core skips the command;
   * MOAT_HANDLED: the module implemented it and replied. */
  int (*command_pre)(void *module_state, struct moat_session *session,
                     const struct moat_command *cmd);
  void (*command_post)(void *module_state, struct moat_session *session,
                       const struct moat_command *cmd);
  void (*transfer_begin)(void *module_state, struct moat_session *session,
                         const struct moat_transfer *xfer);
  void (*transfer_end)(void *module_state, struct moat_session *session,
                       const struct moat_transfer *xfer);
  /* About every 500 ms while a transfer runs (xfer->bytes: moved so far), so that
   * a module can adjust host->rate_limit to what other sessions are doing. Added in
   * place of reserved[0]: a module built before it has 0 here and is never called. */
  void (*transfer_progress)(void *module_state, struct moat_session *session,
                            const struct moat_transfer *xfer);

  /* master: a line an operator sent on the control socket that the core does not
   * answer itself (moatftpd --bans sends "BANS", --unban ADDR "UNBAN ADDR"). Write a
   * text answer of lines (at most answer_len - 1 bytes, NUL-terminated; an error
   * starts with "ERR ") and return MOAT_HANDLED, or MOAT_CONTINUE when the request is
   * not the module's. Added in place of reserved[1], as transfer_progress was. */
  int (*control)(void *module_state, const char *request, char *answer, size_t answer_len);

  void *reserved[6];      /* zero: room to grow without breaking the ABI */
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

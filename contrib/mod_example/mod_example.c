/* SPDX-License-Identifier: GPL-2.0-or-later */
/* mod_example: the worked example of contrib/MODULES.md, in plain C99, module ABI 2.
 *
 * Refuses connections from addresses that start with example_deny_prefix (before the
 * master forks anything for them) and counts, in memory shared by all of the
 * server's processes, how many it refused. Build and use:
 *   cc -std=c99 -O2 -Wall -Wextra -fPIC -shared -Wl,-z,defs \
 *      $(pkg-config --cflags moatftpd) -o mod_example.so mod_example.c
 *   install -m 0755 mod_example.so "$(pkg-config --variable=moduledir moatftpd)"
 *   ftpd.conf:  load_module=mod_example
 *               example_deny_prefix=192.0.2.
 */
#include <stdio.h>
#include <string.h>

#include "moat_module.h"

/* Filled in by the server when it loads the module: the table below is checked then,
 * so a misspelt core option is a load error, not a zero at run time. */
static uint32_t deny_prefix, log_refusals;

static const struct moat_option example_options[] = {
    {"example_deny_prefix", MOAT_OPT_STRING, "",
     "Refuse clients whose address starts with this text; empty refuses nobody.",
     &deny_prefix, 0},
    {"example_log_refusals", MOAT_OPT_BOOL, "YES", "Log a line for each refused client.",
     &log_refusals, 0},
    {NULL, MOAT_OPT_BOOL, NULL, NULL, NULL, 0},
};

/* moatftpd -t, start-up and reload: refuse a prefix with a space in it. */
static int example_check(struct moat_ctx *ctx) {
  const char *prefix = ctx->host->opt_string(ctx, deny_prefix);
  if (strchr(prefix, ' ') == NULL) return 0;
  ctx->host->check_error(ctx, deny_prefix, "an address prefix has no spaces");
  return 1;
}

static int example_init(struct moat_ctx *ctx) {
  unsigned long *refused = ctx->host->shared_alloc(ctx, sizeof *refused); /* init only */
  if (refused == NULL) return -1;
  ctx->state = refused; /* shared: the same counter in every process the master forks */
  return 0;
}

static int example_admit(struct moat_ctx *ctx, const struct moat_conn *conn, char *reply,
                         size_t reply_len) {
  unsigned long *refused = ctx->state;
  /* read each time: SIGHUP may change it */
  const char *prefix = ctx->host->opt_string(ctx, deny_prefix);
  char line[160];
  if (prefix[0] == '\0' || strncmp(conn->peer_text, prefix, strlen(prefix)) != 0) {
    return MOAT_CONTINUE;
  }
  ++*refused;
  if (ctx->host->opt_bool(ctx, log_refusals)) {
    snprintf(line, sizeof line, "refused %s (%lu so far)", conn->peer_text, *refused);
    ctx->host->log(ctx, line);
  }
  snprintf(reply, reply_len, "421 Service not available for your address.");
  return MOAT_REFUSE;
}

MOAT_MODULE(mod_example) = {
    .abi_version = MOAT_MODULE_ABI_VERSION,
    .struct_size = sizeof(struct moat_module),
    .name = "mod_example",
    .description = "Refuses clients by address prefix (contrib/MODULES.md).",
    .options = example_options,
    .check = example_check,
    .init = example_init,
    .admit = example_admit,
    /* every other hook and every reserved field: zero */
};

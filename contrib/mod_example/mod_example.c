/* SPDX-License-Identifier: GPL-2.0-or-later */
/* mod_example: the worked example of contrib/MODULES.md, in plain C99.
 *
 * Refuses connections from addresses that start with example_deny_prefix (before the
 * master forks anything for them) and counts, in memory shared by all of the
 * server's processes, how many it refused. Build and use:
 *   cc -std=c99 -O2 -Wall -Wextra -fPIC -shared -Wl,-z,defs \
 *      -I/usr/local/include/moatftpd -o mod_example.so mod_example.c
 *   install -m 0755 mod_example.so /usr/local/lib/moatftpd/modules/
 *   ftpd.conf:  load_module=mod_example
 *               example_deny_prefix=192.0.2.
 */
#include <stdio.h>
#include <string.h>

#include "moat_module.h"

static const struct moat_option example_options[] = {
    {"example_deny_prefix", MOAT_OPT_STRING, "",
     "Refuse clients whose address starts with this text; empty refuses nobody."},
    {"example_log_refusals", MOAT_OPT_BOOL, "YES", "Log a line for each refused client."},
    {NULL, MOAT_OPT_BOOL, NULL, NULL},
};

struct example_state {
  const struct moat_host *host;
  unsigned long *refused; /* shared: survives in every process the master forks */
};

static struct example_state state;

static int example_init(const struct moat_host *host, void **module_state) {
  state.host = host;
  state.refused = host->shared_alloc(sizeof *state.refused); /* only possible in init */
  if (state.refused == NULL) return -1;
  *module_state = &state;
  return 0;
}

static int example_admit(void *module_state, const struct moat_conn *conn, char *reply,
                         size_t reply_len) {
  struct example_state *s = module_state;
  const char *prefix = s->host->option_string("example_deny_prefix"); /* read each time:
                                                                         SIGHUP may change it */
  char line[160];
  if (prefix[0] == '\0' || strncmp(conn->peer_text, prefix, strlen(prefix)) != 0) {
    return MOAT_CONTINUE;
  }
  ++*s->refused;
  if (s->host->option_bool("example_log_refusals")) {
    snprintf(line, sizeof line, "refused %s (%lu so far)", conn->peer_text, *s->refused);
    s->host->log("mod_example", line);
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
    .init = example_init,
    .admit = example_admit,
    /* every other hook and every reserved field: zero */
};

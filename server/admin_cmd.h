/* admin_cmd.h: `mltrackd user ...` and `mltrackd token ...` (admin_cmd.c). */
#ifndef MT_ADMIN_CMD_H
#define MT_ADMIN_CMD_H

#include <stdio.h>

#include "server.h"

/* Whether cmd is one of the admin commands ("user", "token"). */
int admin_is_command(const char *cmd);
/* An option of the admin commands: 1 takes a value, 0 does not, -1 is not one. */
int admin_flag(const char *flag);
/* The commands' lines of mltrackd --help. */
void admin_usage(FILE *f);
/* Run `cmd argv...` (argv[0] the subcommand) on the database of mt_cfg,
 * migrated.  0, or -1 with err (MT_EBADREQ: a usage error). */
int admin_run(const char *cmd, int argc, char **argv, struct mt_err *err);

#endif

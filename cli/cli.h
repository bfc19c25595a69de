/* cli.h: the mltrack command-line tool's internal header. */
#ifndef MT_CLI_H
#define MT_CLI_H

#define MLTRACK_VERSION "0.1.0"

/* Exit codes (DESIGN §7). */
enum cli_exit {
	CLI_OK = 0,
	CLI_CHECK_FAILED = 1,
	CLI_USAGE = 2,
	CLI_SERVER = 3,
};

/* Print "mltrack: <msg>" to stderr and return code. */
int cli_error(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif

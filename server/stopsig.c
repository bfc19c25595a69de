/* stopsig.c: see stopsig.h. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>

#include "stopsig.h"

int stopsig_open(struct stopsig *s, const char *what, struct mt_err *err)
{
	if (pipe2(s->fd, O_CLOEXEC | O_NONBLOCK) != 0)
		return mt_err_set(err, MT_EINTERNAL, "cannot make the %s's pipe: %s", what,
				  strerror(errno));
	atomic_store(&s->stopping, 0);
	return 0;
}

int stopsig_stopping(struct stopsig *s)
{
	return atomic_load(&s->stopping);
}

void stopsig_nap(struct stopsig *s, long ms)
{
	struct pollfd p = { s->fd[0], POLLIN, 0 };

	if (!atomic_load(&s->stopping))
		poll(&p, 1, (int)ms);
}

int stopsig_fd(const struct stopsig *s)
{
	return s->fd[0];
}

void stopsig_raise(struct stopsig *s)
{
	atomic_store(&s->stopping, 1);
	if (s->fd[1] >= 0 && write(s->fd[1], "", 1) < 0) {
		/* full: a byte is there already, every poll ends */
	}
}

void stopsig_close(struct stopsig *s)
{
	for (int i = 0; i < 2; i++) {
		if (s->fd[i] >= 0)
			close(s->fd[i]);
		s->fd[i] = -1;
	}
}

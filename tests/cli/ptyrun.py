"""ptyrun: run a command with a pseudo-terminal as its stdout, as a user at a
terminal would, for the tests of what mltrack draws only on terminals
(progress bars, fitted tables, the wrapped command's own terminal)."""

import fcntl
import os
import pty
import select
import struct
import subprocess
import termios


def run_on_pty(argv, env=None, cwd=None, cols=None, stderr_too=True, stdin_too=False,
               timeout=60):
    """Run argv with stdout on a pseudo-terminal (window cols wide when
    given), stderr too unless stderr_too is False (then it is piped), stdin
    too when stdin_too.  Returns (exit code, the terminal's bytes, the piped
    stderr's bytes or b"").  A command silent for timeout seconds is
    killed."""
    master, slave = pty.openpty()
    if cols:
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, cols, 0, 0))
    p = subprocess.Popen(argv, stdin=slave if stdin_too else None, stdout=slave,
                         stderr=slave if stderr_too else subprocess.PIPE, env=env, cwd=cwd)
    os.close(slave)
    out = b""
    while True:
        ready, _, _ = select.select([master], [], [], timeout)
        if not ready:
            p.kill()
            break
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: every writer has closed the other side
            break
        if not chunk:
            break
        out += chunk
    os.close(master)
    err = b""
    if not stderr_too:
        err = p.stderr.read()
        p.stderr.close()
    return p.wait(timeout=timeout), out, err

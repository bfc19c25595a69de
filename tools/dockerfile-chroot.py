#!/usr/bin/env python3
"""tools/dockerfile-chroot.py: a Dockerfile of deploy/docker built and run as
Debian chroots, on a Debian machine without a Docker engine (as root, with
mmdebstrap: apt-get install mmdebstrap).  Not Docker: an approximation good
enough to check that the Dockerfile's instructions work on Debian 12.

    tools/dockerfile-chroot.py build DOCKERFILE CONTEXT OUT
        Each stage (FROM debian:bookworm-slim only) becomes OUT/<n>, a
        mmdebstrap minbase of bookworm (what the -slim image is made from,
        less its removal of documentation); RUN runs in it with sh -c, the
        stage's ENV set and WORKDIR as the directory; COPY copies from
        CONTEXT (the files git tracks, as .dockerignore would leave them)
        or, with --from=STAGE, from an earlier stage.  The last stage's ENV,
        USER, WORKDIR, ENTRYPOINT and CMD go to OUT/image.json.
    tools/dockerfile-chroot.py run OUT [COMMAND...]
        Runs the last stage as the image would: its USER, ENV (with
        `docker run -e`-like NAME=VALUE words before COMMAND), WORKDIR,
        ENTRYPOINT, and CMD unless COMMAND is given; /dev and /proc bound
        for the time of the run; the host's network.

Behind a TLS-inspecting proxy, NODE_EXTRA_CA_CERTS (a file) is copied into
each stage and set for its RUN instructions.  What it was used for:
docs/operations.md, "Production topology".
"""
import json
import os
import re
import shlex
import shutil
import subprocess
import sys

SUITES = {"debian:bookworm-slim": "bookworm"}


def instructions(path):
    """[(INSTRUCTION, argument text)], continuation lines joined, comments
    dropped (also inside a continued instruction, as Docker does)."""
    out, cur = [], ""
    for line in open(path):
        s = line.rstrip("\n")
        if s.lstrip().startswith("#") or (not cur and not s.strip()):
            continue
        if s.endswith("\\"):
            cur += s[:-1] + " "
            continue
        cur += s
        word, _, rest = cur.strip().partition(" ")
        out.append((word.upper(), rest.strip()))
        cur = ""
    return out


def subst(text, args):
    return re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: args.get(m.group(1) or m.group(2), m.group(0)), text)


def words(rest):
    return json.loads(rest) if rest.startswith("[") else shlex.split(rest)


def sh(cmd, **kw):
    print("+ " + (cmd if isinstance(cmd, str) else " ".join(map(shlex.quote, cmd))), flush=True)
    subprocess.run(cmd, check=True, **kw)


class Mounts:
    def __init__(self, root):
        self.root = root

    def __enter__(self):
        for d in ("dev", "proc"):
            os.makedirs(os.path.join(self.root, d), exist_ok=True)
        sh(["mount", "--bind", "/dev", os.path.join(self.root, "dev")])
        sh(["mount", "-t", "proc", "proc", os.path.join(self.root, "proc")])
        shutil.copy("/etc/resolv.conf", os.path.join(self.root, "etc/resolv.conf"))
        return self

    def __exit__(self, *a):
        for d in ("proc", "dev"):
            subprocess.run(["umount", os.path.join(self.root, d)])


def context_files(ctx):
    """The files git tracks under CONTEXT, less what .dockerignore names
    (its patterns as prefixes and fnmatch globs: enough for this repo's)."""
    import fnmatch
    files = subprocess.run(["git", "-C", ctx, "ls-files", "-z"], check=True,
                           capture_output=True).stdout.decode().split("\0")
    pats = []
    di = os.path.join(ctx, ".dockerignore")
    if os.path.exists(di):
        pats = [p.strip().rstrip("/") for p in open(di) if p.strip() and not p.startswith("#")]
    def ignored(f):
        for p in pats:
            p2 = p[3:] if p.startswith("**/") else p
            if f == p or f.startswith(p + "/") or fnmatch.fnmatch(f, p) or fnmatch.fnmatch(os.path.basename(f), p2):
                return True
        return False
    return [f for f in files if f and not ignored(f) and os.path.exists(os.path.join(ctx, f))]


def copy_into(srcs, dst, root, workdir):
    dst = dst if dst.startswith("/") else os.path.join(workdir, dst)
    target = root + dst
    many = len(srcs) > 1 or dst.endswith("/")
    for s in srcs:
        if os.path.isdir(s):
            shutil.copytree(s, target, symlinks=True, dirs_exist_ok=True)
        else:
            t = os.path.join(target, os.path.basename(s)) if many else target
            os.makedirs(os.path.dirname(t), exist_ok=True)
            shutil.copy2(s, t)


def build(dockerfile, ctx, out):
    ctx = os.path.abspath(ctx)
    files = context_files(ctx)
    staged = os.path.join(out, "context")
    shutil.rmtree(out, ignore_errors=True)
    for f in files:
        os.makedirs(os.path.dirname(os.path.join(staged, f)), exist_ok=True)
        shutil.copy2(os.path.join(ctx, f), os.path.join(staged, f), follow_symlinks=False)
    args, stages, st, nstages = {}, {}, None, 0
    ca = os.environ.get("NODE_EXTRA_CA_CERTS")
    for ins, rest in instructions(dockerfile):
        if ins == "ARG":
            k, _, v = rest.partition("=")
            (st["args"] if st else args)[k] = v
        elif ins == "FROM":
            w = subst(rest, args).split()
            if w[0] not in SUITES:
                sys.exit("dockerfile-chroot: FROM %s: only %s" % (w[0], ", ".join(SUITES)))
            n = nstages
            nstages += 1
            name = w[2] if len(w) > 2 and w[1].upper() == "AS" else str(n)
            root = os.path.join(out, "stage%d" % n)
            sh(["mmdebstrap", "--variant=minbase", SUITES[w[0]], root])
            st = {"root": root, "env": {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
                  "workdir": "/", "user": "0", "entrypoint": [], "cmd": [], "args": dict(args)}
            stages[name] = stages[str(n)] = st
            if ca:
                shutil.copy(ca, os.path.join(root, "tmp/extra-ca.crt"))
        elif ins == "ENV":
            for w in shlex.split(rest):
                k, _, v = w.partition("=")
                st["env"][k] = subst(v, st["env"])
        elif ins == "WORKDIR":
            st["workdir"] = os.path.join(st["workdir"], rest)
            os.makedirs(st["root"] + st["workdir"], exist_ok=True)
        elif ins == "RUN":
            env = dict(st["env"])
            if ca:
                env["NODE_EXTRA_CA_CERTS"] = "/tmp/extra-ca.crt"
            with Mounts(st["root"]):
                sh(["chroot", st["root"], "env", "-i"] + ["%s=%s" % kv for kv in env.items()] +
                   ["sh", "-c", 'cd "$0" && ' + rest, st["workdir"]])
        elif ins == "COPY":
            w = words(rest)
            src_root = staged
            if w[0].startswith("--from="):
                src_root = stages[w[0][7:]]["root"]
                w = w[1:]
            copy_into([os.path.join(src_root, s.lstrip("/")) for s in w[:-1]], w[-1], st["root"], st["workdir"])
        elif ins == "USER":
            st["user"] = rest
        elif ins == "ENTRYPOINT":
            st["entrypoint"] = words(rest)
        elif ins == "CMD":
            st["cmd"] = words(rest)
        elif ins in ("EXPOSE", "VOLUME", "HEALTHCHECK", "STOPSIGNAL", "LABEL"):
            st.setdefault("meta", {})[ins] = rest
        else:
            sys.exit("dockerfile-chroot: %s is not handled" % ins)
    json.dump({k: st[k] for k in ("root", "env", "workdir", "user", "entrypoint", "cmd", "meta")},
              open(os.path.join(out, "image.json"), "w"), indent=1)
    print("dockerfile-chroot: %d stage(s); the image is %s" % (nstages, st["root"]))


def run(out, argv):
    img = json.load(open(os.path.join(out, "image.json")))
    env = dict(img["env"])
    while argv and re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", argv[0]):
        k, _, v = argv.pop(0).partition("=")
        env[k] = v
    cmd = img["entrypoint"] + (argv or img["cmd"])
    user = img["user"] if ":" in img["user"] else img["user"] + ":" + img["user"]
    with Mounts(img["root"]):
        return subprocess.run(["chroot", "--userspec=" + user, img["root"], "env", "-i"] +
                              ["%s=%s" % kv for kv in env.items()] +
                              ["sh", "-c", 'cd "$0" && exec "$@"', img["workdir"]] + cmd).returncode


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "build":
        build(sys.argv[2], sys.argv[3], sys.argv[4])
    elif len(sys.argv) >= 3 and sys.argv[1] == "run":
        sys.exit(run(sys.argv[2], sys.argv[3:]))
    else:
        sys.exit(__doc__)

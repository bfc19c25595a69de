"""Git provenance of the working directory (cli/git.c), through git_probe.

git_probe (tests/cli/git_probe.c) is built next to the mltrack binary named
by MLTRACK_CLI and prints struct cli_git as JSON.  Every case builds a real
repository with the git command in its own temporary directory; no server is
needed.  git runs with an empty HOME and no system config, so the machine's
own settings do not leak in.
"""

import json
import os
import shutil
import subprocess
import tempfile
import unittest

CLI = os.environ.get("MLTRACK_CLI", "build/default/mltrack")
PROBE = os.path.join(os.path.dirname(CLI), "git_probe")
PASSWORD = "s3cr3t-Pa55w0rd"


class GitCase(unittest.TestCase):
    def setUp(self):
        self.tmp = os.path.realpath(tempfile.mkdtemp(prefix="mltrack-git."))
        self.addCleanup(shutil.rmtree, self.tmp, ignore_errors=True)
        self.home = os.path.join(self.tmp, "home")
        os.mkdir(self.home)
        self.env = dict(os.environ)
        for k in list(self.env):
            if k.startswith("GIT_"):
                del self.env[k]
        self.env.update({
            "HOME": self.home,
            "XDG_CONFIG_HOME": os.path.join(self.home, ".config"),
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_AUTHOR_NAME": "Test", "GIT_AUTHOR_EMAIL": "test@example.com",
            "GIT_COMMITTER_NAME": "Test", "GIT_COMMITTER_EMAIL": "test@example.com",
            "GIT_TERMINAL_PROMPT": "0",
        })
        self.repo = os.path.join(self.tmp, "repo")

    # ---- helpers ----

    def git(self, *args, cwd=None):
        p = subprocess.run(["git"] + list(args), cwd=cwd or self.repo, env=self.env,
                           capture_output=True, text=True, timeout=60)
        if p.returncode != 0:
            raise AssertionError("git %s: %s" % (" ".join(args), p.stderr))
        return p.stdout.strip()

    def init(self, path=None, commit=True):
        path = path or self.repo
        os.makedirs(path, exist_ok=True)
        self.git("init", "-q", "-b", "main", cwd=path)
        if commit:
            self.write("a.txt", "one\ntwo\nthree\n", root=path)
            self.git("add", "a.txt", cwd=path)
            self.git("commit", "-q", "-m", "first", cwd=path)
        return path

    def write(self, name, data, root=None):
        p = os.path.join(root or self.repo, name)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "wb" if isinstance(data, bytes) else "w") as f:
            f.write(data)
        return p

    def run_probe(self, *args):
        return subprocess.run([PROBE] + list(args), env=self.env, capture_output=True,
                              timeout=120)

    def probe(self, directory=None, diff=True):
        """Provenance of directory (default the repo) and its patch as bytes."""
        args = []
        patch = os.path.join(self.tmp, "patch.diff")
        if diff:
            args += ["--diff", patch]
        p = self.run_probe(*(args + [directory or self.repo]))
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stderr, b"")
        self.last_output = p.stdout + p.stderr
        g = json.loads(p.stdout)
        text = None
        if diff and g["found"]:
            with open(patch, "rb") as f:
                text = f.read()
            self.assertEqual(g["diff_bytes"], len(text))
            os.unlink(patch)
        return g, text


class TestProvenance(GitCase):
    def test_clean_repo_with_password_in_remote(self):
        self.init()
        self.git("remote", "add", "origin",
                 "https://alice:%s@git.example.com/org/repo.git" % PASSWORD)
        g, patch = self.probe()
        self.assertEqual(g, {
            "found": True, "commit": self.git("rev-parse", "HEAD"), "branch": "main",
            "repo_url": "https://git.example.com/org/repo.git", "dirty": False,
            "root": self.repo, "diff_bytes": 0,
        })
        self.assertEqual(patch, b"")
        self.assertNotIn(PASSWORD.encode(), self.last_output)
        self.assertNotIn(b"alice", self.last_output)

    def test_token_and_ssh_remotes(self):
        self.init()
        self.git("remote", "add", "origin", "https://%s@github.com/org/repo.git" % PASSWORD)
        self.assertEqual(self.probe()[0]["repo_url"], "https://github.com/org/repo.git")
        self.assertNotIn(PASSWORD.encode(), self.last_output)
        self.git("remote", "set-url", "origin", "ssh://git:%s@host.example/x.git" % PASSWORD)
        self.assertEqual(self.probe()[0]["repo_url"], "ssh://git@host.example/x.git")
        self.assertNotIn(PASSWORD.encode(), self.last_output)
        self.git("remote", "set-url", "origin", "git@github.com:org/repo.git")
        self.assertEqual(self.probe()[0]["repo_url"], "git@github.com:org/repo.git")

    def test_dirty_tree_and_patch(self):
        self.init()
        self.write("a.txt", "one\nTWO\nthree\n")            # modified, not staged
        self.write("new.txt", "brand new line\n")           # staged new file
        self.git("add", "new.txt")
        self.write("untracked.txt", "not tracked\n")        # untracked: ignored
        g, patch = self.probe()
        self.assertTrue(g["found"])
        self.assertTrue(g["dirty"])
        text = patch.decode()
        self.assertIn("diff --git a/a.txt b/a.txt", text)
        self.assertIn("-two\n+TWO\n", text)
        self.assertIn("diff --git a/new.txt b/new.txt", text)
        self.assertIn("new file mode 100644", text)
        self.assertIn("+brand new line\n", text)
        self.assertNotIn("untracked", text)
        # The patch is what `git diff HEAD` says, and applies to HEAD.
        self.assertEqual(text, self.git("diff", "HEAD") + "\n")
        clone = os.path.join(self.tmp, "clone")
        self.git("clone", "-q", self.repo, clone, cwd=self.tmp)
        with open(os.path.join(self.tmp, "p.diff"), "wb") as f:
            f.write(patch)
        self.git("apply", "--index", os.path.join(self.tmp, "p.diff"), cwd=clone)
        with open(os.path.join(clone, "a.txt")) as f:
            self.assertEqual(f.read(), "one\nTWO\nthree\n")
        with open(os.path.join(clone, "new.txt")) as f:
            self.assertEqual(f.read(), "brand new line\n")

    def test_provenance_and_patch_in_one_pass(self):
        # What `mltrack run` calls: provenance and, for a dirty tree only,
        # the patch from the same comparison; the same bytes as --diff.
        self.init()
        p = os.path.join(self.tmp, "one-pass.diff")
        r = self.run_probe("--dirty-patch", p, self.repo)
        self.assertEqual(r.returncode, 0, r.stderr)
        g = json.loads(r.stdout)
        self.assertFalse(g["dirty"])
        self.assertEqual((g["patch_bytes"], g["patch_err"]), (-1, ""))
        self.assertFalse(os.path.exists(p), "a clean tree got a patch")
        self.write("a.txt", "one\nTWO\nthree\n")
        self.write("new.txt", "brand new line\n")
        self.git("add", "new.txt")
        r = self.run_probe("--dirty-patch", p, self.repo)
        self.assertEqual(r.returncode, 0, r.stderr)
        g = json.loads(r.stdout)
        self.assertTrue(g["dirty"])
        with open(p, "rb") as f:
            one_pass = f.read()
        self.assertEqual(g["patch_bytes"], len(one_pass))
        self.assertEqual(g["patch_err"], "")
        _, separate = self.probe()
        self.assertEqual(one_pass, separate)
        # A patch that cannot be written leaves the provenance standing.
        r = self.run_probe("--dirty-patch", os.path.join(self.tmp, "no", "dir", "p"), self.repo)
        self.assertEqual(r.returncode, 0, r.stderr)
        g = json.loads(r.stdout)
        self.assertTrue(g["found"])
        self.assertTrue(g["dirty"])
        self.assertEqual(g["commit"], self.git("rev-parse", "HEAD"))
        self.assertEqual(g["patch_bytes"], -1)
        self.assertIn("cannot create", g["patch_err"])

    def test_staged_only_change_is_dirty(self):
        self.init()
        self.write("a.txt", "staged\n")
        self.git("add", "a.txt")
        g, patch = self.probe()
        self.assertTrue(g["dirty"])
        self.assertIn(b"+staged\n", patch)

    def test_deleted_file_is_dirty(self):
        self.init()
        os.unlink(os.path.join(self.repo, "a.txt"))
        g, patch = self.probe()
        self.assertTrue(g["dirty"])
        self.assertIn(b"deleted file mode", patch)

    def test_untracked_and_ignored_only_is_clean(self):
        self.init()
        self.write(".gitignore", "*.log\n")
        self.git("add", ".gitignore")
        self.git("commit", "-q", "-m", "ignore")
        self.write("untracked.txt", "x\n")
        self.write("sub/untracked2.txt", "y\n")
        self.write("debug.log", "z\n")
        g, patch = self.probe()
        self.assertFalse(g["dirty"])
        self.assertEqual(patch, b"")

    def test_touched_but_unchanged_is_clean(self):
        self.init()
        os.utime(os.path.join(self.repo, "a.txt"), (1, 1))
        g, patch = self.probe()
        self.assertFalse(g["dirty"])
        self.assertEqual(patch, b"")

    def test_detached_head(self):
        self.init()
        self.write("a.txt", "second\n")
        self.git("commit", "-q", "-am", "second")
        first = self.git("rev-parse", "HEAD~1")
        self.git("checkout", "-q", "--detach", first)
        g, _ = self.probe()
        self.assertEqual(g["branch"], "")
        self.assertEqual(g["commit"], first)
        self.assertFalse(g["dirty"])

    def test_no_commits(self):
        self.init(commit=False)
        g, patch = self.probe()
        self.assertEqual(g, {"found": True, "commit": "", "branch": "main", "repo_url": "",
                             "dirty": False, "root": self.repo, "diff_bytes": 0})
        self.assertEqual(patch, b"")
        # Staged files on an unborn branch diff against the empty tree.
        self.write("first.txt", "hello\n")
        self.git("add", "first.txt")
        self.write("loose.txt", "untracked\n")
        g, patch = self.probe()
        self.assertTrue(g["dirty"])
        self.assertEqual(g["commit"], "")
        self.assertIn(b"new file mode 100644", patch)
        self.assertIn(b"+hello\n", patch)
        self.assertNotIn(b"loose", patch)

    def test_subdirectory_discovery(self):
        self.init()
        deep = os.path.join(self.repo, "src", "pkg", "deep")
        os.makedirs(deep)
        g, _ = self.probe(deep)
        self.assertTrue(g["found"])
        self.assertEqual(g["root"], self.repo)
        self.assertEqual(g["commit"], self.git("rev-parse", "HEAD"))

    def test_outside_any_repository(self):
        outside = os.path.join(self.tmp, "plain")
        os.mkdir(outside)
        inside = subprocess.run(["git", "rev-parse", "--git-dir"], cwd=outside, env=self.env,
                                capture_output=True)
        if inside.returncode == 0:
            self.skipTest("the temporary directory is inside a git repository")
        g, patch = self.probe(outside)
        self.assertEqual(g, {"found": False, "commit": "", "branch": "", "repo_url": "",
                             "dirty": False, "root": ""})
        self.assertIsNone(patch)

    def test_bare_repository_is_not_found(self):
        bare = os.path.join(self.tmp, "bare.git")
        self.git("init", "-q", "--bare", bare, cwd=self.tmp)
        g, _ = self.probe(bare)
        self.assertFalse(g["found"])

    def test_upstream_remote_preferred(self):
        self.init()
        self.git("remote", "add", "aaa", "https://aaa.example/first.git")
        self.git("remote", "add", "origin", "https://origin.example/o.git")
        self.git("remote", "add", "upstream", "https://up.example/u.git")
        self.assertEqual(self.probe()[0]["repo_url"], "https://origin.example/o.git")
        self.git("config", "branch.main.remote", "upstream")
        self.git("config", "branch.main.merge", "refs/heads/main")
        self.assertEqual(self.probe()[0]["repo_url"], "https://up.example/u.git")
        # A detached HEAD has no upstream: origin again.
        self.git("checkout", "-q", "--detach")
        self.assertEqual(self.probe()[0]["repo_url"], "https://origin.example/o.git")
        self.git("checkout", "-q", "main")
        # Without an upstream and without origin: the first remote by name.
        self.git("config", "--unset", "branch.main.remote")
        self.git("remote", "remove", "origin")
        self.assertEqual(self.probe()[0]["repo_url"], "https://aaa.example/first.git")
        # An upstream naming a missing remote (or "."): the fallbacks.
        self.git("config", "branch.main.remote", "gone")
        self.assertEqual(self.probe()[0]["repo_url"], "https://aaa.example/first.git")
        self.git("config", "branch.main.remote", ".")
        self.assertEqual(self.probe()[0]["repo_url"], "https://aaa.example/first.git")

    def test_insteadof_and_odd_remote_names(self):
        self.init()
        self.git("remote", "add", "z.last", "gh:org/z.git")
        self.git("remote", "add", "a.first", "gh:org/a.git")
        self.git("config", "url.https://bot:%s@github.com/.insteadOf" % PASSWORD, "gh:")
        self.git("config", "url.https://other.example/.insteadOf", "g")
        g, _ = self.probe()
        self.assertEqual(g["repo_url"], "https://github.com/org/a.git")
        self.assertNotIn(PASSWORD.encode(), self.last_output)
        self.assertEqual(self.git("remote", "get-url", "a.first"),
                         "https://bot:%s@github.com/org/a.git" % PASSWORD)

    def test_no_remotes(self):
        self.init()
        self.assertEqual(self.probe()[0]["repo_url"], "")

    def test_large_binary_file(self):
        self.init()
        blob = bytes(range(256)) * (8 << 10)      # 2 MiB, NUL bytes included
        self.write("model.bin", blob)
        self.git("add", "model.bin")
        self.git("commit", "-q", "-m", "binary")
        self.write("model.bin", blob[::-1])
        g, patch = self.probe()
        self.assertTrue(g["dirty"])
        self.assertIn(b"Binary files a/model.bin and b/model.bin differ", patch)
        self.assertLess(len(patch), 1024)

    def test_symlinks(self):
        self.init()
        os.symlink("a.txt", os.path.join(self.repo, "link"))
        os.symlink("/nonexistent/outside", os.path.join(self.repo, "dangling"))
        self.git("add", "link", "dangling")
        self.git("commit", "-q", "-m", "links")
        g, patch = self.probe()
        self.assertFalse(g["dirty"])
        os.unlink(os.path.join(self.repo, "link"))
        os.symlink("b.txt", os.path.join(self.repo, "link"))
        g, patch = self.probe()
        self.assertTrue(g["dirty"])
        self.assertIn(b"-a.txt\n", patch)
        self.assertIn(b"+b.txt\n", patch)
        self.assertIn(b"120000", patch)

    def test_submodules_ignored(self):
        sub = self.init(os.path.join(self.tmp, "subsrc"))
        self.init()
        self.git("-c", "protocol.file.allow=always", "submodule", "add", "-q", sub, "vendor/sub")
        self.git("commit", "-q", "-m", "submodule")
        g, patch = self.probe()
        self.assertFalse(g["dirty"], patch)
        # New commit and local edits inside the submodule: still clean.
        inner = os.path.join(self.repo, "vendor", "sub")
        self.write("a.txt", "changed inside\n", root=inner)
        self.git("commit", "-q", "-am", "inner", cwd=inner)
        self.write("a.txt", "dirty inside\n", root=inner)
        g, patch = self.probe()
        self.assertFalse(g["dirty"], patch)
        self.assertEqual(patch, b"")
        # Inside the submodule its own repository is the one found.
        g, _ = self.probe(inner)
        self.assertEqual(g["root"], inner)
        self.assertTrue(g["dirty"])

    def test_no_external_programs(self):
        self.init()
        marker = os.path.join(self.tmp, "ran")
        cmd = "touch %s" % marker
        self.write(".gitattributes", "* filter=evil diff=evil\n")
        self.git("add", ".gitattributes")
        self.git("commit", "-q", "-m", "attributes")
        # Configured after the last git command, which would run them itself.
        for key, value in [("filter.evil.clean", cmd), ("filter.evil.smudge", cmd),
                           ("filter.evil.process", cmd), ("filter.evil.required", "true"),
                           ("diff.evil.textconv", cmd), ("diff.evil.command", cmd),
                           ("core.fsmonitor", cmd), ("core.pager", cmd),
                           ("credential.helper", "!" + cmd)]:
            self.git("config", key, value)
        self.write("a.txt", "changed\n")
        g, patch = self.probe()
        self.assertTrue(g["dirty"])
        self.assertIn(b"+changed\n", patch)
        self.assertFalse(os.path.exists(marker), "an external program ran")

    def test_damaged_repository(self):
        self.init()
        with open(os.path.join(self.repo, ".git", "HEAD"), "w") as f:
            f.write("0123456789abcdef0123456789abcdef01234567\n")
        p = self.run_probe(self.repo)
        self.assertEqual(p.returncode, 1)
        lines = p.stderr.decode().splitlines()
        self.assertEqual(len(lines), 1, p.stderr)
        self.assertTrue(lines[0].startswith("git_probe: cannot read HEAD"), lines[0])

    def test_diff_to_unwritable_path(self):
        self.init()
        p = self.run_probe("--diff", os.path.join(self.tmp, "no", "such", "dir", "p"), self.repo)
        self.assertEqual(p.returncode, 1)
        self.assertIn(b"cannot create", p.stderr)


class TestStripCredentials(unittest.TestCase):
    CASES = [
        ("https://user:pass@host/x", "https://host/x"),
        ("https://token@host/x", "https://host/x"),
        ("http://u:p@host:8080/a/b.git", "http://host:8080/a/b.git"),
        ("HTTPS://U:P@Host/x", "HTTPS://Host/x"),
        ("https://user%40corp:p%40ss@host/x", "https://host/x"),
        ("https://user:p@ss@host/x", "https://host/x"),
        ("https://u:p@host", "https://host"),
        ("https://u:p@host?x=1", "https://host?x=1"),
        ("https://host/x", "https://host/x"),
        ("https://host/path@v1/x", "https://host/path@v1/x"),
        ("https://host/x?token=abc@d", "https://host/x?token=abc@d"),
        ("ssh://git:pw@host/x", "ssh://git@host/x"),
        ("ssh://git@host:2222/x", "ssh://git@host:2222/x"),
        ("ssh://git:pw@host:2222/x", "ssh://git@host:2222/x"),
        ("git+ssh://me:pw@host/x", "git+ssh://me@host/x"),
        ("ssh+git://me@host/x", "ssh+git://me@host/x"),
        ("git://host/x.git", "git://host/x.git"),
        ("ftp://u:p@host/x", "ftp://host/x"),
        ("file:///srv/git/x.git", "file:///srv/git/x.git"),
        ("git@github.com:org/repo.git", "git@github.com:org/repo.git"),
        ("github.com:org/repo.git", "github.com:org/repo.git"),
        ("me:pw@host:org/repo.git", "me@host:org/repo.git"),
        ("/srv/git/x.git", "/srv/git/x.git"),
        ("/srv/a:b@c/x.git", "/srv/a:b@c/x.git"),
        ("../sibling", "../sibling"),
        ("./x:y@z", "./x:y@z"),
        ("", ""),
    ]

    def test_cases(self):
        for url, want in self.CASES:
            with self.subTest(url=url):
                p = subprocess.run([PROBE, "--strip", url], capture_output=True, text=True,
                                   timeout=30)
                self.assertEqual(p.returncode, 0, p.stderr)
                self.assertEqual(p.stdout, want + "\n")


if __name__ == "__main__":
    unittest.main()

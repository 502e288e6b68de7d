#!/usr/bin/env python3
"""Installing promblock: shell completions and the .deb package.

- the bash and zsh completions (tools/completions/) offer every subcommand
  and every option each subcommand's --help lists, and bash's completes
  what a user types (a command, an option, a --dedup value);
- `cpack -G DEB` in the build directory makes a .deb holding the binary,
  every man page and both completions, depending on the shared libraries
  the binary links (from dpkg-shlibdeps); unpacked, its binary runs and
  its man pages render.
"""

import os
import re
import shutil
import subprocess
import sys
import unittest

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
from test_man import help_options, subcommands  # noqa: E402

COMPLETIONS = os.path.join(h.REPO, "tools", "completions")
BASH = os.path.join(COMPLETIONS, "promblock.bash")
ZSH = os.path.join(COMPLETIONS, "_promblock")


def bash_complete(*words):
    """COMPREPLY of the bash completion for the command line `words` (the
    last one being completed)."""
    script = ". %s; COMP_WORDS=(promblock %s); COMP_CWORD=%d; _promblock; " \
             "printf '%%s\\n' \"${COMPREPLY[@]}\"" % (
                 BASH, " ".join("'%s'" % w for w in words), len(words))
    p = subprocess.run(["bash", "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=60)
    assert p.returncode == 0, p.stderr
    return p.stdout.decode().split()


class CompletionTest(unittest.TestCase):

    def test_completions_know_every_command_and_option(self):
        with open(BASH) as f:
            bash = f.read()
        with open(ZSH) as f:
            zsh = f.read()
        for sub in subcommands():
            m = re.search(r"^\s+%s\) opts=\"([^\"]*)\"" % sub, bash, re.M)
            self.assertIsNotNone(m, "bash: no options for %s" % sub)
            self.assertEqual(sorted(set(m.group(1).split())), sorted(help_options(sub)), sub)
            m = re.search(r"^\s+%s\) _arguments(.*?);;" % sub, zsh, re.M | re.S)
            self.assertIsNotNone(m, "zsh: no arguments for %s" % sub)
            body = m.group(1)
            # Shared option specs are kept in variables ($dedup, $json, ...).
            for name, spec in re.findall(r"local -a (\w+)=\('([^']*)'\)", zsh):
                body = body.replace("$" + name, spec)
            self.assertEqual(sorted(set(re.findall(r"(--[a-z][a-z0-9-]*)\[", body))),
                             sorted(help_options(sub)), sub)

    @unittest.skipUnless(shutil.which("bash"), "bash not installed")
    def test_bash_completes(self):
        self.assertEqual(bash_complete("me"), ["merge"])
        self.assertEqual(bash_complete("merge", "--de"), ["--dedup"])
        self.assertEqual(sorted(bash_complete("merge", "--dedup", "")),
                         ["chain", "none", "penalty"])
        self.assertEqual(bash_complete("compact", "--dry"), ["--dry-run"])

    @unittest.skipUnless(shutil.which("zsh"), "zsh not installed")
    def test_zsh_parses(self):
        p = subprocess.run(["zsh", "-n", ZSH], stderr=subprocess.PIPE, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)


@unittest.skipUnless(shutil.which("cpack") and shutil.which("dpkg-deb"), "cpack/dpkg-deb missing")
class DebPackageTest(unittest.TestCase):

    def test_deb(self):
        config = os.path.join(h.BUILD, "CPackConfig.cmake")
        self.assertTrue(os.path.isfile(config), config)
        out = h.mkdtemp(prefix="promblock-deb-")
        p = subprocess.run(["cpack", "-G", "DEB", "--config", config, "-B", out],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=h.BUILD,
                           timeout=900)
        self.assertEqual(p.returncode, 0, p.stdout.decode(errors="replace"))
        debs = [f for f in os.listdir(out) if f.endswith(".deb")]
        self.assertEqual(len(debs), 1, os.listdir(out))
        deb = os.path.join(out, debs[0])

        listing = subprocess.run(["dpkg-deb", "-c", deb], stdout=subprocess.PIPE,
                                 timeout=60).stdout.decode()
        files = {line.split()[-1].lstrip(".") for line in listing.splitlines()}
        want = {"/usr/bin/promblock", "/usr/share/bash-completion/completions/promblock",
                "/usr/share/zsh/vendor-completions/_promblock"}
        want |= {"/usr/share/man/man1/" + n for n in os.listdir(os.path.join(h.REPO, "man"))
                 if n.endswith(".1")}
        self.assertEqual(sorted(want - files), [])

        info = subprocess.run(["dpkg-deb", "-I", deb], stdout=subprocess.PIPE,
                              timeout=60).stdout.decode()
        depends = re.search(r"^ Depends: (.*)$", info, re.M)
        self.assertIsNotNone(depends, info)
        for lib in ("libzstd1", "libroaring", "libre2", "libcurl4", "libssl3"):
            self.assertIn(lib, depends.group(1))

        root = os.path.join(out, "root")
        subprocess.run(["dpkg-deb", "-x", deb, root], check=True, timeout=60)
        rc = subprocess.run([os.path.join(root, "usr", "bin", "promblock"), "--version"],
                            stdout=subprocess.PIPE, timeout=60)
        self.assertEqual(rc.returncode, 0)
        self.assertRegex(rc.stdout.decode(), r"^promblock \d+\.\d+\.\d+ \(commit ")
        # libcurl (and its 30 dependencies) and libcrypto are loaded when a
        # bucket is used, not at every start: tests/e2e/test_s3*.py use
        # libcurl, remote_test's FileHashTest and the downloads libcrypto.
        needed = subprocess.run(["readelf", "-d", os.path.join(root, "usr", "bin", "promblock")],
                                stdout=subprocess.PIPE, timeout=60).stdout.decode()
        self.assertIn("libzstd", needed)
        self.assertNotIn("libcurl", needed)
        self.assertNotIn("libcrypto", needed)
        if shutil.which("groff"):
            page = os.path.join(root, "usr", "share", "man", "man1", "promblock-merge.1")
            p = subprocess.run(["groff", "-ww", "-man", "-Tutf8", page],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
            self.assertEqual((p.returncode, p.stderr), (0, b""))


if __name__ == "__main__":
    h.main()

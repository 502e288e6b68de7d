#!/usr/bin/env python3
"""Man pages and --help agree.

- every subcommand that `promblock --help` lists has a page
  man/promblock-SUB.1, and promblock.1 lists every subcommand;
- each page renders with `groff -ww -man` without a warning;
- each page has NAME, SYNOPSIS, DESCRIPTION, OPTIONS (or COMMANDS), EXIT
  STATUS, EXAMPLES (subcommands) and SEE ALSO sections;
- every option that `promblock SUB --help` lists appears in the page's
  OPTIONS section, and every option documented there is one --help lists
  (no stale options);
- `promblock --version` names the version and the git commit it was built
  from.
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

MAN = os.path.join(h.REPO, "man")


def help_text(*args):
    rc, out, err = h.run_promblock(list(args) + ["--help"])
    assert rc == 0, err
    return out


def subcommands():
    text = help_text()
    section = text.split("Subcommands:", 1)[1]
    return [m.group(1) for m in re.finditer(r"^  (\w+)\s", section, re.M)]


def help_options(sub):
    return set(re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]*(?:\.[a-z0-9-]+)*)", help_text(sub))) - {"--help"}


def page_text(path):
    """The page's roff source with escaped hyphens (\\-) as plain ones."""
    with open(path, encoding="utf-8") as f:
        return f.read().replace("\\-", "-")


def page_options(path):
    """Long options the page's OPTIONS section documents (--help aside;
    other sections may name other commands' options)."""
    m = re.search(r"^\.SH OPTIONS\n(.*?)(?=^\.SH |\Z)", page_text(path), re.M | re.S)
    assert m, "%s has no OPTIONS section" % path
    return set(re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]*(?:\.[a-z0-9-]+)*)", m.group(1))) - {"--help"}


class ManPageTest(unittest.TestCase):

    def test_every_subcommand_has_a_page(self):
        subs = subcommands()
        self.assertGreaterEqual(len(subs), 9, subs)
        main_page = page_text(os.path.join(MAN, "promblock.1"))
        for sub in subs:
            self.assertTrue(os.path.isfile(os.path.join(MAN, "promblock-%s.1" % sub)), sub)
            self.assertIn("promblock-%s" % sub, main_page, sub)

    @unittest.skipUnless(shutil.which("groff"), "groff not installed")
    def test_pages_render_without_warnings(self):
        for name in sorted(os.listdir(MAN)):
            if not name.endswith(".1"):
                continue
            p = subprocess.run(["groff", "-ww", "-man", "-Tutf8", os.path.join(MAN, name)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
            self.assertEqual(p.returncode, 0, name)
            self.assertEqual(p.stderr.decode(), "", name)
            self.assertGreater(len(p.stdout), 500, name)

    def test_sections(self):
        for name in sorted(os.listdir(MAN)):
            if not name.endswith(".1"):
                continue
            with open(os.path.join(MAN, name), encoding="utf-8") as f:
                sections = re.findall(r"^\.SH (.+)$", f.read(), re.M)
            want = ["NAME", "SYNOPSIS", "DESCRIPTION", "EXIT STATUS", "SEE ALSO"]
            want += ["COMMANDS"] if name == "promblock.1" else ["OPTIONS", "EXAMPLES"]
            for s in want:
                self.assertIn(s, sections, name)

    def test_options_match_help(self):
        for sub in subcommands():
            with self.subTest(sub=sub):
                in_help = help_options(sub)
                in_page = page_options(os.path.join(MAN, "promblock-%s.1" % sub))
                self.assertEqual(sorted(in_help - in_page), [], "in --help, not in the page")
                self.assertEqual(sorted(in_page - in_help), [], "in the page, not in --help")

    def test_version_names_the_commit(self):
        rc, out, err = h.run_promblock(["--version"])
        self.assertEqual(rc, 0, err)
        m = re.fullmatch(r"promblock (\d+\.\d+\.\d+) \(commit ([0-9a-f]{7,40}|unknown)\)\n", out)
        self.assertIsNotNone(m, out)
        git = shutil.which("git")
        if git and os.path.isdir(os.path.join(h.REPO, ".git")):
            head = subprocess.run([git, "-C", h.REPO, "rev-parse", "HEAD"],
                                  stdout=subprocess.PIPE, timeout=60).stdout.decode().strip()
            self.assertTrue(head.startswith(m.group(2)), (head, out))


if __name__ == "__main__":
    h.main()

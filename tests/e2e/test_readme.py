#!/usr/bin/env python3
"""README.md's 5-minute tour runs as written, in order.

The tour's shell block is run with bash -e from the repository root, with
only these substitutions: `./build/promblock` -> the binary under test, the
Prometheus port 9095 -> a free one, `man ./man/X` -> groff rendering it
(man(1) is not on every machine). Its output must show what the tour
promises: a healthy merged block, Prometheus answering count(up) over it,
a second cron run with nothing to do, a restored backup.
"""
import json
import os
import re
import subprocess
import sys
import unittest

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402


def tour_script():
    with open(os.path.join(h.REPO, "README.md")) as f:
        text = f.read()
    section = text.split("## A 5-minute tour", 1)[1]
    m = re.search(r"```sh\n(.*?)```", section, re.S)
    return m.group(1)


class ReadmeTourTest(unittest.TestCase):
    def test_tour_runs_as_written(self):
        script = tour_script()
        self.assertIn("B=./build/promblock", script)
        self.assertIn("9095", script)
        script = script.replace("B=./build/promblock", "B=" + h.BIN)
        script = script.replace("9095", str(h.free_port()))
        script = re.sub(r"^man (\S+)$", r"groff -ww -man -Tutf8 \1 > /dev/null", script,
                        flags=re.M)
        self.assertNotIn("./build/", script)
        env = dict(os.environ, PATH=os.path.dirname(h.BIN) + os.pathsep + os.environ["PATH"])
        p = subprocess.run(["bash", "-e", "-c", script], cwd=h.REPO, capture_output=True,
                           text=True, timeout=300, env=env)
        self.assertEqual(p.returncode, 0, "tour failed:\n%s\n%s" % (p.stdout[-3000:],
                                                                   p.stderr[-3000:]))
        out = p.stdout
        self.assertIn("healthy", out)
        answers = [json.loads(line) for line in out.splitlines() if line.startswith('{"status"')]
        self.assertEqual(len(answers), 1, out)
        result = answers[0]["data"]["result"]
        self.assertEqual(answers[0]["status"], "success")
        self.assertGreater(float(result[0]["value"][1]), 0, "Prometheus found no series")
        self.assertIn("nothing to do", out, "the second cron run did something")
        self.assertIn("restored", (out + p.stderr).lower())


if __name__ == "__main__":
    unittest.main()

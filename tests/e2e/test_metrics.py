#!/usr/bin/env python3
"""Runs that report themselves: --metrics-file, --pushgateway, the example
alert rules (promblock(1), METRICS).

Against the real programs Debian ships: node_exporter's textfile collector
reads the files that a real compact, a failed merge and a verify of a
damaged block write; a Pushgateway takes the pushes of two sharded compact
runs, and a Prometheus scraping it sees both; promtool checks the files and
the rules (and runs the rules' unit tests). A Pushgateway that is not there
costs one warning line and no exit code; a run SIGKILLed at random moments
never leaves a partial metrics file.
"""

import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
import unittest
import urllib.parse
import urllib.request

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import harness as h  # noqa: E402
import compact_data as cd  # noqa: E402
import test_corrupt as tc  # noqa: E402

NODE_EXPORTER = shutil.which("prometheus-node-exporter") or "/usr/bin/prometheus-node-exporter"
PUSHGATEWAY = shutil.which("prometheus-pushgateway") or "/usr/bin/prometheus-pushgateway"
EXAMPLES = os.path.join(h.REPO, "man", "examples")
SHIM = os.environ.get("PROMBLOCK_FAIL_IO", "")
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))

SAMPLE_RE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$')
LABEL_RE = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_exposition(text):
    """[(name, {labels}, value)] of a text exposition; comments skipped."""
    out = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = SAMPLE_RE.match(line)
        assert m, "not a sample line: %r" % line
        labels = {k: v.replace('\\"', '"').replace("\\n", "\n").replace("\\\\", "\\")
                  for k, v in LABEL_RE.findall(m.group(3) or "")}
        out.append((m.group(1), labels, float(m.group(4))))
    return out


def values(samples, name, **labels):
    return [v for n, ls, v in samples
            if n == name and all(ls.get(k) == w for k, w in labels.items())]


def one(tc_, samples, name, **labels):
    got = values(samples, name, **labels)
    tc_.assertEqual(len(got), 1, "%s%s: %s" % (name, labels, got))
    return got[0]


def read_text(path):
    with open(path) as f:
        return f.read()


def warning_lines(stderr):
    return [l for l in stderr.splitlines() if l.startswith("promblock: warning: ")]


def http_get(url, timeout=10):
    with OPENER.open(url, timeout=timeout) as r:
        return r.read().decode()


class Server:
    """A server process on 127.0.0.1:port, ready when `ready_path` answers."""

    def __init__(self, cmd, port, ready_path, log_path):
        self.port = port
        self.url = "http://127.0.0.1:%d" % port
        self.log_path = log_path
        self._log = open(log_path, "wb")
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=self._log,
                                     stderr=subprocess.STDOUT, start_new_session=True,
                                     preexec_fn=h._die_with_parent)
        h._LIVE_PROCS.append(self.proc)
        deadline = time.monotonic() + 60
        while True:
            if self.proc.poll() is not None:
                raise AssertionError("%s exited: %s" % (cmd[0], self.log()))
            try:
                http_get(self.url + ready_path, timeout=2)
                return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError("%s not ready: %s" % (cmd[0], self.log()))
            time.sleep(0.1)

    def log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")[-4000:]

    def stop(self):
        h._kill_proc(self.proc)
        self._log.close()


def promblock(tc_, args, want_rc=0, timeout=300):
    rc, out, err = h.run_promblock(args, timeout=timeout)
    tc_.assertEqual(rc, want_rc, "promblock %s: %s" % (" ".join(map(str, args)), err[-3000:]))
    return out, err


class MetricsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = h.mkdtemp()
        # Two groups (clusters x and y), each of replicas a and b: work for
        # an 8h compaction and for two shards.
        cls.source = cd.sidecar_bucket(os.path.join(cls.tmp, "sidecars"), "xy", 4, seed=3)

    def fresh(self, name):
        d = os.path.join(self.tmp, name)
        shutil.copytree(self.source, d)
        return d

    def compact_args(self, src, out, *extra):
        return ["compact", "--replica-label", "replica", "--consistency-delay", "0s",
                "--json", "--out", out, *extra, src]

    def damaged_block(self, name):
        d = os.path.join(self.tmp, name)
        os.makedirs(d)
        b = h.copy_block(h.block_dirs(h.committed_block_sets()["basic"])[0], d)
        off, ln = tc._first_chunk(b)
        tc._flip(os.path.join(b, "chunks", "000001"), off + ln // 2, 0x10)
        return b

    def promtool_check_metrics(self, path):
        with open(path, "rb") as f:
            p = subprocess.run([h.PROMTOOL, "check", "metrics"], stdin=f, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, timeout=60)
        self.assertEqual(p.returncode, 0, p.stdout.decode())
        self.assertEqual(p.stdout.decode().strip(), "", "promtool lint findings")

    # ------------------------------------------------ textfile collector

    def test_textfile_collector_reads_compact_failed_merge_and_verify(self):
        textdir = os.path.join(self.tmp, "textfile")
        os.makedirs(textdir)
        port = h.free_port()
        ne = Server([NODE_EXPORTER, "--web.listen-address=127.0.0.1:%d" % port,
                     "--collector.disable-defaults", "--collector.textfile",
                     "--collector.textfile.directory=" + textdir],
                    port, "/metrics", os.path.join(self.tmp, "node_exporter.log"))
        try:
            before = time.time()
            src, out = self.fresh("tf-src"), os.path.join(self.tmp, "tf-out")
            os.makedirs(out)
            stdout, _ = promblock(self, self.compact_args(src, out) +
                                  ["--metrics-file", os.path.join(textdir, "compact.prom")])
            summary = json.loads(stdout.splitlines()[-1])
            self.assertGreater(summary["jobs_done"], 0, stdout)
            # Blocks of two groups: merge refuses them (exit 1).
            groups = [b for b in h.block_dirs(src)]
            x = [b for b in groups if h.read_meta(b)["thanos"]["labels"]["cluster"] == "x"][0]
            y = [b for b in groups if h.read_meta(b)["thanos"]["labels"]["cluster"] == "y"][0]
            _, err = promblock(self, ["merge", "--metrics-file", os.path.join(textdir, "merge.prom"),
                                      "--out", os.path.join(self.tmp, "merge-out"), x, y],
                               want_rc=1)
            damaged = self.damaged_block("damaged")
            promblock(self, ["verify", "--metrics-file", os.path.join(textdir, "verify.prom"),
                             damaged], want_rc=1)
            after = time.time()
            self.assertEqual(sorted(os.listdir(textdir)),
                             ["compact.prom", "merge.prom", "verify.prom"])
            for f in os.listdir(textdir):
                self.promtool_check_metrics(os.path.join(textdir, f))

            s = parse_exposition(http_get(ne.url + "/metrics"))
            self.assertEqual(one(self, s, "node_textfile_scrape_error"), 0, ne.log())
            c = {"command": "compact", "shard": "all"}
            self.assertEqual(one(self, s, "promblock_run_exit_code", **c), 0)
            self.assertEqual(one(self, s, "promblock_compaction_jobs", state="done", **c),
                             summary["jobs_done"])
            self.assertEqual(one(self, s, "promblock_compaction_jobs", state="planned", **c),
                             summary["jobs_planned"])
            self.assertEqual(one(self, s, "promblock_compaction_jobs", state="failed", **c), 0)
            self.assertEqual(one(self, s, "promblock_output_blocks", **c),
                             summary["blocks_written"])
            self.assertEqual(one(self, s, "promblock_deletion_marked_blocks", **c),
                             summary["blocks_marked"])
            self.assertGreater(one(self, s, "promblock_input_blocks", **c), 0)
            # Every block in `out` is one of this run's jobs' outputs.
            for key, metric in (("numSeries", "promblock_output_series"),
                                ("numSamples", "promblock_output_samples"),
                                ("numChunks", "promblock_output_chunks")):
                self.assertEqual(one(self, s, metric, **c),
                                 sum(h.read_meta(b)["stats"][key] for b in h.block_dirs(out)), key)
            removed = one(self, s, "promblock_dedup_removed_samples", **c)
            self.assertGreater(removed, 0, "the replicas overlap")
            self.assertEqual(one(self, s, "promblock_input_samples", **c) - removed,
                             one(self, s, "promblock_output_samples", **c))
            gj = [(ls["group"], ls["state"], val) for n, ls, val in s
                  if n == "promblock_compaction_group_jobs" and ls.get("command") == "compact"]
            self.assertEqual(len({g for g, _, _ in gj}), 2, gj)  # clusters x and y
            self.assertTrue(all(re.fullmatch("[0-9a-f]{16}", g) for g, _, _ in gj), gj)
            self.assertEqual(sum(v for _, st, v in gj if st == "done"), summary["jobs_done"])
            written = sum(os.path.getsize(os.path.join(dp, f))
                          for dp, _, fs in os.walk(out) for f in fs)
            self.assertEqual(one(self, s, "promblock_written_bytes", **c), written)
            ok_at = one(self, s, "promblock_last_success_timestamp_seconds", **c)
            self.assertTrue(before <= ok_at <= after, (before, ok_at, after))
            self.assertEqual(one(self, s, "promblock_last_run_timestamp_seconds", **c), ok_at)
            self.assertGreater(one(self, s, "promblock_run_duration_seconds", **c), 0)

            m = {"command": "merge", "shard": "all"}
            self.assertEqual(one(self, s, "promblock_run_exit_code", **m), 1)
            self.assertEqual(one(self, s, "promblock_last_success_timestamp_seconds", **m), 0)
            self.assertGreaterEqual(one(self, s, "promblock_last_run_timestamp_seconds", **m),
                                    before)
            self.assertEqual(values(s, "promblock_output_samples", **m), [])

            v = {"command": "verify", "shard": "all"}
            self.assertEqual(one(self, s, "promblock_run_exit_code", **v), 1)
            self.assertEqual(one(self, s, "promblock_verify_checked_blocks", **v), 1)
            errors = [(ls["kind"], val) for n, ls, val in s
                      if n == "promblock_verify_problems" and ls.get("severity") == "error"]
            self.assertTrue(errors, s)
            self.assertTrue(all(k and val > 0 for k, val in errors), errors)
            # As many as verify printed.
            rc, vout, _ = h.run_promblock(["verify", "--json", damaged])
            printed = [json.loads(l) for l in vout.splitlines()]
            self.assertEqual(sum(val for _, val in errors),
                             len([p for p in printed if p["severity"] == "error"]))
        finally:
            ne.stop()

    def test_failed_run_carries_last_success_over(self):
        f = os.path.join(self.tmp, "carry", "merge.prom")
        os.makedirs(os.path.dirname(f))
        blocks = h.block_dirs(h.committed_block_sets()["basic"])
        out = os.path.join(self.tmp, "carry-out")
        promblock(self, ["merge", "--metrics-file", f, "--out", out] + blocks)
        first = parse_exposition(read_text(f))
        ok_at = one(self, first, "promblock_last_success_timestamp_seconds", command="merge")
        self.assertGreater(one(self, first, "promblock_output_samples", command="merge"), 0)
        time.sleep(0.05)
        # A merge that fails: its --out is a file.
        not_a_dir = os.path.join(self.tmp, "carry-file")
        open(not_a_dir, "w").close()
        promblock(self, ["merge", "--metrics-file", f, "--out", not_a_dir] + blocks, want_rc=1)
        second = parse_exposition(read_text(f))
        self.assertEqual(one(self, second, "promblock_run_exit_code", command="merge"), 1)
        self.assertEqual(one(self, second, "promblock_last_success_timestamp_seconds",
                             command="merge"), ok_at)
        self.assertGreater(one(self, second, "promblock_last_run_timestamp_seconds",
                               command="merge"), ok_at)
        # Another command's run into the same file has no success to carry over.
        promblock(self, ["verify", "--metrics-file", f, os.path.join(self.tmp, "nowhere")],
                  want_rc=1)
        third = parse_exposition(read_text(f))
        self.assertEqual(one(self, third, "promblock_last_success_timestamp_seconds",
                             command="verify"), 0)

    def test_lock_held_says_75(self):
        out = os.path.join(self.tmp, "locked-out")
        os.makedirs(out)
        f = os.path.join(self.tmp, "locked.prom")
        holder = subprocess.Popen(
            ["python3", "-c", "import fcntl,os,sys,time\n"
             "fd=os.open(sys.argv[1], os.O_RDWR|os.O_CREAT, 0o644)\n"
             "fcntl.flock(fd, fcntl.LOCK_EX)\nprint('locked', flush=True)\ntime.sleep(60)\n",
             os.path.join(out, ".promblock.lock")], stdout=subprocess.PIPE)
        try:
            self.assertEqual(holder.stdout.readline().strip(), b"locked")
            rc, _, err = h.run_promblock(["merge", "--metrics-file", f, "--out", out] +
                                         h.block_dirs(h.committed_block_sets()["basic"]))
        finally:
            holder.kill()
            holder.wait()
            holder.stdout.close()
        self.assertEqual(rc, 75, err)
        s = parse_exposition(read_text(f))
        self.assertEqual(one(self, s, "promblock_run_exit_code", command="merge"), 75)

    # ------------------------------------------------ Pushgateway and Prometheus

    def test_pushgateway_keeps_shards_apart_and_prometheus_sees_them(self):
        port = h.free_port()
        # Its own persistence file: Debian's default is one in /var/lib that
        # every run as root would share, carrying pushes over between runs.
        pg = Server([PUSHGATEWAY, "--web.listen-address=127.0.0.1:%d" % port,
                     "--persistence.file=" + os.path.join(self.tmp, "pushgateway.data")],
                    port, "/-/ready", os.path.join(self.tmp, "pushgateway.log"))
        prom = None
        try:
            src, out = self.fresh("pg-src"), os.path.join(self.tmp, "pg-out")
            os.makedirs(out)
            done = {}
            for shard in ("0/2", "1/2"):
                stdout, err = promblock(self, self.compact_args(src, out, "--shard", shard) +
                                        ["--pushgateway", pg.url, "--pushgateway-job", "nightly"])
                self.assertEqual(warning_lines(err), [])
                done[shard.replace("/", "-of-")] = json.loads(stdout.splitlines()[-1])["jobs_done"]
            self.assertGreater(sum(done.values()), 0, done)
            s = parse_exposition(http_get(pg.url + "/metrics"))
            for shard, jobs in done.items():
                k = {"job": "nightly", "command": "compact", "shard": shard}
                self.assertEqual(one(self, s, "promblock_run_exit_code", **k), 0)
                self.assertEqual(one(self, s, "promblock_compaction_jobs", state="done", **k), jobs)
                self.assertGreater(one(self, s, "promblock_last_success_timestamp_seconds", **k), 0)
                self.assertEqual(len(values(s, "push_time_seconds", **k)), 1)

            # Each shard did the jobs of the groups whose hash it takes; both
            # groups were done.
            groups = {(ls["group"], ls["shard"]) for n, ls, _ in s
                      if n == "promblock_compaction_group_jobs" and ls.get("job") == "nightly"}
            self.assertEqual(len({g for g, _ in groups}), 2, groups)
            for g, shard in groups:
                self.assertEqual(int(g, 16) % 2, int(shard[0]), groups)

            # A failed run POSTs: its exit code replaces the old one, the last
            # success stays that of the run before.
            k = {"job": "nightly", "command": "compact", "shard": "0-of-2"}
            ok_at = one(self, s, "promblock_last_success_timestamp_seconds", **k)
            not_a_dir = os.path.join(self.tmp, "not-a-dir")
            open(not_a_dir, "w").close()
            promblock(self, ["compact", "--shard", "0/2", "--pushgateway", pg.url,
                             "--pushgateway-job", "nightly", "--out", not_a_dir, src], want_rc=1)
            s = parse_exposition(http_get(pg.url + "/metrics"))
            self.assertEqual(one(self, s, "promblock_run_exit_code", **k), 1)
            self.assertEqual(one(self, s, "promblock_last_success_timestamp_seconds", **k), ok_at)
            self.assertEqual(one(self, s, "promblock_run_exit_code",
                                 **dict(k, shard="1-of-2")), 0)

            # A run whose work succeeds but whose --metrics-file cannot be
            # written exits 1, and pushes 1 and no last success.
            blocks = h.block_dirs(h.committed_block_sets()["basic"])
            _, err = promblock(self, ["merge", "--out", os.path.join(self.tmp, "pg-merge"),
                                      "--metrics-file", os.path.join(not_a_dir, "m.prom"),
                                      "--pushgateway", pg.url, "--pushgateway-job", "cron"] +
                               blocks, want_rc=1)
            self.assertIn("--metrics-file", err)
            s = parse_exposition(http_get(pg.url + "/metrics"))
            self.assertEqual(one(self, s, "promblock_run_exit_code", job="cron"), 1)
            self.assertEqual(values(s, "promblock_last_success_timestamp_seconds", job="cron"), [])

            # A real Prometheus scraping the Pushgateway sees both shards.
            ptmp = os.path.join(self.tmp, "prom")
            os.makedirs(ptmp)
            config = os.path.join(ptmp, "prometheus.yml")
            with open(config, "w") as f:
                f.write("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
                        "scrape_configs:\n  - job_name: pushgateway\n    honor_labels: true\n"
                        "    static_configs:\n      - targets: ['127.0.0.1:%d']\n" % port)
            pport = h.free_port()
            prom = Server([h.PROMETHEUS, "--config.file=" + config,
                           "--storage.tsdb.path=" + os.path.join(ptmp, "data"),
                           "--web.listen-address=127.0.0.1:%d" % pport],
                          pport, "/-/ready", os.path.join(ptmp, "prometheus.log"))
            deadline = time.monotonic() + 60
            while True:
                q = urllib.parse.urlencode({"query": 'promblock_run_exit_code{job="nightly"}'})
                res = json.loads(http_get(prom.url + "/api/v1/query?" + q))["data"]["result"]
                got = sorted((r["metric"]["shard"], r["metric"]["command"], r["value"][1])
                             for r in res)
                if len(got) == 2 or time.monotonic() > deadline:
                    break
                time.sleep(0.5)
            self.assertEqual(got, [("0-of-2", "compact", "1"), ("1-of-2", "compact", "0")],
                             prom.log())
            hosts = {r["metric"].get("instance") for r in res}
            self.assertEqual(len(hosts), 1)
            self.assertNotIn("127.0.0.1:%d" % port, hosts)  # honor_labels kept the pushed one
        finally:
            if prom:
                prom.stop()
            pg.stop()

    def test_pushgateway_unreachable(self):
        port = h.free_port()  # nothing listens there
        blocks = h.block_dirs(h.committed_block_sets()["basic"])
        for extra, want_rc in (([], 0), (["--pushgateway-required"], 1)):
            out = os.path.join(self.tmp, "unreach-%d" % want_rc)
            t0 = time.monotonic()
            rc, _, err = h.run_promblock(["merge", "--out", out, "--pushgateway",
                                          "http://127.0.0.1:%d" % port] + extra + blocks)
            self.assertEqual(rc, want_rc, err)
            self.assertLess(time.monotonic() - t0, 30)
            warnings = warning_lines(err)
            self.assertEqual(len(warnings), 1, err)
            self.assertIn("127.0.0.1:%d" % port, warnings[0])
            self.assertEqual(len(h.block_dirs(out)), 1)  # the work was done
        # A run that failed anyway keeps its own exit code.
        rc, _, err = h.run_promblock(["verify", "--pushgateway", "http://127.0.0.1:%d" % port,
                                      "--pushgateway-required",
                                      os.path.join(self.tmp, "nowhere")])
        self.assertEqual(rc, 1, err)
        self.assertEqual(len(warning_lines(err)), 1, err)

    # ------------------------------------------------ never a partial file

    def test_sigkill_never_leaves_a_partial_file(self):
        d = os.path.join(self.tmp, "kill")
        os.makedirs(d)
        f = os.path.join(d, "verify.prom")
        block = h.block_dirs(h.committed_block_sets()["long"])[0]
        args = [h.BIN, "verify", "--deep", "--metrics-file", f, block]
        t0 = time.monotonic()
        subprocess.run(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120)
        took = time.monotonic() - t0
        complete = read_text(f)
        self.assertTrue(complete.endswith("\n"))
        rng = random.Random(20)
        outcomes = {"finished": 0, "killed": 0}
        for i in range(60):
            p = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            # Half of the kills anywhere, half near the end, where the file is written.
            time.sleep(rng.uniform(0, took * 1.2) if i % 2 else rng.uniform(took * 0.7, took * 1.1))
            p.send_signal(signal.SIGKILL)
            p.wait()
            outcomes["killed" if p.returncode == -signal.SIGKILL else "finished"] += 1
            text = read_text(f)
            s = parse_exposition(text)
            self.assertTrue(text.endswith("\n"))
            self.assertEqual(one(self, s, "promblock_run_exit_code", command="verify"), 0)
            self.assertEqual(len(text.splitlines()), len(complete.splitlines()))
        self.assertGreater(outcomes["killed"], 0, outcomes)
        # Temporary files of killed runs go with the next run that writes.
        subprocess.run(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120)
        self.assertEqual(os.listdir(d), ["verify.prom"])

    @unittest.skipUnless(SHIM and os.path.exists(SHIM), "PROMBLOCK_FAIL_IO shim not built")
    def test_write_failing_halfway_keeps_the_old_file(self):
        d = os.path.join(self.tmp, "full")
        os.makedirs(d)
        f = os.path.join(d, "ls.prom")
        source = h.committed_block_sets()["basic"]
        rc, _, err = h.run_promblock(["ls", "--metrics-file", f, source])
        self.assertEqual(rc, 0, err)
        before = read_text(f)
        env = h.fail_io_env(PROMBLOCK_FAIL_AFTER=100,
                            PROMBLOCK_FAIL_PREFIX=os.path.join(os.path.realpath(d), ".ls.prom.tmp-"))
        rc, _, err = h.run([h.BIN, "ls", "--metrics-file", f, source], env=env)
        self.assertEqual(rc, 1, err)  # the listing worked; the file it was asked for did not
        self.assertIn("--metrics-file", err)
        self.assertEqual(read_text(f), before)
        self.assertEqual(os.listdir(d), ["ls.prom"])

    # ------------------------------------------------ the example rules

    def test_example_rules_check_and_unit_tests_pass(self):
        rules = os.path.join(EXAMPLES, "promblock-alerts.yml")
        tests = os.path.join(EXAMPLES, "promblock-alerts.test.yml")
        rc, out, err = h.run([h.PROMTOOL, "check", "rules", rules])
        self.assertEqual(rc, 0, out + err)
        self.assertIn("SUCCESS", out + err)
        rc, out, err = h.run([h.PROMTOOL, "test", "rules", tests], cwd=EXAMPLES)
        self.assertEqual(rc, 0, out + err)
        self.assertIn("SUCCESS", out + err)
        # The tests cover every alert, firing and not.
        with open(rules) as f:
            alerts = set(re.findall(r"^\s*- alert: (\w+)", f.read(), re.M))
        with open(tests) as f:
            text = f.read()
        self.assertGreaterEqual(len(alerts), 4)
        for a in alerts:
            self.assertRegex(text, r"alertname: %s\n\s+exp_alerts: \[\]" % a, a)
            self.assertRegex(text, r"alertname: %s\n\s+exp_alerts:\n" % a, a)


if __name__ == "__main__":
    unittest.main()

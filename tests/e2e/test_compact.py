#!/usr/bin/env python3
"""promblock compact: cron-safe leveled compaction into shared storage (issue 4).

  promblock compact [--out DIR] [--replica-label L]... [--dedup penalty|chain|none]
      [--ranges 2h,8h,2d,14d] [--consistency-delay 30m] [--delete-delay 48h]
      [--retention D] [--concurrency N] [--dry-run] [--json] SOURCE...

Data (compact_data.py): two HA replicas (a, b; plain promtool blocks, so each
SOURCE is its own replica) x 12 consecutive 2h windows W0..W11 starting 16 h
before a 14d boundary; b is phase-shifted (earlier), jittered +-200 ms and has
a 10-minute gap in W5. Oracles:
  - expected samples: penalty_ref's penalty dedup per vertical cluster (= per
    2h window), concatenated (leveled jobs chain non-overlapping blocks).
    Note: this differs from one penalty pass over the whole 24 h (the dedup
    restarts in every window), see compact_data.py's self-check;
  - expected plan / layout: compact_data.plan, a Python planner written from
    the contract (vertical clusters, then Prometheus's leveled selection: the
    newest block excluded, a window's blocks merged when they span the whole
    range or end at or before the minTime of the newest REMAINING block --
    tsdb/compact.go selectDirs' highTime);
  - a real Prometheus loading only --out (raw samples and a range query);
  - promtool tsdb dump / promblock dump for equality of whole directories;
  - harness.read_block (independent reader, CRCs checked) for every block.

Tests:
  FullRunTest        12+12 blocks -> vertical 2h blocks -> 8h -> 2d (W0-W7),
                     W8-W11 stay 2h blocks (Prometheus's high time): layout,
                     levels (ls --json), meta, JSON lines, summary, no overlap,
                     Prometheus answers == reference; --concurrency 2 == serial.
  RerunTest          second run: nothing to do, --out unchanged; cron-style
                     incremental runs (8 windows, then 12) give the same layout
                     (checked first on the reference planner) and samples.
  KillTest           kill -9 at >= 20 points spread over the run's jobs (inotify
                     on --out picks the moments): only complete, correct blocks
                     at every kill point, final --out == uninterrupted run; a
                     crash between publishing and marking is repaired at start;
                     leftover *.tmp-for-creation / *.tmp-for-deletion dirs are
                     removed at start.
  LockTest           lock held by another process (Python flock, a stopped
                     promblock): exit 75 at once with "(pid <holder>)"; two runs
                     started at once.
  DryRunTest         --dry-run --json == reference plan == what the real run
                     does; nothing changes (fresh and partially compacted --out,
                     in place).
  MarksGroupsTest    no-compact / deletion-marked source blocks, deletion-marked
                     --out blocks (delay not passed / passed; they do not
                     represent their sources), two groups by external labels;
                     deletion-mark.json format; re-run no-op.
  InPlaceTest        one bucket dir (W0..W5) compacted into itself (W0-W3 ->
                     8h); marks with the default
                     --delete-delay, deleted by a later run with 0s.
  ExitCodeTest       2 on bad usage; 1 when a job fails (only complete blocks).
  RetentionTest      --retention: old blocks marked; a long retention marks none.
"""

import collections
import ctypes
import fcntl
import json
import os
import random
import select
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
import unittest

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
import penalty_ref as ref  # noqa: E402
import compact_data as cd  # noqa: E402

LOCK_FILE = ".promblock.lock"
GROUP_LOCK_DIR = ".promblock-locks"
TMP_CREATE = ".tmp-for-creation"
TMP_DELETE = ".tmp-for-deletion"
SUMMARY_FIELDS = ("jobs_planned", "jobs_done", "jobs_failed", "blocks_written", "blocks_marked",
                  "blocks_deleted", "seconds")
JOB_FIELDS = ("job", "group", "inputs", "min_time", "max_time", "reason")
KILL_TRIALS = 22
MIN_KILLS = 20


# ---------------------------------------------------------------- running

def compact(*args, timeout=180):
    return h.run_promblock(["compact"] + [str(a) for a in args], timeout=timeout)


def base_args(out, delete_delay="0s"):
    a = ["--consistency-delay", "0s"]
    if delete_delay is not None:
        a += ["--delete-delay", delete_delay]
    if out is not None:
        a += ["--out", out]
    return a


def parse_json_lines(stdout):
    """(job lines, summary) of --json output: every line a JSON object, the last
    one the summary."""
    objs = []
    for n, line in enumerate(stdout.splitlines(), 1):
        if not line.strip():
            continue
        try:
            o = json.loads(line)
        except ValueError as e:
            raise AssertionError("stdout line %d is not JSON (%s): %r" % (n, e, line))
        if not isinstance(o, dict):
            raise AssertionError("stdout line %d is not a JSON object: %r" % (n, line))
        objs.append(o)
    if not objs:
        raise AssertionError("no JSON output")
    summary = objs[-1]
    missing = [f for f in SUMMARY_FIELDS if f not in summary]
    if missing:
        raise AssertionError("last line is not a summary with %s: %r" % (missing, summary))
    jobs = objs[:-1]
    for j in jobs:
        miss = [f for f in JOB_FIELDS if f not in j]
        if miss:
            raise AssertionError("job line without %s: %r" % (miss, j))
    return jobs, summary


def ref_job_lines(jobs):
    return [{"job": j.index, "group": dict(j.group), "inputs": j.input_ids(),
             "min_time": j.min, "max_time": j.max, "reason": j.reason} for j in jobs]


def job_keys(lines):
    """Order-independent canonical form of job lines: per job (reason, group,
    min, max, sorted inputs), an input being ("block", ULID) or ("job", key of
    that job); inputs given as "job:N" or as the "output" ULID of job N both
    count as job N."""
    by_index = {j["job"]: j for j in lines}
    if len(by_index) != len(lines):
        raise AssertionError("duplicate job indexes: %s" % [j["job"] for j in lines])
    out_to_idx = {j["output"]: j["job"] for j in lines if j.get("output")}
    memo, active = {}, set()

    def key(idx):
        if idx in memo:
            return memo[idx]
        if idx in active or idx not in by_index:
            raise AssertionError("bad job reference job:%s in %s" % (idx, lines))
        active.add(idx)
        j = by_index[idx]
        ins = []
        for i in j["inputs"]:
            if isinstance(i, str) and i.startswith("job:"):
                ins.append(("job", key(int(i[4:]))))
            elif i in out_to_idx:
                ins.append(("job", key(out_to_idx[i])))
            else:
                ins.append(("block", i))
        k = (j["reason"], tuple(sorted((j["group"] or {}).items())), j["min_time"],
             j["max_time"], tuple(sorted(ins)))
        memo[idx] = k
        return k
    return sorted(key(i) for i in by_index)


def entries(d):
    return sorted(os.listdir(d)) if os.path.isdir(d) else []


def ulid_dirs(d):
    return [n for n in entries(d) if h.is_ulid(n) and os.path.isdir(os.path.join(d, n))]


def live_blocks(d):
    if not os.path.isdir(d):
        return []
    return [b for b in h.block_dirs(d) if not cd.has_mark(b, "deletion-mark.json")]


def marked_blocks(d):
    if not os.path.isdir(d):
        return []
    return [b for b in h.block_dirs(d) if cd.has_mark(b, "deletion-mark.json")]


def snapshot(d, ignore=(LOCK_FILE, GROUP_LOCK_DIR)):
    """Tree snapshot without the lock file (opening/creating it is not a change
    of the data)."""
    return {k: v for k, v in h.snapshot_tree(d).items()
            if k != "." and k.split(os.sep)[0] not in ignore}


def strict_samples(blocks):
    """Samples of non-overlapping blocks, exact bits; fails on a timestamp seen
    twice in one series (a doubled sample)."""
    out = {}
    for b in sorted(blocks, key=lambda b: h.read_meta(b)["minTime"]):
        for lbls, s in h.read_block(b).samples().items():
            out.setdefault(lbls, []).extend(s)
    for lbls, s in out.items():
        s.sort(key=lambda x: x[0])
        for x, y in zip(s, s[1:]):
            if x[0] == y[0]:
                raise AssertionError("sample at %d twice in %s" % (x[0], h.labels_str(lbls)))
    return {l: s for l, s in out.items() if s}


def assert_same_samples(tc, got, want, what):
    diff = ref.difference(got, want)
    if diff:
        tc.fail("%s:\n%s" % (what, diff))


def check_no_overlap(tc, d):
    """No two live blocks of one group (equal thanos.labels) overlap in time."""
    groups = {}
    for b in live_blocks(d):
        m = h.read_meta(b)
        g = tuple(sorted(((m.get("thanos") or {}).get("labels") or {}).items()))
        groups.setdefault(g, []).append((m["minTime"], m["maxTime"], m["ulid"]))
    for g, ms in groups.items():
        ms.sort()
        for x, y in zip(ms, ms[1:]):
            tc.assertLessEqual(x[1], y[0], "live blocks of group %s overlap in %s: %s and %s" %
                               (dict(g), d, x, y))


def check_block_structure(tc, block):
    """CRCs, chunk ranges inside the block, meta stats exact."""
    name = os.path.basename(block)
    try:
        b = h.read_block(block, verify=True)
    except h.FormatError as e:
        tc.fail("block %s: %s" % (name, e))
    m = b.meta
    tc.assertEqual(m["ulid"], name)
    ns = nc = 0
    for lbls, chunks in b.series:
        last = None
        for c in chunks:
            smp = c.samples()
            tc.assertTrue(m["minTime"] <= c.mint and c.maxt < m["maxTime"],
                          "chunk outside block %s: %s" % (name, h.labels_str(lbls)))
            if last is not None:
                tc.assertLess(last, c.mint, "chunks overlap in %s" % name)
            last = c.maxt
            ns += len(smp)
            nc += 1
    tc.assertEqual((m["stats"]["numSamples"], m["stats"]["numSeries"], m["stats"]["numChunks"]),
                   (ns, len(b.series), nc), "meta.json stats of %s" % name)


def check_mark(tc, block, t_before, t_after):
    p = os.path.join(block, "deletion-mark.json")
    with open(p, encoding="utf-8") as f:
        m = json.load(f)
    tc.assertEqual(m.get("id"), os.path.basename(block), p)
    tc.assertEqual(m.get("version"), 1, p)
    tc.assertIsInstance(m.get("details"), str, p)
    tc.assertIsInstance(m.get("deletion_time"), int, p)
    tc.assertTrue(int(t_before) - 1 <= m["deletion_time"] <= int(t_after) + 1,
                  "%s: deletion_time %s not within the run (%d..%d)" %
                  (p, m["deletion_time"], t_before, t_after))
    return m


def ls_json(tc, d):
    rc, out, err = h.run_promblock(["ls", "--json", d])
    tc.assertEqual(rc, 0, err)
    return {o["ulid"]: o for o in map(json.loads, filter(None, out.splitlines()))}


# ---------------------------------------------------------------- inotify (Linux)

class Inotify:
    """Events (mask, name) of one directory (not recursive)."""
    IN_MOVED_FROM, IN_MOVED_TO, IN_CREATE, IN_DELETE = 0x40, 0x80, 0x100, 0x200

    def __init__(self, path):
        libc = ctypes.CDLL(None, use_errno=True)
        self.fd = libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        if self.fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1")
        mask = self.IN_MOVED_FROM | self.IN_MOVED_TO | self.IN_CREATE | self.IN_DELETE
        if libc.inotify_add_watch(self.fd, os.fsencode(path), mask) < 0:
            e = ctypes.get_errno()
            os.close(self.fd)
            raise OSError(e, "inotify_add_watch " + path)

    def read(self, timeout):
        r, _, _ = select.select([self.fd], [], [], timeout)
        if not r:
            return []
        try:
            buf = os.read(self.fd, 1 << 16)
        except BlockingIOError:
            return []
        evs, pos = [], 0
        while pos + 16 <= len(buf):
            _wd, mask, _cookie, ln = struct.unpack_from("iIII", buf, pos)
            name = buf[pos + 16:pos + 16 + ln].rstrip(b"\0").decode("utf-8", "replace")
            pos += 16 + ln
            evs.append((mask, name))
        return evs

    def close(self):
        os.close(self.fd)


def spawn(args):
    errf = tempfile.TemporaryFile()
    outf = tempfile.TemporaryFile()
    p = subprocess.Popen([h.BIN, "compact"] + [str(a) for a in args], stdin=subprocess.DEVNULL,
                         stdout=outf, stderr=errf, start_new_session=True,
                         preexec_fn=h._die_with_parent)
    h._LIVE_PROCS.append(p)
    p._files = (outf, errf)
    return p


def finish(p, timeout=180):
    try:
        p.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        p.wait()
        raise AssertionError("promblock compact timed out")
    finally:
        if p in h._LIVE_PROCS:
            h._LIVE_PROCS.remove(p)
    outf, errf = p._files
    outf.seek(0)
    errf.seek(0)
    res = p.returncode, h._decode(outf.read()), h._decode(errf.read())
    outf.close()
    errf.close()
    return res


def run_watched(args, watch_dir):
    """Runs compact to the end, recording --out's events: (rc, out, err,
    seconds, [(seconds since start, mask, name)])."""
    ino = Inotify(watch_dir)
    try:
        t0 = time.monotonic()
        p = spawn(args)
        evs = []
        while p.poll() is None:
            for mask, name in ino.read(0.005):
                evs.append((time.monotonic() - t0, mask, name))
        secs = time.monotonic() - t0
        for mask, name in ino.read(0.05):
            evs.append((secs, mask, name))
        rc, out, err = finish(p)
        return rc, out, err, secs, evs
    finally:
        ino.close()


def busy_sleep(s):
    end = time.monotonic() + s
    if s > 0.002:
        time.sleep(s - 0.001)
    while time.monotonic() < end:
        pass


def run_killed(args, watch_dir, after_events, delay_s):
    """Starts compact, waits for `after_events` events in watch_dir (0: none),
    then `delay_s`, then SIGKILLs it (unless it ended). Returns (killed, rc, err)."""
    ino = Inotify(watch_dir) if after_events else None
    try:
        p = spawn(args)
        seen = 0
        deadline = time.monotonic() + 120
        while ino and seen < after_events and p.poll() is None and time.monotonic() < deadline:
            seen += len(ino.read(0.01))
        busy_sleep(delay_s)
        killed = False
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            killed = True
        rc, _, err = finish(p)
        return killed and rc == -signal.SIGKILL, rc, err
    finally:
        if ino:
            ino.close()


# ---------------------------------------------------------------- shared fixture

class Fx:
    """Sources (copies of the cached promtool blocks), reference results, and
    one uninterrupted run into --out, built once per process."""
    _built = None

    @classmethod
    def get(cls):
        if cls._built is None:
            cls._built = cls()
        return cls._built

    def __init__(self):
        if not os.path.isfile(h.BIN):
            raise AssertionError("promblock binary not found at %s (set PROMBLOCK_BIN)" % h.BIN)
        self.tmp = h.mkdtemp(prefix="promblock-compact-")
        ca, cb = cd.replica_sources()
        self.src_a = os.path.join(self.tmp, "src", "prom-a")
        self.src_b = os.path.join(self.tmp, "src", "prom-b")
        shutil.copytree(ca, self.src_a)
        shutil.copytree(cb, self.src_b)
        self.src_snap = (h.snapshot_tree(self.src_a), h.snapshot_tree(self.src_b))
        self.wa, self.wb = cd.window_blocks(self.src_a), cd.window_blocks(self.src_b)
        self.expected = cd.penalty_windows([[x, y] for x, y in zip(self.wa, self.wb)])
        self.ref_jobs, self.ref_final = cd.plan(cd.catalog([self.src_a, self.src_b], None))
        self.ref_layout = sorted(cd.layout_key(b) for b in self.ref_final)
        self.levels = {cd.layout_key(b): b.level for b in self.ref_final}
        # The uninterrupted run (used by several tests), with --out's events.
        self.out = self.new_dir("out-full")
        os.makedirs(self.out)
        self.t_start = time.time()
        self.rc, self.stdout, self.stderr, self.seconds, self.events = run_watched(
            ["--json"] + base_args(self.out) + [self.src_a, self.src_b], self.out)
        self.t_end = time.time()
        self.dump = None
        if self.rc == 0:
            rc, self.dump, err = h.run_promblock(["dump", self.out])
            if rc != 0:
                raise AssertionError("promblock dump of --out failed: %s" % err)

    def new_dir(self, prefix):
        return tempfile.mkdtemp(prefix=prefix + "-", dir=self.tmp) + "/d"

    def args(self, out, *extra, delete_delay="0s"):
        return list(extra) + base_args(out, delete_delay) + [self.src_a, self.src_b]

    def check_sources_unchanged(self, tc):
        tc.assertEqual(h.snapshot_tree(self.src_a), self.src_snap[0], "source a was changed")
        tc.assertEqual(h.snapshot_tree(self.src_b), self.src_snap[1], "source b was changed")

    def assert_full_ok(self, tc):
        if self.rc != 0:
            tc.fail("the uninterrupted run failed (rc %d):\n%s" % (self.rc, self.stderr[-3000:]))


class CompactTestCase(unittest.TestCase):
    maxDiff = 4000

    @classmethod
    def setUpClass(cls):
        cls.fx = Fx.get()

    def check_final_out(self, out, what, leftovers=None):
        """--out after a successful run with --delete-delay 0s == the reference
        layout and samples of the uninterrupted run. Leftover non-block entries
        fail the test, or are appended to `leftovers` when that list is given."""
        fx = self.fx
        left = [n for n in entries(out) if n != LOCK_FILE and not h.is_ulid(n)]
        if leftovers is not None:
            leftovers.extend("%s: %s" % (what, n) for n in left)
        else:
            self.assertEqual(left, [], "%s: leftovers in --out" % what)
        self.assertEqual(marked_blocks(out), [], "%s: deletion-marked blocks left with "
                         "--delete-delay 0s" % what)
        self.assertEqual(cd.out_layout(out), fx.ref_layout, "%s: --out layout" % what)
        check_no_overlap(self, out)
        assert_same_samples(self, strict_samples(live_blocks(out)), fx.expected,
                            "%s: samples in --out vs penalty reference" % what)
        if fx.dump is not None:
            rc, dump, err = h.run_promblock(["dump", out])
            self.assertEqual(rc, 0, err)
            self.assertTrue(dump == fx.dump, "%s: promblock dump differs from the uninterrupted "
                            "run's" % what)


# ---------------------------------------------------------------- 1. full run

class FullRunTest(CompactTestCase):

    def test_exit_summary_and_job_lines(self):
        fx = self.fx
        # The data and the reference planner give what the issue describes
        # (guards the test itself): a 2d job straight from the 16 source
        # blocks of W0..W7 (the vertical jobs and the two 8h levels it is
        # built on are taken in the same pass), then vertical jobs for
        # W8..W11, which are not merged: under Prometheus's rule the high
        # time is W10's minTime (W11, the newest, is left out), and their 8h
        # window is not full.
        reasons = [j.reason for j in fx.ref_jobs]
        self.assertEqual(reasons, ["vertical"] * 4 + ["compact 2d"])
        self.assertEqual(len(fx.ref_jobs[-1].inputs), 16)
        self.assertEqual(len(fx.expected), len(cd.SERIES))
        fx.assert_full_ok(self)
        jobs, s = parse_json_lines(fx.stdout)
        n = len(fx.ref_jobs)
        # Only inputs in --out are marked: the leveled job reads the sources.
        n_marked = sum(1 for j in fx.ref_jobs if j.reason.startswith("compact")
                       for i in j.inputs if i.in_out)
        self.assertEqual((s["jobs_planned"], s["jobs_done"], s["jobs_failed"], s["blocks_written"]),
                         (n, n, 0, n), "summary %s" % s)
        self.assertEqual(s["blocks_marked"], n_marked, "summary %s" % s)
        self.assertEqual(s["blocks_deleted"], n_marked, "summary %s (--delete-delay 0s)" % s)
        self.assertIsInstance(s["seconds"], (int, float))
        self.assertTrue(0 <= s["seconds"] <= fx.seconds + 1, s)
        self.assertEqual(len(jobs), n, "one JSON line per job:\n%s" % fx.stdout)
        for j in jobs:
            self.assertTrue(h.is_ulid(j.get("output") or ""), "job line without output: %s" % j)
        self.assertEqual(job_keys(jobs), job_keys(ref_job_lines(fx.ref_jobs)),
                         "jobs done differ from the reference plan")
        self.assertEqual(sorted(j["job"] for j in jobs), list(range(1, n + 1)))
        # Outputs: final ones are in --out with the job's range; consumed ones are gone.
        final_ids = {os.path.basename(b) for b in live_blocks(fx.out)}
        consumed = {i for j in jobs for i in j["inputs"]}
        for j in jobs:
            out_id = j["output"]
            used = out_id in consumed or ("job:%d" % j["job"]) in consumed
            if used:
                self.assertNotIn(out_id, entries(fx.out), "input block %s not deleted" % out_id)
            else:
                self.assertIn(out_id, final_ids)
                m = h.read_meta(os.path.join(fx.out, out_id))
                self.assertEqual((m["minTime"], m["maxTime"]), (j["min_time"], j["max_time"]), j)

    def test_layout_levels_no_overlap(self):
        fx = self.fx
        fx.assert_full_ok(self)
        self.assertEqual(cd.out_layout(fx.out), fx.ref_layout,
                         "--out layout (time range, sources) != reference")
        rows = ls_json(self, fx.out)
        self.assertEqual(sorted(rows), sorted(ulid_dirs(fx.out)))
        got = []
        for b in live_blocks(fx.out):
            m = h.read_meta(b)
            row = rows[m["ulid"]]
            self.assertEqual((row["min_time"], row["max_time"], row["level"]),
                             (m["minTime"], m["maxTime"], m["compaction"]["level"]), row)
            self.assertEqual(row["marks"], [], row)
            key = cd.layout_key(cd.PB.from_dir(b, True))
            self.assertEqual(row["level"], fx.levels[key],
                             "level of %s (merge rule: highest input level + 1)" % m["ulid"])
            got.append((row["min_time"], row["max_time"], row["level"]))
            check_block_structure(self, b)
            self.assertNotIn("thanos", m, "plain inputs, thanos section in output %s" % m["ulid"])
        got.sort()
        # 2d window: W0..W7 (16h, level 2: from the level-1 source blocks in
        # one pass); W8, W9, W10 and the newest W11 stay
        # vertical 2h blocks (level 2): with W11 left out, the high time is
        # W10's minTime, which W8..W10 (8h window not full) do not end before.
        w = [(cd.T0 + k * cd.WINDOW) for k in range(13)]
        self.assertEqual([(g[2], (g[0] - cd.T0) // cd.WINDOW) for g in got],
                         [(2, 0), (2, 8), (2, 9), (2, 10), (2, 11)])
        self.assertTrue(w[0] <= got[0][0] and got[0][1] <= w[8] and got[0][1] > w[7])
        for g, k in zip(got[1:], range(8, 12)):
            self.assertTrue(w[k] <= g[0] and g[1] <= w[k + 1], "W%d: %s" % (k, g))
        self.assertEqual(cd.D14 // (48 * cd.HOUR) * (48 * cd.HOUR), cd.D14)
        self.assertTrue(cd.D14 - 48 * cd.HOUR <= got[0][0] and got[0][1] <= cd.D14, "2d window")
        self.assertTrue(all(cd.D14 <= g[0] and g[1] <= cd.D14 + 8 * cd.HOUR for g in got[1:]),
                        "8h window")
        check_no_overlap(self, fx.out)
        self.assertEqual(marked_blocks(fx.out), [])
        self.assertEqual([n for n in entries(fx.out) if not h.is_ulid(n) and n != LOCK_FILE], [])
        fx.check_sources_unchanged(self)

    def test_samples_exact(self):
        fx = self.fx
        fx.assert_full_ok(self)
        assert_same_samples(self, strict_samples(live_blocks(fx.out)), fx.expected,
                            "samples in --out vs per-window penalty reference")

    def test_prometheus_serves_reference(self):
        fx = self.fx
        fx.assert_full_ok(self)
        want = h.canonical_samples(fx.expected, drop_stale=True)
        with h.PrometheusServer(h.block_dirs(fx.out)) as prom:
            got = h.canonical_samples(h.raw_samples(prom, cd.SELECTOR, cd.T0, cd.T_END))
            assert_same_samples(self, got, want, "Prometheus raw samples over the whole period")
            # Range query over the whole period: value at each step = last sample
            # within the 5m lookback.
            step = 61
            start_s, end_s = cd.T0 // 1000, cd.T_END // 1000
            resp = prom.query_range(cd.SELECTOR, start_s, end_s, step)
            got_r = {frozenset(s["metric"].items()): [(int(round(float(t) * 1000)), h.value_key(v))
                                                      for t, v in s["values"]]
                     for s in resp["data"]["result"]}
            want_r = {}
            for lbls, s in want.items():
                pts, i = [], 0
                for t in range(start_s * 1000, end_s * 1000 + 1, step * 1000):
                    while i < len(s) and s[i][0] <= t:
                        i += 1
                    if i and s[i - 1][0] >= t - 300000:
                        pts.append((t, s[i - 1][1]))
                want_r[lbls] = pts
            assert_same_samples(self, got_r, want_r, "Prometheus range query over the whole period")

    def test_concurrency_2_same_result(self):
        fx = self.fx
        fx.assert_full_ok(self)
        out = fx.new_dir("out-conc")
        rc, stdout, err = compact(*fx.args(out, "--concurrency", "2", "--json"))
        self.assertEqual(rc, 0, err)
        jobs, s = parse_json_lines(stdout)
        self.assertEqual((s["jobs_planned"], s["jobs_done"], s["jobs_failed"]),
                         (len(fx.ref_jobs), len(fx.ref_jobs), 0))
        self.assertEqual(job_keys(jobs), job_keys(ref_job_lines(fx.ref_jobs)))
        self.check_final_out(out, "--concurrency 2")


# ---------------------------------------------------------------- 2. re-runs

class RerunTest(CompactTestCase):

    def test_second_run_is_noop(self):
        fx = self.fx
        fx.assert_full_ok(self)
        out = fx.new_dir("out-rerun")
        shutil.copytree(fx.out, out)
        self.assertEqual(cd.out_layout(out), fx.ref_layout, "the first run's result")
        before = snapshot(out)
        rc, stdout, err = compact(*fx.args(out, "--json"))
        self.assertEqual(rc, 0, err)
        jobs, s = parse_json_lines(stdout)
        self.assertEqual(jobs, [], "second run did jobs")
        self.assertEqual({k: s[k] for k in SUMMARY_FIELDS if k != "seconds"},
                         {"jobs_planned": 0, "jobs_done": 0, "jobs_failed": 0, "blocks_written": 0,
                          "blocks_marked": 0, "blocks_deleted": 0})
        self.assertEqual(snapshot(out), before, "second run changed --out")
        rc, stdout, err = compact(*fx.args(out))
        self.assertEqual(rc, 0, err)
        self.assertIn("nothing to do", stdout.lower(), "human summary of a no-op run: %r" % stdout)
        self.assertEqual(snapshot(out), before, "third run changed --out")
        # Also with the default --delete-delay and consistency delay 0s only.
        rc, stdout, err = compact("--json", "--consistency-delay", "0s", "--out", out,
                                  fx.src_a, fx.src_b)
        self.assertEqual(rc, 0, err)
        self.assertEqual(parse_json_lines(stdout)[1]["jobs_planned"], 0)
        self.assertEqual(snapshot(out), before)
        fx.check_sources_unchanged(self)

    def test_incremental_cron_runs(self):
        """Windows W0..W7 first, then all 12: runs build on each other, and give
        the same layout and samples as one run over everything. (Layout
        equality is a property of this data under the planner's rule, checked
        on the reference planner first: the first run leaves W4..W7 as 2h
        blocks -- W7 the newest, W6 the high time -- and the second run
        merges them into the same 8h and 2d blocks as one shot.)"""
        fx = self.fx
        fx.assert_full_ok(self)
        sa, sb = fx.new_dir("inc-a"), fx.new_dir("inc-b")
        os.makedirs(sa)
        os.makedirs(sb)
        for k in range(8):
            h.copy_block(fx.wa[k], sa)
            h.copy_block(fx.wb[k], sb)
        out = fx.new_dir("out-inc")
        jobs1, final1 = cd.plan(cd.catalog([sa, sb], None))
        self.assertTrue(any(j.reason.startswith("compact") for j in jobs1) and
                        len(final1) > 2, "test data: the first run must compact and leave "
                        "blocks that the second run compacts further: %s" % final1)
        rc, stdout, err = compact("--json", *base_args(out), sa, sb)
        self.assertEqual(rc, 0, err)
        jl, s = parse_json_lines(stdout)
        self.assertEqual(job_keys(jl), job_keys(ref_job_lines(jobs1)), "first run's jobs")
        self.assertEqual(cd.out_layout(out), sorted(cd.layout_key(b) for b in final1))
        for k in range(8, 12):
            h.copy_block(fx.wa[k], sa)
            h.copy_block(fx.wb[k], sb)
        jobs2, final2 = cd.plan(cd.catalog([sa, sb], out))
        self.assertTrue(all(j.reason == "vertical" for j in jobs2[:4]) and len(jobs2) > 4 and
                        any(any(isinstance(i, cd.PB) for i in j.inputs)
                            for j in jobs2 if j.reason.startswith("compact")),
                        "test data: the second run compacts blocks of the first: %s" % jobs2)
        rc, stdout, err = compact("--json", *base_args(out), sa, sb)
        self.assertEqual(rc, 0, err)
        jl, s = parse_json_lines(stdout)
        self.assertEqual(job_keys(jl), job_keys(ref_job_lines(jobs2)), "second run's jobs")
        self.assertEqual(sorted(cd.layout_key(b) for b in final2), fx.ref_layout,
                         "reference: incremental == one-shot (test data check)")
        self.check_final_out(out, "incremental runs")


# ---------------------------------------------------------------- 3. kill -9

class KillTest(CompactTestCase):

    def check_kill_point(self, out, what):
        """Only complete blocks (meta.json, index, chunks; CRCs), each holding
        exactly the reference samples of its time range; promblock dump works."""
        n_blocks = n_marked = n_tmp = 0
        for name in entries(out):
            p = os.path.join(out, name)
            if name in (LOCK_FILE, GROUP_LOCK_DIR):  # a killed run's locks
                continue
            if ".tmp" in name and not h.is_ulid(name):
                n_tmp += 1
                continue
            self.assertTrue(h.is_ulid(name) and os.path.isdir(p),
                            "%s: unexpected entry %s in --out" % (what, name))
            for f in ("meta.json", "index", os.path.join("chunks", "000001")):
                self.assertTrue(os.path.isfile(os.path.join(p, f)),
                                "%s: incomplete block %s: no %s" % (what, name, f))
            try:
                b = h.read_block(p, verify=True)
            except (h.FormatError, ValueError, OSError) as e:
                self.fail("%s: block %s unreadable: %s" % (what, name, e))
            self.assertEqual(b.meta["ulid"], name)
            got = {l: s for l, s in b.samples().items() if s}
            want = cd.restrict(self.fx.expected, b.meta["minTime"], b.meta["maxTime"])
            assert_same_samples(self, got, want, "%s: block %s [%d, %d)" %
                                (what, name, b.meta["minTime"], b.meta["maxTime"]))
            n_blocks += 1
            if cd.has_mark(p, "deletion-mark.json"):
                n_marked += 1
                with open(os.path.join(p, "deletion-mark.json"), encoding="utf-8") as f:
                    json.load(f)  # complete JSON, never half-written
        rc, _, err = h.run_promblock(["dump", out])
        self.assertEqual(rc, 0, "%s: promblock dump of --out failed: %s" % (what, err))
        return n_blocks, n_marked, n_tmp

    def test_kill_9_at_random_moments(self):
        fx = self.fx
        fx.assert_full_ok(self)
        n_events = len(fx.events)
        self.assertGreater(n_events, len(fx.ref_jobs), "inotify saw too few events: %s" % fx.events)
        gaps = [b[0] - a[0] for a, b in zip(fx.events, fx.events[1:])] or [0.001]
        mean_gap = max(sum(gaps) / len(gaps), 0.0005)
        rng = random.Random("promblock-compact-kill-v1")
        kills, states, trials_log, leftovers = 0, collections.Counter(), [], []
        t_begin = time.monotonic()
        for trial in range(KILL_TRIALS):
            out = fx.new_dir("out-kill%02d" % trial)
            os.makedirs(out)
            args = fx.args(out)
            # 1st kill: after a random event of the run (spread over all its jobs).
            n = rng.randint(1, max(1, n_events - 1))
            delay = rng.choice((0.0, rng.uniform(0, 0.002), rng.uniform(0, 2 * mean_gap)))
            killed, rc, err = run_killed(args, out, n, delay)
            self.assertTrue(killed or rc == 0, "trial %d: run exited %d before the kill: %s" %
                            (trial, rc, err[-2000:]))
            what = "trial %d, kill after event %d/%d + %.2f ms" % (trial, n, n_events, delay * 1e3)
            st = self.check_kill_point(out, what)
            if killed:
                kills += 1
                states[st[:2]] += 1
            trials_log.append((what, killed, st))
            # 2nd kill: the restarted run, after a random time.
            delay = rng.uniform(0, fx.seconds)
            killed, rc, err = run_killed(args, out, 0, delay)
            self.assertTrue(killed or rc == 0, "trial %d: restarted run exited %d: %s" %
                            (trial, rc, err[-2000:]))
            what2 = "trial %d, restarted run killed after %.1f ms" % (trial, delay * 1e3)
            st = self.check_kill_point(out, what2)
            if killed:
                kills += 1
                states[st[:2]] += 1
            trials_log.append((what2, killed, st))
            # Final run without a kill.
            rc, stdout, err = compact(*args)
            self.assertEqual(rc, 0, "trial %d: final run failed: %s" % (trial, err))
            self.check_final_out(out, "trial %d after kills" % trial, leftovers)
            if trial == 0:
                self.assertEqual(h.promtool_dump(live_blocks(out)),
                                 h.promtool_dump(live_blocks(fx.out)),
                                 "promtool dump: killed+resumed != uninterrupted")
            shutil.rmtree(os.path.dirname(out), ignore_errors=True)
        log = "\n".join("%s: killed=%s blocks/marked/tmp=%s" % t for t in trials_log)
        sys.stderr.write("\n  kill test: %d kills in %d trials, %d distinct (blocks, marked) "
                         "states at kills, %.1f s\n" % (kills, KILL_TRIALS, len(states),
                                                         time.monotonic() - t_begin))
        self.assertGreaterEqual(kills, MIN_KILLS, "too few runs were actually killed:\n" + log)
        # cli.md: "A failed run leaves the output directory as it was, apart from
        # temporary directories that the next run removes."
        self.assertEqual(leftovers, [], "temporary dirs of killed runs not removed by the next "
                         "(successful) run:\n" + "\n".join(leftovers))
        n_blocks_seen = {s[0] for s in states}
        self.assertGreaterEqual(len(n_blocks_seen), 4,
                                "kills did not spread over several jobs:\n" + log)
        fx.check_sources_unchanged(self)

    def test_crash_between_publish_and_mark(self):
        """--out holds a compacted block AND its (unmarked) inputs, as after a kill
        right after publishing: the inputs are deletion-marked at start, not
        compacted again, and the result is the uninterrupted run's."""
        fx = self.fx
        fx.assert_full_ok(self)
        out = fx.new_dir("out-crash")
        rc, stdout, err = compact("--json", "--ranges", "2h", *fx.args(out))
        self.assertEqual(rc, 0, err)
        jobs, s = parse_json_lines(stdout)
        self.assertEqual([j["reason"] for j in jobs], ["vertical"] * 12, "--ranges 2h")
        vblocks = sorted(live_blocks(out), key=lambda b: h.read_meta(b)["minTime"])
        self.assertEqual(len(vblocks), 12)
        big = max(live_blocks(fx.out), key=lambda b: h.read_meta(b)["maxTime"] - h.read_meta(b)["minTime"])
        big_id = os.path.basename(big)
        h.copy_block(big, out)
        big_sources = set(h.read_meta(big)["compaction"]["sources"])
        covered = [b for b in vblocks if set(h.read_meta(b)["compaction"]["sources"]) <= big_sources]
        self.assertEqual(len(covered), 8, "test setup: the 2d block covers W0..W7")
        t0 = time.time()
        rc, stdout, err = compact("--json", "--consistency-delay", "0s", "--out", out,
                                  fx.src_a, fx.src_b)  # default --delete-delay 48h
        t1 = time.time()
        self.assertEqual(rc, 0, err)
        jobs, s = parse_json_lines(stdout)
        for b in covered:
            self.assertTrue(os.path.isdir(b), "marked block deleted before --delete-delay")
            self.assertTrue(cd.has_mark(b, "deletion-mark.json"),
                            "block %s contained in %s was not deletion-marked" %
                            (os.path.basename(b), big_id))
            m = check_mark(self, b, t0, t1)
            self.assertTrue(m["details"], "empty details")
        for j in jobs:
            for i in j["inputs"]:
                self.assertNotIn(i, [os.path.basename(b) for b in covered] + [big_id],
                                 "a repaired block became an input again: %s" % j)
        self.assertIn(big_id, [os.path.basename(b) for b in live_blocks(out)])
        self.assertEqual(cd.out_layout(out), fx.ref_layout)
        check_no_overlap(self, out)
        assert_same_samples(self, strict_samples(live_blocks(out)), fx.expected, "samples")
        # Leftover tmp dirs of a killed run are removed at start: a half-written
        # block and a half-deleted one (renamed aside, meta.json already gone).
        junks = []
        for name, suffix in (("01HZZZZZZZZZZZZZZZZZZZZZZZ", TMP_CREATE),
                             ("01HZZZZZZZZZZZZZZZZZZZZZZY", TMP_DELETE)):
            junk = os.path.join(out, name + suffix)
            os.makedirs(os.path.join(junk, "chunks"))
            with open(os.path.join(junk, "index"), "wb") as f:
                f.write(b"\0" * 100)
            junks.append(junk)
        rc, stdout, err = compact("--json", *base_args(out), fx.src_a, fx.src_b)
        self.assertEqual(rc, 0, err)
        for junk in junks:
            self.assertFalse(os.path.exists(junk), "leftover %s not removed" %
                             os.path.basename(junk))
        self.check_final_out(out, "after repair")


# ---------------------------------------------------------------- 4. lock

class LockTest(CompactTestCase):

    def test_lock_held_by_other_process(self):
        fx = self.fx
        out = fx.new_dir("out-lock")
        os.makedirs(out)
        lock = os.path.join(out, LOCK_FILE)
        with open(lock, "w") as f:
            f.write("%d\n" % os.getpid())
            f.flush()
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            before = snapshot(out)
            t0 = time.monotonic()
            rc, stdout, err = compact(*fx.args(out), timeout=60)
            secs = time.monotonic() - t0
            self.assertEqual(rc, 75, "stdout %r stderr %r" % (stdout, err))
            self.assertLess(secs, 10, "a locked run must exit at once")
            self.assertIn("(pid %d)" % os.getpid(), err, "message must name the holder's pid")
            self.assertEqual(snapshot(out), before, "a locked run changed --out")
            # In place: the lock of the source dir itself.
            src = fx.new_dir("inplace-lock")
            os.makedirs(src)
            for b in fx.wa[:4]:
                h.copy_block(b, src)
            with open(os.path.join(src, LOCK_FILE), "w") as g:
                g.write("%d\n" % os.getpid())
                g.flush()
                fcntl.flock(g, fcntl.LOCK_EX | fcntl.LOCK_NB)
                snap = snapshot(src)
                rc, stdout, err = compact(*base_args(None), src, timeout=60)
                self.assertEqual(rc, 75, err)
                self.assertIn("(pid %d)" % os.getpid(), err)
                self.assertEqual(snapshot(src), snap)
        # Released: now it runs.
        rc, stdout, err = compact(*fx.args(out))
        self.assertEqual(rc, 0, err)

    def test_second_promblock_while_first_runs(self):
        """The first run is stopped (SIGSTOP) while it holds the lock; a second
        run exits 75 at once naming the first's pid; the first then finishes."""
        fx = self.fx
        fx.assert_full_ok(self)
        for attempt in range(3):
            out = fx.new_dir("out-lock2")
            os.makedirs(out)
            ino = Inotify(out)
            try:
                p1 = spawn(fx.args(out))
                deadline = time.monotonic() + 60
                seen = False
                while not seen and p1.poll() is None and time.monotonic() < deadline:
                    seen = any(n.endswith(TMP_CREATE) for _, n in ino.read(0.005))
                if seen:
                    os.kill(p1.pid, signal.SIGSTOP)
            finally:
                ino.close()
            if p1.poll() is not None:  # finished before we could stop it: try again
                finish(p1)
                continue
            try:
                t0 = time.monotonic()
                rc, stdout, err = compact(*fx.args(out), timeout=60)
                secs = time.monotonic() - t0
            finally:
                os.kill(p1.pid, signal.SIGCONT)
            rc1, _, err1 = finish(p1)
            self.assertEqual(rc, 75, "second run: stdout %r stderr %r" % (stdout, err))
            self.assertLess(secs, 10)
            self.assertIn("(pid %d)" % p1.pid, err, "message must name the holder's pid")
            self.assertEqual(rc1, 0, err1)
            self.check_final_out(out, "first run after the second was refused")
            return
        self.fail("the first run always finished before it could be stopped")

    def test_two_runs_started_at_once(self):
        fx = self.fx
        fx.assert_full_ok(self)
        out = fx.new_dir("out-lock3")
        os.makedirs(out)
        p1 = spawn(fx.args(out, "--json"))
        p2 = spawn(fx.args(out, "--json"))
        r1, r2 = finish(p1), finish(p2)
        rcs = sorted((r1[0], r2[0]))
        if rcs == [0, 0]:
            # They did not overlap: then, by what each run reports, one did every
            # job and wrote every block, and the later one found nothing to do.
            results = [parse_json_lines(r[1]) for r in (r1, r2)]
            done = sorted((len(jobs), s["jobs_planned"], s["jobs_done"], s["blocks_written"])
                          for jobs, s in results)
            n = len(fx.ref_jobs)
            self.assertEqual(done[0], (0, 0, 0, 0), "both runs did work: %s / %s" % (r1, r2))
            self.assertEqual(done[1][:3], (n, n, n), "one run did all the work: %s / %s"
                             % (r1, r2))
        else:
            self.assertEqual(rcs, [0, 75], "exit codes %s; stderr: %s / %s" % (rcs, r1[2], r2[2]))
            loser, winner = (r1, p2) if r1[0] == 75 else (r2, p1)
            self.assertIn("(pid %d)" % winner.pid, loser[2])
        self.check_final_out(out, "two runs at once")


# ---------------------------------------------------------------- 5. dry run

class DryRunTest(CompactTestCase):

    def dry_then_real(self, out, sources, ref_jobs, extra=(), delete_delay="0s", in_place=False):
        args = list(extra) + base_args(None if in_place else out, delete_delay) + list(sources)
        before = snapshot(out) if os.path.isdir(out) else None
        rc, stdout, err = compact("--dry-run", "--json", *args)
        self.assertEqual(rc, 0, err)
        plan, s = parse_json_lines(stdout)
        if before is None:
            self.assertFalse(os.path.exists(out) and ulid_dirs(out), "--dry-run wrote blocks")
        else:
            self.assertEqual(snapshot(out), before, "--dry-run changed --out")
        self.assertEqual(s["jobs_planned"], len(plan), s)
        for f in ("jobs_done", "blocks_written", "blocks_marked", "blocks_deleted"):
            self.assertEqual(s.get(f, 0), 0, "--dry-run summary %s" % s)
        self.assertEqual(sorted(j["job"] for j in plan), list(range(1, len(plan) + 1)))
        self.assertEqual(job_keys(plan), job_keys(ref_job_lines(ref_jobs)),
                         "--dry-run plan != reference plan")
        for j in plan:
            for i in j["inputs"]:
                if i.startswith("job:"):
                    self.assertLess(int(i[4:]), j["job"], "input from a later job: %s" % j)
        # Human form too.
        rc, text, err = compact("--dry-run", *args)
        self.assertEqual(rc, 0, err)
        self.assertTrue(text.strip(), "--dry-run printed nothing")
        if before is not None:
            self.assertEqual(snapshot(out), before)
        # The real run does exactly the plan.
        rc, stdout, err = compact("--json", *args)
        self.assertEqual(rc, 0, err)
        done, s2 = parse_json_lines(stdout)
        self.assertEqual(len(done), len(plan))
        self.assertEqual(s2["jobs_planned"], len(plan))
        self.assertEqual(job_keys(done), job_keys(plan), "real run != --dry-run plan")
        by_idx = {j["job"]: j for j in plan}
        for j in done:
            self.assertEqual(j["reason"], by_idx[j["job"]]["reason"], "job %d" % j["job"])
            real_in = [i for i in by_idx[j["job"]]["inputs"] if not i.startswith("job:")]
            self.assertEqual(sorted(i for i in j["inputs"] if i in real_in), sorted(real_in),
                             "job %d: real inputs differ from the plan" % j["job"])
        return plan, done

    def test_fresh_out(self):
        fx = self.fx
        out = fx.new_dir("out-dry")
        os.makedirs(out)
        self.dry_then_real(out, [fx.src_a, fx.src_b], fx.ref_jobs)
        self.check_final_out(out, "after dry run + real run")
        fx.check_sources_unchanged(self)

    def test_missing_out_not_created(self):
        fx = self.fx
        out = fx.new_dir("out-dry-missing")
        rc, stdout, err = compact("--dry-run", "--json", *fx.args(out))
        self.assertEqual(rc, 0, err)
        self.assertFalse(os.path.exists(out), "--dry-run created --out")
        plan, s = parse_json_lines(stdout)
        self.assertEqual(job_keys(plan), job_keys(ref_job_lines(fx.ref_jobs)))

    def test_partially_compacted_out(self):
        """--out holds the 12 vertical blocks: the plan is leveled jobs over real
        --out ULIDs, which the real run must use as they are."""
        fx = self.fx
        out = fx.new_dir("out-dry2")
        rc, _, err = compact("--ranges", "2h", *fx.args(out))
        self.assertEqual(rc, 0, err)
        ref_jobs, _ = cd.plan(cd.catalog([fx.src_a, fx.src_b], out))
        # The same leveled jobs as in the one-shot run, now over --out blocks.
        self.assertEqual([j.reason for j in ref_jobs],
                         [j.reason for j in fx.ref_jobs if j.reason != "vertical"])
        self.assertEqual([j.reason for j in ref_jobs], ["compact 2d"])
        plan, done = self.dry_then_real(out, [fx.src_a, fx.src_b], ref_jobs)
        self.assertTrue(all(h.is_ulid(i) for i in plan[0]["inputs"]), plan[0])
        self.check_final_out(out, "after dry run + real run on a partial --out")

    def test_in_place(self):
        fx = self.fx
        d = fx.new_dir("inplace-dry")
        os.makedirs(d)
        # W0..W5: W5 is left out, W4's minTime is the high time, which W0..W3
        # (their 8h window, not quite full: promtool blocks start at the first
        # sample) end before. With W0..W4 only nothing would be planned.
        for b in fx.wa[:6]:
            h.copy_block(b, d)
        ref_jobs, _ = cd.plan(cd.catalog([d], d))
        self.assertEqual([(j.reason, len(j.inputs)) for j in ref_jobs], [("compact 8h", 4)])
        self.dry_then_real(d, [d], ref_jobs, in_place=True)


# ---------------------------------------------------------------- 6. marks and groups

class MarksGroupsTest(CompactTestCase):
    """One bucket dir with two groups, cluster x and y, each with replicas a
    and b (external labels) for W0..W5 (clones of the replica blocks under new
    ULIDs). In x, b's W1 block has a no-compact mark and b's W2 block a
    deletion mark, so x's W1 and W2 hold a's samples only -- which differ from
    penalty(a, b) (= mostly b's samples). Six windows, so that each group
    has a leveled job (W0..W3 -> 8h: W5 left out, W4's minTime the high
    time), whose inputs get deletion-marked."""

    ARGS = ("--replica-label", "replica", "--consistency-delay", "0s")
    N = 6

    def make_bucket(self, seed):
        fx = self.fx
        rng = random.Random(seed)
        bucket = fx.new_dir("bucket")
        os.makedirs(bucket)
        blk = {}
        for cl in "xy":
            for rep, src in (("a", fx.wa), ("b", fx.wb)):
                for k in range(self.N):
                    blk[cl, rep, k] = cd.clone_block(src[k], bucket, rng,
                                                     {"cluster": cl, "replica": rep})
        now = time.time()
        cd.write_no_compact_mark(blk["x", "b", 1], now)
        cd.write_deletion_mark(blk["x", "b", 2], now - 72 * 3600)  # overdue: still never touched
        want = {
            "x": cd.penalty_windows([[blk["x", "a", k]] if k in (1, 2) else
                                     [blk["x", "a", k], blk["x", "b", k]] for k in range(self.N)]),
            "y": cd.penalty_windows([[blk["y", "a", k], blk["y", "b", k]] for k in range(self.N)]),
        }
        self.assertNotEqual(want["x"], want["y"], "test data: the marks must make a difference")
        return bucket, blk, rng, want

    def check_groups(self, out, blk, want, excluded):
        """Live blocks of --out: thanos.labels {cluster: x|y}, sources only of
        their group and never the excluded ones, no overlap, samples == want."""
        group_src = {cl: {os.path.basename(v) for k, v in blk.items() if k[0] == cl} for cl in "xy"}
        by_group = {"x": [], "y": []}
        for b in live_blocks(out):
            m = h.read_meta(b)
            labels = (m.get("thanos") or {}).get("labels")
            self.assertIn(labels, ({"cluster": "x"}, {"cluster": "y"}),
                          "thanos.labels of %s" % m["ulid"])
            cl = labels["cluster"]
            by_group[cl].append(b)
            srcs = set(m["compaction"]["sources"])
            self.assertFalse(srcs & excluded, "no-compact/deletion-marked source block is an "
                             "input of %s" % m["ulid"])
            self.assertTrue(srcs <= group_src[cl], "%s mixes groups: %s" % (m["ulid"], srcs))
        check_no_overlap(self, out)
        for cl in "xy":
            self.assertTrue(by_group[cl], "no blocks of group %s" % cl)
            assert_same_samples(self, strict_samples(by_group[cl]), want[cl],
                                "group %s samples" % cl)

    def test_source_marks_and_groups(self):
        bucket, blk, rng, want = self.make_bucket("promblock-compact-groups-1")
        nocompact, deleted_src = blk["x", "b", 1], blk["x", "b", 2]
        out = self.fx.new_dir("out-groups")
        bucket_snap = h.snapshot_tree(bucket)
        ref_jobs, ref_final = cd.plan(cd.catalog([bucket], out, ("replica",)))
        # Test data guard: each group has one 8h job, which takes W0..W3 (x's
        # W1, W2 with one replica left) from the bucket itself; W4 and W5 are
        # vertical merges.
        self.assertEqual(sorted(j.reason for j in ref_jobs),
                         ["compact 8h"] * 2 + ["vertical"] * (2 * (self.N - 4)))
        args = list(self.ARGS) + ["--out", out, bucket]
        rc, stdout, err = compact("--dry-run", "--json", *args)
        self.assertEqual(rc, 0, err)
        plan, _ = parse_json_lines(stdout)
        self.assertEqual(job_keys(plan), job_keys(ref_job_lines(ref_jobs)), "plan")
        t0 = time.time()
        rc, stdout, err = compact("--json", *args)  # default --delete-delay 48h
        t1 = time.time()
        self.assertEqual(rc, 0, err)
        jobs, s = parse_json_lines(stdout)
        self.assertEqual(job_keys(jobs), job_keys(ref_job_lines(ref_jobs)), "jobs done")
        for j in jobs:
            self.assertIn(j["group"], ({"cluster": "x"}, {"cluster": "y"}), j)
        self.assertEqual(h.snapshot_tree(bucket), bucket_snap, "the source bucket was changed")
        self.assertEqual(cd.out_layout(out, ("replica",)),
                         sorted(cd.layout_key(b) for b in ref_final), "--out layout")
        self.assertNotIn(os.path.basename(nocompact), entries(out), "no-compact block copied in")
        self.check_groups(out, blk, want, {os.path.basename(nocompact),
                                           os.path.basename(deleted_src)})
        # Leveled inputs in --out are marked (Thanos format), kept for
        # --delete-delay 48h; here they are all sources, never marked (the
        # marks on --out inputs: RerunTest).
        marked = marked_blocks(out)
        n_level_inputs = sum(1 for j in ref_jobs if j.reason.startswith("compact")
                             for i in j.inputs if i.in_out)
        self.assertEqual(len(marked), n_level_inputs, "marked blocks: %s" % marked)
        for b in marked:
            check_mark(self, b, t0, t1)
        rows = ls_json(self, out)
        for b in marked:
            self.assertIn("deletion", rows[os.path.basename(b)]["marks"])
        self.assertEqual((s["jobs_done"], s["blocks_written"], s["blocks_marked"],
                          s["blocks_deleted"]), (len(ref_jobs), len(ref_jobs), n_level_inputs, 0), s)
        # Re-run: nothing to do.
        snap = snapshot(out)
        rc, stdout, err = compact("--json", *args)
        self.assertEqual(rc, 0, err)
        jobs, s = parse_json_lines(stdout)
        self.assertEqual((len(jobs), s["jobs_planned"]), (0, 0), stdout)
        self.assertEqual(snapshot(out), snap)

    def test_deletion_marked_out_blocks(self):
        """--out holds two deletion-marked group-x blocks: `stay` (sources = x's
        a0 and b0, delay not passed) and `gone` (sources = x's a1, delay passed).
        Contract: marked blocks are ignored -- they are no inputs and do not
        represent their sources -- `gone` is deleted at the start, `stay` is not
        touched; --dry-run shows the same plan as the real run does."""
        fx = self.fx
        bucket, blk, rng, want = self.make_bucket("promblock-compact-groups-2")
        out = fx.new_dir("out-marked")
        os.makedirs(out)
        now = time.time()
        stay = cd.clone_block(fx.wa[0], out, rng, {"cluster": "x"})
        m = h.read_meta(stay)
        m["compaction"] = {"level": 2, "sources": sorted(
            [os.path.basename(blk["x", "a", 0]), os.path.basename(blk["x", "b", 0])])}
        cd.write_json(os.path.join(stay, "meta.json"), m)
        cd.write_deletion_mark(stay, now - 3600)
        gone = cd.clone_block(fx.wa[1], out, rng, {"cluster": "x"})
        m = h.read_meta(gone)
        m["compaction"] = {"level": 2, "sources": [os.path.basename(blk["x", "a", 1])]}
        cd.write_json(os.path.join(gone, "meta.json"), m)
        cd.write_deletion_mark(gone, now - 49 * 3600)
        stay_snap = h.snapshot_tree(stay)
        ref_jobs, ref_final = cd.plan(cd.catalog([bucket], out, ("replica",)))
        # Neither marked --out block represents its sources: x's W0 and W1 are
        # merged/copied from the bucket as if --out were empty.
        self.assertEqual(sorted(j.reason for j in ref_jobs),
                         ["compact 8h"] * 2 + ["vertical"] * (2 * (self.N - 4)))
        self.assertEqual(sum(1 for j in ref_jobs for i in j.inputs
                             if os.path.basename(blk["x", "a", 1]) in i.sources), 1)
        args = list(self.ARGS) + ["--out", out, bucket]
        rc, stdout, err = compact("--dry-run", "--json", *args)
        self.assertEqual(rc, 0, err)
        plan, _ = parse_json_lines(stdout)
        rc, stdout, err = compact("--json", *args)  # default --delete-delay 48h
        self.assertEqual(rc, 0, err)
        jobs, s = parse_json_lines(stdout)
        with self.subTest("overdue marked block deleted at start, the other untouched"):
            self.assertFalse(os.path.exists(gone), "deletion-marked block past its delay not deleted")
            self.assertTrue(os.path.isdir(stay), "deletion-marked block deleted before its delay")
            self.assertEqual(h.snapshot_tree(stay), stay_snap, "deletion-marked block touched")
            self.assertEqual(s["blocks_deleted"], 1, s)
        with self.subTest("marked --out blocks do not represent their sources: all data in --out"):
            self.check_groups(out, blk, want, {os.path.basename(blk["x", "b", 1]),
                                               os.path.basename(blk["x", "b", 2])})
            self.assertEqual(cd.out_layout(out, ("replica",)),
                             sorted(cd.layout_key(b) for b in ref_final), "--out layout")
        with self.subTest("jobs == reference"):
            self.assertEqual(job_keys(jobs), job_keys(ref_job_lines(ref_jobs)), "jobs done")
        with self.subTest("--dry-run plan == real run"):
            self.assertEqual(job_keys(plan), job_keys(jobs), "--dry-run plan != real run")
        with self.subTest("re-run: nothing to do"):
            rc, stdout, err = compact("--json", *args)
            self.assertEqual(rc, 0, err)
            self.assertEqual(parse_json_lines(stdout)[1]["jobs_planned"], 0, stdout)


# ---------------------------------------------------------------- 7. in place

class InPlaceTest(CompactTestCase):
    """One dir of replica a's W0..W5 compacted into itself. Under Prometheus's
    rule W5 (the newest) is left out and W4's minTime is the high time: W0..W3
    fill their 8h window (up to the first/last sample) and end before it, so
    they become one 8h block; W4 and W5 stay. (With W0..W3 only, the high
    time would be W2's minTime and nothing would be planned.)"""

    N = 6

    def make_dir(self, n=None):
        d = self.fx.new_dir("inplace")
        os.makedirs(d)
        for b in self.fx.wa[:InPlaceTest.N if n is None else n]:
            h.copy_block(b, d)
        return d

    def test_in_place(self):
        d = self.make_dir()
        orig = sorted(h.block_dirs(d), key=lambda b: h.read_meta(b)["minTime"])
        before = strict_samples(orig)
        dump_before = h.promtool_dump(orig)
        ref_jobs, ref_final = cd.plan(cd.catalog([d], d))
        self.assertEqual(len(ref_jobs), 1, ref_jobs)
        inputs = {b.id for b in ref_jobs[0].inputs}
        merged = [b for b in orig if os.path.basename(b) in inputs]
        kept = [b for b in orig if os.path.basename(b) not in inputs]
        # Rule (test data guard): W0..W3 merged into their 8h window; W4, W5 stay.
        self.assertEqual((ref_jobs[0].reason, merged, kept), ("compact 8h", orig[:4], orig[4:]))
        kept_snaps = [h.snapshot_tree(b) for b in kept]
        mm = [h.read_meta(b) for b in merged]
        rc, stdout, err = compact("--json", *base_args(None), d)
        self.assertEqual(rc, 0, err)
        jobs, s = parse_json_lines(stdout)
        self.assertEqual(job_keys(jobs), job_keys(ref_job_lines(ref_jobs)))
        self.assertEqual(cd.out_layout(d), sorted(cd.layout_key(b) for b in ref_final))
        live = sorted(live_blocks(d), key=lambda b: h.read_meta(b)["minTime"])
        self.assertEqual(len(live), len(ref_final), live)
        m = h.read_meta(live[0])
        self.assertEqual((m["minTime"], m["maxTime"]), (mm[0]["minTime"], mm[-1]["maxTime"]))
        self.assertEqual(sorted(m["compaction"]["sources"]), sorted(x["ulid"] for x in mm))
        self.assertTrue(m["minTime"] >= cd.D14 - 16 * cd.HOUR and m["maxTime"] <= cd.D14 - 8 * cd.HOUR,
                        "8h window")
        self.assertEqual(m["compaction"]["level"], 2)
        self.assertEqual(live[1:], kept, "the blocks not compacted stay as they are")
        self.assertEqual([h.snapshot_tree(b) for b in kept], kept_snaps)
        for b in merged:
            self.assertFalse(os.path.exists(b), "input %s not deleted (--delete-delay 0s)" % b)
        self.assertEqual([n for n in entries(d) if not h.is_ulid(n) and n != LOCK_FILE], [])
        assert_same_samples(self, strict_samples(live), before, "in-place samples")
        self.assertEqual(h.promtool_dump(live), dump_before, "promtool dump before/after")
        # Nothing more to do.
        rc, stdout, err = compact("--json", *base_args(None), d)
        self.assertEqual(rc, 0, err)
        self.assertEqual(parse_json_lines(stdout)[1]["jobs_planned"], 0)

    def test_in_place_default_delete_delay(self):
        d = self.make_dir()
        orig = sorted(h.block_dirs(d), key=lambda b: h.read_meta(b)["minTime"])
        before = strict_samples(orig)
        ref_jobs, ref_final = cd.plan(cd.catalog([d], d))
        inputs = {i.id for j in ref_jobs for i in j.inputs if isinstance(i, cd.PB)}
        merged = [b for b in orig if os.path.basename(b) in inputs]
        kept = [b for b in orig if os.path.basename(b) not in inputs]
        self.assertTrue(merged and kept, "test data: some blocks compacted, some not")
        t0 = time.time()
        rc, stdout, err = compact("--json", "--consistency-delay", "0s", d)
        t1 = time.time()
        self.assertEqual(rc, 0, err)
        jobs, s = parse_json_lines(stdout)
        self.assertEqual((s["jobs_done"], s["blocks_marked"], s["blocks_deleted"]),
                         (len(ref_jobs), len(merged), 0), s)
        for b in merged:
            self.assertTrue(os.path.isdir(b))
            check_mark(self, b, t0, t1)
        for b in kept:
            self.assertFalse(cd.has_mark(b, "deletion-mark.json"))
        rows = ls_json(self, d)
        self.assertEqual(sorted(r["ulid"] for r in rows.values() if "deletion" in r["marks"]),
                         sorted(os.path.basename(b) for b in merged))
        assert_same_samples(self, strict_samples(live_blocks(d)), before, "live samples")
        # A later run with --delete-delay 0s deletes them and plans nothing.
        rc, stdout, err = compact("--json", *base_args(None), d)
        self.assertEqual(rc, 0, err)
        jobs, s = parse_json_lines(stdout)
        self.assertEqual((len(jobs), s["jobs_planned"], s["blocks_deleted"]),
                         (0, 0, len(merged)), s)
        self.assertEqual(len(ulid_dirs(d)), len(ref_final))
        assert_same_samples(self, strict_samples(live_blocks(d)), before, "samples")


# ---------------------------------------------------------------- options

class OptionsTest(CompactTestCase):

    def four_windows(self, name):
        """Fresh source dirs for replicas a and b with the fixture's first 4 windows."""
        dirs = []
        for replica, windows in (("a", self.fx.wa), ("b", self.fx.wb)):
            d = self.fx.new_dir("%s-%s" % (name, replica))
            os.makedirs(d)
            for k in range(4):
                h.copy_block(windows[k], d)
            dirs.append(d)
        return dirs

    def test_dedup_chain_custom_ranges(self):
        """--dedup chain, --ranges 2h,4h: the 4h level merges the replicas' 2h
        blocks itself; the windows it does not take get vertical jobs."""
        fx = self.fx
        sa, sb = self.four_windows("chain")
        out = fx.new_dir("out-chain")
        ref_jobs, ref_final = cd.plan(cd.catalog([sa, sb], None), (2 * cd.HOUR, 4 * cd.HOUR))
        self.assertEqual([(j.reason, len(j.inputs)) for j in ref_jobs],
                         [("vertical", 2), ("vertical", 2), ("compact 4h", 4)])
        rc, stdout, err = compact("--json", "--dedup", "chain", "--ranges", "2h,4h",
                                  *base_args(out), sa, sb)
        self.assertEqual(rc, 0, err)
        jobs, s = parse_json_lines(stdout)
        self.assertEqual(job_keys(jobs), job_keys(ref_job_lines(ref_jobs)))
        self.assertEqual(cd.out_layout(out), sorted(cd.layout_key(b) for b in ref_final))
        want = cd.penalty_windows([[fx.wa[k], fx.wb[k]] for k in range(4)], mode="chain")
        self.assertEqual(cd.count_samples(want),
                         sum(cd.count_samples(h.block_samples([fx.wa[k], fx.wb[k]]))
                             for k in range(4)), "test data: replicas share no timestamp")
        assert_same_samples(self, strict_samples(live_blocks(out)), want, "chain samples")

    def test_one_pass_equals_vertical_jobs_then_the_level(self):
        """The 4h level that takes the replicas' blocks itself writes the very
        series, chunk metas and chunk bytes of the two-step way: vertical jobs
        first (a run with the block size as the only range), then a run that
        levels their outputs. Under penalty too: each window's pair is
        deduplicated on its own, as its vertical job would. The second step's
        level hard-links its inputs' chunk segments instead of writing their
        chunks again, so only the layout of the chunk files differs."""
        fx = self.fx
        for mode in ("chain", "penalty"):
            sa, sb = self.four_windows("onepass-" + mode)
            one, two = fx.new_dir("onepass-one-" + mode), fx.new_dir("onepass-two-" + mode)
            metrics_dir = fx.new_dir("onepass-metrics-" + mode)
            os.makedirs(metrics_dir)
            metrics = os.path.join(metrics_dir, "m.prom")
            for ranges, out, srcs, extra in (("2h,4h", one, (sa, sb), ()),
                                             ("2h", two, (sa, sb), ()),
                                             ("2h,4h", two, (two,), ("--metrics-file", metrics))):
                rc, stdout, err = compact("--dedup", mode, "--ranges", ranges, *base_args(out),
                                          *extra, *srcs)
                self.assertEqual(rc, 0, err)

            def contents(out):  # meta.json differs (ULIDs, levels, parents) but its stats
                got = {}
                for b in live_blocks(out):
                    m, blk = h.read_meta(b), h.read_block(b)
                    got[(m["minTime"], m["maxTime"])] = (
                        m["stats"],
                        blk.symbols, [(labels, [(c.mint, c.maxt, c.encoding, bytes(c.data))
                                                for c in chunks])
                                      for labels, chunks in blk.series])
                return got

            want = contents(two)
            self.assertEqual(len(want), 3, "%s: a 4h block and two vertical 2h blocks" % mode)
            self.assertEqual(contents(one), want, mode)
            with open(metrics) as f:
                got = {k.split("{")[0]: v for k, v in (
                    line.split() for line in f if line.strip() and not line.startswith("#"))}
            self.assertGreater(float(got["promblock_output_chunks"]), 0, mode)
            self.assertEqual(got["promblock_linked_chunks"], got["promblock_output_chunks"],
                             "%s: the level links every chunk of its inputs" % mode)

    def test_consistency_delay(self):
        """Source blocks younger than --consistency-delay (ULID time) wait for a
        later run; older ones are compacted."""
        fx = self.fx
        rng = random.Random("promblock-compact-consistency")
        src = fx.new_dir("young")
        os.makedirs(src)
        now_ms = int(time.time() * 1000)
        ages = [3 * cd.HOUR, 3 * cd.HOUR, 2 * cd.HOUR, 10 * cd.MIN]  # W3 is 10 minutes old
        blocks = []
        for k, age in enumerate(ages):
            b = cd.clone_block(fx.wa[k], src, rng)
            new = cd.make_ulid(now_ms - age, rng)
            os.rename(b, os.path.join(src, new))
            b = os.path.join(src, new)
            m = h.read_meta(b)
            m["ulid"], m["compaction"]["sources"] = new, [new]
            cd.write_json(os.path.join(b, "meta.json"), m)
            blocks.append(b)
        young = os.path.basename(blocks[3])
        old_enough = cd.catalog([src], None)
        old_enough = [b for b in old_enough if b.id != young]
        ref_jobs, ref_final = cd.plan(old_enough)
        # W0..W2 are copied; no leveled job (W2 the newest, W1's minTime the
        # high time).
        self.assertEqual([j.reason for j in ref_jobs], ["copy"] * 3)
        out = fx.new_dir("out-young")
        rc, stdout, err = compact("--json", "--delete-delay", "0s", "--out", out, src)  # default 30m
        self.assertEqual(rc, 0, err)
        jobs, s = parse_json_lines(stdout)
        self.assertEqual(job_keys(jobs), job_keys(ref_job_lines(ref_jobs)))
        for b in live_blocks(out):
            self.assertNotIn(young, h.read_meta(b)["compaction"]["sources"],
                             "a block younger than the consistency delay was compacted")
        # --consistency-delay 5m takes it.
        rc, stdout, err = compact("--json", "--delete-delay", "0s", "--consistency-delay", "5m",
                                  "--out", out, src)
        self.assertEqual(rc, 0, err)
        self.assertTrue(any(young in h.read_meta(b)["compaction"]["sources"]
                            for b in live_blocks(out)), "young block not taken with 5m")
        assert_same_samples(self, strict_samples(live_blocks(out)),
                            strict_samples(fx.wa[:4]), "samples")


# ---------------------------------------------------------------- exit codes

class ExitCodeTest(CompactTestCase):

    def test_bad_usage(self):
        fx = self.fx
        base = fx.new_dir("usage")
        out = os.path.join(base, "out")
        cases = [
            [],
            ["--out", out],
            ["--bogus-flag", "--out", out, fx.src_a],
            ["--out", out, "--dedup", "bogus", fx.src_a],
            ["--out", out, "--ranges", "2h,zzz", fx.src_a],
            ["--out", out, "--consistency-delay", "soon", fx.src_a],
            ["--out", out, "--delete-delay", "-", fx.src_a],
            ["--out", out, "--concurrency", "many", fx.src_a],
            [fx.src_a, fx.src_b],  # in place needs exactly one source
        ]
        for args in cases:
            rc, stdout, err = compact(*args)
            self.assertEqual(rc, 2, "%s -> %d (stderr %r)" % (args, rc, err))
            self.assertTrue(err.strip(), "%s: no message on stderr" % args)
            self.assertFalse(ulid_dirs(out), "%s: blocks written on bad usage" % args)
        fx.check_sources_unchanged(self)

    def test_failing_job_exit_1(self):
        """A corrupt source block: exit 1, jobs_failed >= 1, --out holds only
        complete blocks with the right samples, no tmp dirs after the run."""
        fx = self.fx
        sb = fx.new_dir("corrupt-b")
        shutil.copytree(fx.src_b, sb)
        bad = cd.window_blocks(sb)[3]
        seg = os.path.join(bad, "chunks", "000001")
        with open(seg, "r+b") as f:
            f.truncate(os.path.getsize(seg) // 2)
        out = fx.new_dir("out-corrupt")
        rc, stdout, err = compact("--json", *base_args(out), fx.src_a, sb)
        self.assertEqual(rc, 1, "stdout %r stderr %r" % (stdout[-2000:], err[-2000:]))
        jobs, s = parse_json_lines(stdout)
        self.assertGreaterEqual(s["jobs_failed"], 1, s)
        self.assertLessEqual(s["jobs_done"] + s["jobs_failed"], s["jobs_planned"], s)
        self.assertEqual([n for n in entries(out) if TMP_CREATE in n], [], "tmp dirs left")
        for b in h.block_dirs(out):
            m = h.read_meta(b)
            self.assertFalse(m["minTime"] < h.read_meta(bad)["maxTime"] and
                             h.read_meta(bad)["minTime"] < m["maxTime"] and
                             not cd.has_mark(b, "deletion-mark.json"),
                             "a block covering the corrupt window was published: %s" % m["ulid"])
            got = {l: x for l, x in h.read_block(b).samples().items() if x}
            assert_same_samples(self, got, cd.restrict(fx.expected, m["minTime"], m["maxTime"]),
                                "block %s" % m["ulid"])


# ---------------------------------------------------------------- retention

class RetentionTest(CompactTestCase):

    def test_retention(self):
        fx = self.fx
        # The data is from 2023: --retention 100y marks nothing beyond compaction.
        d = InPlaceTest.make_dir(self)
        ref_jobs, ref_final = cd.plan(cd.catalog([d], d))
        self.assertTrue(ref_jobs, "test data: something to compact")
        rc, stdout, err = compact("--json", "--retention", "100y", *base_args(None), d)
        self.assertEqual(rc, 0, err)
        jobs, s = parse_json_lines(stdout)
        self.assertEqual(job_keys(jobs), job_keys(ref_job_lines(ref_jobs)))
        self.assertEqual(s["blocks_marked"], sum(len(j.inputs) for j in ref_jobs), s)
        self.assertEqual(cd.out_layout(d), sorted(cd.layout_key(b) for b in ref_final))
        # --retention 1d: every block ends before now - 1d: none stays live.
        rc, stdout, err = compact("--json", "--retention", "1d", *base_args(None), d)
        self.assertEqual(rc, 0, err)
        jobs, s = parse_json_lines(stdout)
        self.assertEqual(live_blocks(d), [], "blocks older than the retention not marked")
        self.assertEqual(jobs, [])
        # Without --out the source of truth is gone; with --out, sources are never touched.
        out = fx.new_dir("out-ret")
        rc, stdout, err = compact("--retention", "1d", *fx.args(out))
        self.assertEqual(rc, 0, err)
        self.assertEqual(live_blocks(out), [])
        # Re-running on unchanged input is a no-op -- also with a retention that
        # covers the sources (no compact-then-mark cycle on every run).
        rc, stdout, err = compact("--json", "--retention", "1d", *fx.args(out))
        self.assertEqual(rc, 0, err)
        jobs, s = parse_json_lines(stdout)
        self.assertEqual((len(jobs), s["jobs_planned"], s["blocks_written"]), (0, 0, 0), stdout)
        fx.check_sources_unchanged(self)


if __name__ == "__main__":
    h.main()

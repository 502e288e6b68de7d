#!/usr/bin/env python3
"""promblock compact --shard I/N, --split-shards K and group locks (issue 10).

Data: a Thanos-style bucket of GROUPS groups (external label cluster=cN),
each an HA pair (replica=a|b) made of the committed replica_a/replica_b
blocks under new ULIDs, so every group holds the same series.

Checks:
  ShardTest   N = 1, 2, 4 processes started at once by GNU parallel with
              --shard 0/N..N-1/N write, together, exactly the blocks (labels,
              time range, samples) one unsharded process writes; with and
              without --split-shards 4; no series is in two blocks of one
              group and range.
  KillTest    a shard SIGKILLed while it writes a block (its lock and
              temporary dir left behind) is re-run: it takes its own dead
              lock over at once, and the result equals one process's.
  LockTest    a group locked by a live process is left alone (exit 75, the
              holder named), other groups are done; an expired lock is taken
              over.
  ExamplesTest  man/examples: the Kubernetes Indexed Job's command run for
              indexes 0-3 at once, the Slurm array script for tasks 0-3.
  SplitQueryTest  --split-shards 4 output (4 blocks, __compactor_shard_id__
              labels in meta.json) loads in a real prometheus and answers
              every series' instant and range queries as the unsplit output.
"""
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
import unittest

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import compact_data as cd  # noqa: E402
import harness as h  # noqa: E402
import test_compact as tc  # noqa: E402

GROUPS = 6
TESTDATA = os.path.join(h.REPO, "testdata", "blocks")
SHARD_LABEL = "__compactor_shard_id__"
BASE_ARGS = ["--replica-label", "replica", "--consistency-delay", "0s"]


def make_bucket(dest, rng):
    """GROUPS clusters x replicas a, b of the committed replica blocks."""
    os.makedirs(dest)
    for r in ("a", "b"):
        src = h.block_dirs(os.path.join(TESTDATA, "replica_" + r))[0]
        for g in range(GROUPS):
            cd.clone_block(src, dest, rng, {"cluster": "c%d" % g, "replica": r})
    return dest


live_blocks = tc.live_blocks


def dump(block):
    rc, out, err = h.run_promblock(["dump", block])
    assert rc == 0, err
    return out


def signature(out):
    """Sorted (external labels, min, max, samples) of the live blocks."""
    sig = []
    for b in live_blocks(out):
        m = h.read_meta(b)
        labels = tuple(sorted((m.get("thanos") or {}).get("labels", {}).items()))
        sig.append((labels, m["minTime"], m["maxTime"], dump(b)))
    return sorted(sig)


def series_of(block):
    return {line.rsplit(" ", 2)[0] for line in dump(block).splitlines() if line}


def run_parallel(n, out, bucket, *extra):
    """N shard processes at once, as GNU parallel starts them."""
    cmd = (["parallel", "--halt", "never", "-j", str(n), h.BIN, "compact", "--shard", "{}/%d" % n,
            "--out", out] + BASE_ARGS + list(extra) + [bucket, ":::"] + [str(i) for i in range(n)])
    return h.run(cmd, timeout=300)


class ShardsBase(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = h.mkdtemp("promblock-shards-")
        cls.bucket = make_bucket(os.path.join(cls.tmp, "bucket"), random.Random(10))
        cls.refs = {}

    def out(self, name):
        d = os.path.join(self.tmp, name)
        shutil.rmtree(d, ignore_errors=True)
        return d

    def reference(self, *extra):
        """Blocks one unsharded process writes."""
        key = tuple(extra)
        if key not in self.refs:
            out = self.out("ref" + "".join(extra).replace("-", "_"))
            rc, stdout, err = h.run_promblock(["compact", "--out", out] + BASE_ARGS + list(extra) +
                                              [self.bucket])
            self.assertEqual(rc, 0, err)
            self.refs[key] = signature(out)
        return self.refs[key]

    def assert_disjoint_series(self, out):
        by_range = {}
        for b in live_blocks(out):
            m = h.read_meta(b)
            labels = dict((m.get("thanos") or {}).get("labels", {}))
            labels.pop(SHARD_LABEL, None)
            key = (tuple(sorted(labels.items())), m["minTime"], m["maxTime"])
            by_range.setdefault(key, []).append(series_of(b))
        for key, sets in by_range.items():
            seen = set()
            for s in sets:
                self.assertFalse(seen & s, "series in two blocks of %r: %s" % (key, seen & s))
                seen |= s


class ShardTest(ShardsBase):
    def test_shards_together_equal_one_process(self):
        ref = self.reference()
        self.assertEqual(len(ref), GROUPS)
        for n in (1, 2, 4):
            out = self.out("par%d" % n)
            rc, stdout, err = run_parallel(n, out, self.bucket)
            self.assertEqual(rc, 0, "N=%d: %s %s" % (n, stdout, err))
            self.assertEqual(signature(out), ref, "N=%d: blocks differ from one process's" % n)
            self.assert_disjoint_series(out)
            self.assertEqual([e for e in os.listdir(out) if not h.is_ulid(e)], [".promblock.lock"],
                             "N=%d: leftovers" % n)

    def test_split_shards_with_processes(self):
        ref = self.reference("--split-shards", "4")
        self.assertEqual(len(ref), GROUPS * 4)
        unsplit = self.reference()
        # The split blocks hold, together, the unsplit blocks' samples.
        for labels, mint, maxt, samples in unsplit:
            parts = [s for l, a, b, s in ref
                     if tuple(x for x in l if x[0] != SHARD_LABEL) == labels and (a, b) == (mint, maxt)]
            self.assertEqual(len(parts), 4)
            self.assertEqual(sorted("".join(parts).splitlines()), sorted(samples.splitlines()))
        for n in (2, 4):
            out = self.out("split%d" % n)
            rc, stdout, err = run_parallel(n, out, self.bucket, "--split-shards", "4")
            self.assertEqual(rc, 0, "N=%d: %s %s" % (n, stdout, err))
            self.assertEqual(signature(out), ref, "N=%d: split blocks differ" % n)
            self.assert_disjoint_series(out)
            # A second round finds nothing to do: shards stay apart.
            rc, stdout, err = run_parallel(n, out, self.bucket, "--split-shards", "4", "--json")
            self.assertEqual(rc, 0, err)
            summaries = [json.loads(l) for l in stdout.splitlines() if '"jobs_planned"' in l]
            self.assertEqual([s["jobs_planned"] for s in summaries], [0] * n, stdout)

    def test_dry_run_shards_partition_the_jobs(self):
        rc, stdout, err = h.run_promblock(["compact", "--dry-run", "--json", "--out",
                                           self.out("dry")] + BASE_ARGS + [self.bucket])
        self.assertEqual(rc, 0, err)
        all_groups = sorted(json.dumps(j["group"], sort_keys=True)
                            for j in map(json.loads, stdout.splitlines()) if "job" in j)
        self.assertEqual(len(all_groups), GROUPS)
        seen = []
        for i in range(3):
            rc, stdout, err = h.run_promblock(["compact", "--dry-run", "--json", "--shard", "%d/3" % i,
                                               "--out", self.out("dry")] + BASE_ARGS + [self.bucket])
            self.assertEqual(rc, 0, err)
            seen += [json.dumps(j["group"], sort_keys=True)
                     for j in map(json.loads, stdout.splitlines()) if "job" in j]
        self.assertEqual(sorted(seen), all_groups)
        for bad in ("3/3", "1", "a/2", "0/0", "-1/2"):
            rc, _, err = h.run_promblock(["compact", "--dry-run", "--shard", bad, "--out",
                                          self.out("dry"), self.bucket])
            self.assertEqual(rc, 2, "--shard %s: %s" % (bad, err))
            self.assertEqual(len(err.strip().splitlines()), 1, err)


class KillTest(ShardsBase):
    def test_killed_shard_rerun_completes(self):
        ref = self.reference("--split-shards", "4")
        kills = 0
        for trial in range(6):
            out = self.out("kill%d" % trial)
            os.makedirs(out)
            args = ["--shard", "%d/2" % (trial % 2), "--out", out] + BASE_ARGS + [
                "--split-shards", "4", self.bucket]
            other = ["--shard", "%d/2" % (1 - trial % 2), "--out", out] + BASE_ARGS + [
                "--split-shards", "4", self.bucket]
            # Killed while writing a block: after the trial-th temporary dir.
            ino = tc.Inotify(out)
            try:
                p = tc.spawn(args)
                seen = 0
                deadline = time.monotonic() + 60
                while seen <= trial % 3 and p.poll() is None and time.monotonic() < deadline:
                    seen += sum(1 for _, n in ino.read(0.005) if n.endswith(".tmp-for-creation"))
                if p.poll() is None:
                    os.killpg(p.pid, signal.SIGKILL)
            finally:
                ino.close()
            rc, _, err = tc.finish(p)
            if rc != -signal.SIGKILL:
                continue
            kills += 1
            locks = os.listdir(os.path.join(out, ".promblock-locks"))
            self.assertTrue(any(n.endswith(".lock") for n in locks), locks)
            # The other shard runs meanwhile, untroubled.
            rc, _, err = h.run_promblock(["compact"] + other)
            self.assertEqual(rc, 0, err)
            rc, _, err = h.run_promblock(["compact"] + args)
            # A group it could not take would have been left (exit 75) with a
            # notice: the dead holder's locks were taken over at once.
            self.assertEqual(rc, 0, "re-run of the killed shard: %s" % err)
            self.assertNotIn("is locked by", err, "a dead local holder needs no waiting")
            self.assertEqual(signature(out), ref, "trial %d" % trial)
            self.assertEqual(sorted(os.listdir(out)), sorted(
                [os.path.basename(b) for b in h.block_dirs(out)] + [".promblock.lock"]),
                "trial %d: leftovers" % trial)
        self.assertGreaterEqual(kills, 3, "too few runs were killed mid-write")


class LockTest(ShardsBase):
    def write_lock(self, out, group, host, pid, heartbeat_ms, expiry_ms):
        """A lock file as another process would hold it."""
        rc, stdout, err = h.run_promblock(["compact", "--dry-run", "--json", "--out", out] +
                                          BASE_ARGS + [self.bucket])
        self.assertEqual(rc, 0, err)
        d = os.path.join(out, ".promblock-locks")
        os.makedirs(d, exist_ok=True)
        path = os.path.join(d, "%016x.lock" % group_hash(group))
        with open(path, "w") as f:
            json.dump({"group": "x", "owner": "%s:%d:feed" % (host, pid), "host": host,
                       "pid": pid, "heartbeat_ms": heartbeat_ms, "expiry_ms": expiry_ms,
                       "writing": []}, f)
        return path

    def test_live_lock_is_respected_and_expired_one_taken_over(self):
        ref = self.reference()
        out = self.out("locked")
        os.makedirs(out)
        now = int(time.time() * 1000)
        path = self.write_lock(out, {"cluster": "c3"}, "elsewhere.example", 4242, now, 600000)
        rc, stdout, err = h.run_promblock(["compact", "--out", out] + BASE_ARGS + [self.bucket])
        self.assertEqual(rc, 75, "a group left to another process: exit 75; %s" % err)
        self.assertIn("host elsewhere.example pid 4242", err)
        self.assertEqual(len(live_blocks(out)), GROUPS - 1)
        self.assertTrue(os.path.exists(path), "a live lock was removed")
        # Expired (its holder stopped refreshing it): taken over.
        self.write_lock(out, {"cluster": "c3"}, "elsewhere.example", 4242, now - 20000, 10000)
        rc, stdout, err = h.run_promblock(["compact", "--out", out] + BASE_ARGS + [self.bucket])
        self.assertEqual(rc, 0, err)
        self.assertEqual(signature(out), ref)
        self.assertFalse(os.path.exists(os.path.join(out, ".promblock-locks")))


EXAMPLES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "man", "examples")


def manifest_command(path):
    """The shell command of the Indexed Job manifest's container (its
    folded `args: - >-` scalar), and its completions/parallelism."""
    with open(path) as f:
        lines = f.read().splitlines()
    fields = {}
    cmd = None
    for i, line in enumerate(lines):
        key = line.strip().split(":")[0]
        if key in ("completions", "parallelism", "completionMode"):
            fields[key] = line.split(":", 1)[1].strip()
        if line.strip() == "- >-":
            indent = len(lines[i + 1]) - len(lines[i + 1].lstrip())
            parts = []
            for more in lines[i + 1:]:
                if len(more) - len(more.lstrip()) < indent or not more.strip():
                    break
                parts.append(more.strip())
            cmd = " ".join(parts)
    return cmd, fields


class ExamplesTest(ShardsBase):
    """The Kubernetes and Slurm examples, run as their schedulers would run
    them (all indexes at once), with the paths pointed at test dirs."""

    def env(self, **extra):
        env = dict(os.environ)
        env["PATH"] = os.path.dirname(h.BIN) + os.pathsep + env["PATH"]
        env.update(extra)
        return env

    def run_all(self, cmds):
        procs = [subprocess.Popen(c, env=e, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True) for c, e in cmds]
        results = [(p.wait(120), p.stdout.read(), p.stderr.read()) for p in procs]
        for rc, out, err in results:
            self.assertEqual(rc, 0, "%s %s" % (out, err))

    def test_kubernetes_indexed_job(self):
        cmd, fields = manifest_command(os.path.join(EXAMPLES, "compact-indexed-job.yaml"))
        self.assertEqual(fields, {"completionMode": "Indexed", "completions": "4",
                                  "parallelism": "4"})
        self.assertIn('--shard "$JOB_COMPLETION_INDEX/4"', cmd)
        out = self.out("k8s")
        empty = os.path.join(self.tmp, "k8s-empty")
        os.makedirs(empty, exist_ok=True)
        cmd = cmd.replace("/mnt/shared", out).replace("/mnt/prom-a", self.bucket).replace(
            "/mnt/prom-b", empty)
        self.assertNotIn("/mnt/", cmd)
        self.run_all([(["/bin/sh", "-c", cmd], self.env(JOB_COMPLETION_INDEX=str(i)))
                      for i in range(4)])
        self.assertEqual(signature(out), self.reference())

    def test_slurm_array(self):
        script = os.path.join(EXAMPLES, "compact-slurm.sh")
        text = open(script).read()
        self.assertIn("#SBATCH --array=0-3", text)
        out = self.out("slurm")
        self.run_all([([script], self.env(SHARED=out, SOURCES=self.bucket,
                                          SLURM_ARRAY_TASK_ID=str(i), SLURM_ARRAY_TASK_COUNT="4",
                                          SLURM_CPUS_PER_TASK="1")) for i in range(4)])
        self.assertEqual(signature(out), self.reference())
        # Outside a job array it refuses, saying why.
        rc = subprocess.run([script], env=self.env(SHARED=out, SOURCES=self.bucket),
                            capture_output=True, text=True)
        self.assertNotEqual(rc.returncode, 0)
        self.assertIn("sbatch", rc.stderr)


def group_hash(group):
    """Prometheus's labels.Hash() of a group's labels: xxHash64."""
    data = b"".join(k.encode() + b"\xff" + v.encode() + b"\xff" for k, v in sorted(group.items()))
    return xxh64(data)


def xxh64(data, seed=0):
    """Reference xxHash64 (the spec's algorithm), independent of the C library."""
    P1, P2, P3, P4, P5 = (0x9E3779B185EBCA87, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9,
                          0x85EBCA77C2B2AE63, 0x27D4EB2F165667C5)
    M = (1 << 64) - 1

    def rotl(x, r):
        return ((x << r) | (x >> (64 - r))) & M

    def rnd(acc, lane):
        return (rotl((acc + lane * P2) & M, 31) * P1) & M

    def merge(acc, val):
        return ((acc ^ rnd(0, val)) * P1 + P4) & M

    n, i = len(data), 0
    if n >= 32:
        v = [(seed + P1 + P2) & M, (seed + P2) & M, seed, (seed - P1) & M]
        while i + 32 <= n:
            for k in range(4):
                v[k] = rnd(v[k], int.from_bytes(data[i + 8 * k:i + 8 * k + 8], "little"))
            i += 32
        acc = (rotl(v[0], 1) + rotl(v[1], 7) + rotl(v[2], 12) + rotl(v[3], 18)) & M
        for k in range(4):
            acc = merge(acc, v[k])
    else:
        acc = (seed + P5) & M
    acc = (acc + n) & M
    while i + 8 <= n:
        acc = (rotl(acc ^ rnd(0, int.from_bytes(data[i:i + 8], "little")), 27) * P1 + P4) & M
        i += 8
    if i + 4 <= n:
        acc = (rotl(acc ^ (int.from_bytes(data[i:i + 4], "little") * P1) & M, 23) * P2 + P3) & M
        i += 4
    while i < n:
        acc = (rotl(acc ^ (data[i] * P5) & M, 11) * P1) & M
        i += 1
    acc ^= acc >> 33
    acc = (acc * P2) & M
    acc ^= acc >> 29
    acc = (acc * P3) & M
    return acc ^ (acc >> 32)


class HashTest(unittest.TestCase):
    def test_reference_vectors(self):
        self.assertEqual(xxh64(b""), 0xEF46DB3751D8E999)
        self.assertEqual(xxh64(b"a"), 0xD24EC4F1A98C6E5B)


class SplitQueryTest(ShardsBase):
    def test_split_output_answers_like_unsplit(self):
        unsplit, split = self.out("q-unsplit"), self.out("q-split")
        src = os.path.join(self.tmp, "one-group")
        os.makedirs(src)
        for b in h.block_dirs(self.bucket):
            if h.read_meta(b)["thanos"]["labels"]["cluster"] == "c0":
                shutil.copytree(b, os.path.join(src, os.path.basename(b)))
        for out, extra in ((unsplit, []), (split, ["--split-shards", "4"])):
            rc, _, err = h.run_promblock(["compact", "--out", out] + BASE_ARGS + extra + [src])
            self.assertEqual(rc, 0, err)
        blocks = live_blocks(split)
        self.assertEqual(len(blocks), 4)
        self.assertEqual(sorted(h.read_meta(b)["thanos"]["labels"][SHARD_LABEL] for b in blocks),
                         ["%d_of_4" % k for k in range(1, 5)])
        self.assertTrue(all(series_of(b) for b in blocks), "a shard is empty: poor test data")
        meta = h.read_meta(live_blocks(unsplit)[0])
        mint, maxt = meta["minTime"] / 1000, meta["maxTime"] / 1000
        names = sorted({s.split('"')[1] for s in series_of(live_blocks(unsplit)[0])})
        answers = []
        for out in (unsplit, split):
            with h.PrometheusServer(live_blocks(out)) as prom:
                got = {}
                for name in names:
                    for t in (mint + 600, (mint + maxt) / 2, maxt - 60):
                        got[(name, t)] = sorted(json.dumps(r, sort_keys=True) for r in
                                                prom.query(name, time=t)["data"]["result"])
                    got[(name, "range")] = sorted(
                        json.dumps(r, sort_keys=True) for r in
                        prom.query_range(name, mint, maxt, 97)["data"]["result"])
                answers.append(got)
        self.assertTrue(any(answers[0][k] for k in answers[0]), "queries found nothing")
        self.assertEqual(answers[0], answers[1])


if __name__ == "__main__":
    unittest.main()

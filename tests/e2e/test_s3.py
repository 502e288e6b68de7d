"""promblock on an S3 bucket, against a real S3 server (s3rver: Signature V4,
multipart uploads) on 127.0.0.1.

The replicas' blocks are put into the bucket the way two Thanos sidecars lay
them out, with an S3 client of the tests' own (s3_server.S3Client); results
are read back with it too. The reference is promblock's directory mode on the
same data (itself checked against independent references by test_compact):
a bucket run gives the same blocks (external labels, time ranges, sources,
samples), whether one process does it or four with --shard I/4, and a real
Prometheus answers the same from them. Faults: 503 SlowDown answers, a server
that is down, and a run killed with SIGKILL in the middle of its uploads.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import unittest

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import harness as h  # noqa: E402
import compact_data as cd  # noqa: E402
from s3_server import ACCESS_KEY, SECRET_KEY, ConditionalProxy, FaultProxy, S3Client, S3rver, \
    config_yaml, tool_env  # noqa: E402
from test_compact_shards import group_hash, manifest_command  # noqa: E402

N_WINDOWS = 6
COMPACT = ["compact", "--replica-label", "replica", "--consistency-delay", "0s"]


def live_blocks(d):
    return [b for b in h.block_dirs(d) if not os.path.exists(os.path.join(b, "deletion-mark.json"))]


class S3Test(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = h.mkdtemp()
        cls.layout_dir = cd.sidecar_bucket(os.path.join(cls.tmp, "sidecars"), "xy", N_WINDOWS, seed=11)
        cls.ref = os.path.join(cls.tmp, "ref")
        shutil.copytree(cls.layout_dir, cls.ref)
        rc, _, err = h.run_promblock(COMPACT + [cls.ref], timeout=600)
        if rc != 0:
            raise AssertionError("reference compaction failed: " + err[-3000:])
        cls.server = S3rver().__enter__()
        cls.s3 = S3Client(cls.server.port)

    @classmethod
    def tearDownClass(cls):
        cls.server.__exit__(None, None, None)

    def config(self, prefix, port=None):
        path = os.path.join(self.tmp, "bucket-%s-%s.yml" % (prefix, port or "direct"))
        with open(path, "w") as f:
            f.write(config_yaml(port or self.server.port, prefix=prefix))
        return path

    def sidecars_upload(self, prefix):
        for b in h.block_dirs(self.layout_dir):
            self.s3.upload_tree(b, "%s/%s/" % (prefix, os.path.basename(b)))

    def promblock(self, args, timeout=600):
        p = subprocess.run([h.BIN] + [str(a) for a in args], capture_output=True, text=True,
                           timeout=timeout, env=tool_env())
        return p.returncode, p.stdout, p.stderr

    def download(self, prefix, name):
        d = os.path.join(self.tmp, name)
        self.s3.download_tree(prefix + "/", d)
        return d

    def assert_bucket_blocks_complete(self, prefix):
        """Every block with a meta.json has every file its Thanos section
        lists, at the listed size; sidecar blocks have no list."""
        objects = self.s3.list(prefix + "/")
        for key in objects:
            if not key.endswith("/meta.json"):
                continue
            block = key[:-len("meta.json")]
            meta = json.loads(self.s3.get(key))
            for f in meta.get("thanos", {}).get("files", []):
                if f["rel_path"] != "meta.json":
                    self.assertEqual(objects.get(block + f["rel_path"]), f["size_bytes"],
                                     block + f["rel_path"])
            self.assertIn(block + "index", objects)

    def test_compact_single_and_sharded_equal_directory_run(self):
        self.sidecars_upload("one")
        rc, out, err = self.promblock(COMPACT + ["--objstore.config-file", self.config("one"),
                                                 "bucket:"])
        self.assertEqual(rc, 0, err)
        self.assertIn("s3://promblock/one: uploaded", err)
        # s3rver ignores If-None-Match on PUT: no lock, and the run says so.
        self.assertIn("s3://promblock/one: the server cannot create objects atomically", err)
        self.assertFalse([k for k in self.s3.list("one/") if ".promblock-locks" in k])
        self.assert_bucket_blocks_complete("one")
        h.assert_same_layout(self, self.download("one", "one"), self.ref)

        self.sidecars_upload("four")
        cfg = self.config("four")
        procs = [subprocess.Popen([h.BIN] + COMPACT + ["--shard", "%d/4" % i,
                                                       "--objstore.config-file", cfg, "bucket:"],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=tool_env())
                 for i in range(4)]
        for p in procs:
            _, err = p.communicate(timeout=600)
            self.assertEqual(p.returncode, 0, err.decode())
        self.assert_bucket_blocks_complete("four")
        four = self.download("four", "four")
        h.assert_same_layout(self, four, self.ref)

        # A real Prometheus serves the same samples from the bucket's blocks.
        x = lambda d: [b for b in live_blocks(d)  # noqa: E731
                       if h.read_meta(b)["thanos"]["labels"] == {"cluster": "x"}]
        end = cd.T0 + N_WINDOWS * cd.WINDOW
        with h.PrometheusServer(x(four)) as prom:
            got = h.raw_samples(prom, cd.SELECTOR, cd.T0, end)
        with h.PrometheusServer(x(self.ref)) as prom:
            ref = h.raw_samples(prom, cd.SELECTOR, cd.T0, end)
        self.assertTrue(ref)
        self.assertEqual(got, ref)

    def test_group_locks_where_the_server_has_conditional_writes(self):
        """Behind a proxy that gives s3rver AWS's If-None-Match: a group
        whose lock object a live run holds is left by whichever shard owns
        it, under any shard count; a stale one is taken over."""
        self.sidecars_upload("locks")
        proxy = ConditionalProxy(self.server.port)
        self.addCleanup(proxy.close)
        cfg = self.config("locks", port=proxy.port)
        lock_x = "locks/.promblock-locks/%016x.lock" % group_hash({"cluster": "x"})
        lock_y = "locks/.promblock-locks/%016x.lock" % group_hash({"cluster": "y"})
        now_ms = int(time.time() * 1000)
        held = json.dumps({"holder": "otherhost pid 7", "token": "t", "started_ms": now_ms,
                           "refreshed_ms": now_ms}).encode()
        self.s3.put(lock_x, held)
        procs = [subprocess.Popen([h.BIN] + COMPACT + ["--shard", "%d/3" % i,
                                                       "--objstore.config-file", cfg, "bucket:"],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=tool_env(),
                                  text=True)
                 for i in range(3)]
        codes = []
        for p in procs:
            _, err = p.communicate(timeout=600)
            codes.append(p.returncode)
            self.assertNotIn("cannot create objects atomically", err)
            if p.returncode == 75:
                self.assertRegex(err, r"promblock: group \{cluster=\"x\"\} is locked by otherhost "
                                      r"pid 7, refreshed \d+s ago; left for later\n")
            else:
                self.assertEqual(p.returncode, 0, err)
        self.assertEqual(sorted(codes), [0, 0, 75])
        self.assertGreater(proxy.conditional_puts, 0)
        self.assertEqual(self.s3.get(lock_x), held, "another's lock is never touched")
        self.assertIsNone(self.s3.get(lock_y), "a lock is removed when its run ends")
        # Group y was compacted meanwhile; x is still as the sidecars left it.
        got = self.download("locks", "locks-partial")
        y_blocks = [b for b in live_blocks(got)
                    if h.read_meta(b)["thanos"]["labels"] == {"cluster": "y"}]
        self.assertTrue(y_blocks)
        self.assertTrue(all(h.read_meta(b)["compaction"]["level"] > 1 for b in y_blocks))

        # Its holder stopped refreshing long ago: the next run takes over.
        self.s3.put(lock_x, json.dumps({"holder": "otherhost pid 7", "token": "t",
                                        "started_ms": now_ms - 3600000,
                                        "refreshed_ms": now_ms - 600000}).encode())
        rc, _, err = self.promblock(COMPACT + ["--objstore.config-file", cfg, "bucket:"])
        self.assertEqual(rc, 0, err)
        self.assertIsNone(self.s3.get(lock_x))
        self.assert_bucket_blocks_complete("locks")
        h.assert_same_layout(self, self.download("locks", "locks"), self.ref)

    def test_kubernetes_cronjob_example(self):
        """man/examples/compact-bucket-cronjob.yaml's command, run as its four
        Indexed Job pods, credentials from the environment as the manifest
        passes them."""
        cmd, fields = manifest_command(os.path.join(h.REPO, "man", "examples",
                                                    "compact-bucket-cronjob.yaml"))
        self.assertEqual(fields, {"completionMode": "Indexed", "completions": "4",
                                  "parallelism": "4"})
        self.sidecars_upload("k8s")
        cfg = os.path.join(self.tmp, "k8s.yml")
        with open(cfg, "w") as f:
            f.write(config_yaml(self.server.port, prefix="k8s", keys=False))
        scratch = os.path.join(self.tmp, "k8s-scratch")
        os.makedirs(scratch)
        cmd = cmd.replace("/etc/thanos/objstore.yml", cfg).replace("/scratch", scratch)
        # The test's blocks were made minutes ago (a fresh cache): younger
        # than the default consistency delay, which would leave them alone.
        cmd = cmd.replace("promblock", h.BIN, 1) + " --consistency-delay 0s"

        procs = [subprocess.Popen(["/bin/sh", "-c", cmd], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE,
                                  env=dict(tool_env(), JOB_COMPLETION_INDEX=str(i),
                                           AWS_ACCESS_KEY_ID=ACCESS_KEY,
                                           AWS_SECRET_ACCESS_KEY=SECRET_KEY))
                 for i in range(4)]
        for p in procs:
            _, err = p.communicate(timeout=600)
            self.assertEqual(p.returncode, 0, err.decode())
        self.assertEqual(os.listdir(scratch), [])  # each run removed its downloads
        h.assert_same_layout(self, self.download("k8s", "k8s"), self.ref)

    def test_backup_and_restore_round_trip(self):
        self.sidecars_upload("bk")
        archive = os.path.join(self.tmp, "bk.tar.zst")
        with open(archive, "wb") as f:
            p = subprocess.run([h.BIN, "backup", "--objstore.config-file", self.config("bk"),
                                "bucket:"], stdout=f, stderr=subprocess.PIPE, env=tool_env(),
                               timeout=600)
        self.assertEqual(p.returncode, 0, p.stderr.decode())
        rc, _, err = self.promblock(["restore", "--objstore.config-file", self.config("rs"),
                                     "--into", "bucket:", archive])
        self.assertEqual(rc, 0, err)
        src, dst = self.s3.list("bk/"), self.s3.list("rs/")
        self.assertEqual(sorted(k[3:] for k in src), sorted(k[3:] for k in dst))
        for k in src:
            self.assertEqual(self.s3.get(k), self.s3.get("rs/" + k[3:]), k)

    def test_slowdown_answers_are_retried(self):
        self.sidecars_upload("slow")
        proxy = FaultProxy(self.server.port, "503", faults=3)
        try:
            rc, _, err = self.promblock(COMPACT + ["--objstore.config-file",
                                                   self.config("slow", proxy.port), "bucket:"])
        finally:
            proxy.close()
        self.assertEqual(rc, 0, err)
        self.assertEqual(proxy.faulted, 3)
        h.assert_same_layout(self, self.download("slow", "slow"), self.ref)

    def test_server_down_is_one_line_naming_the_object(self):
        proxy = FaultProxy(self.server.port)
        port = proxy.port
        proxy.close()  # nothing listens there now
        rc, out, err = self.promblock(["merge", "--objstore.config-file", self.config("down", port),
                                       "--out", "bucket:m", h.block_dirs(self.layout_dir)[0]])
        self.assertEqual(rc, 1, (out, err))
        lines = err.strip().splitlines()
        self.assertEqual(len(lines), 1, err)
        self.assertRegex(lines[0], r"^promblock: s3://promblock/down/m/[0-9A-Z]{26}/\S+: PUT: .*"
                                   r"connect.*\(after \d+ tries\)$")
        self.assertEqual(out, "")

    def test_killed_mid_upload_leaves_no_partial_block_visible(self):
        self.sidecars_upload("kill")
        before = self.s3.list("kill/")
        # Uploads through a proxy that passes 256 KiB/s: slow enough to kill
        # the run while it uploads.
        proxy = FaultProxy(self.server.port, "throttle", faults=1 << 30)
        cfg = self.config("kill", proxy.port)
        p = subprocess.Popen([h.BIN] + COMPACT + ["--objstore.config-file", cfg, "bucket:"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=tool_env())
        try:
            deadline = time.monotonic() + 120
            # Killed once the server has answered an upload of the run, so
            # one object is whole: s3rver lists (and answers HEAD for) an
            # object while its body still streams in.
            while time.monotonic() < deadline and p.poll() is None:
                if proxy.uploads_answered:
                    break
                time.sleep(0.01)
            self.assertIsNone(p.poll(), "the run ended before it was killed")
            p.send_signal(signal.SIGKILL)
            p.wait(timeout=60)
            # The proxy cuts the upload in flight only after its current
            # throttling pause; s3rver drops the cut object then. List after.
            self.assertTrue(proxy.wait_idle(), "the proxy still forwards after the kill")
            self.s3.wait_listing_settles("kill/")
        finally:
            proxy.close()
            p.stderr.close()
        after = self.s3.list("kill/")
        self.assertTrue(set(after) - set(before), "killed before any upload")
        for k, size in before.items():  # no source block lost or changed
            self.assertEqual(after.get(k), size, k)
        self.assert_bucket_blocks_complete("kill")
        # A rerun completes the work; what the killed run left is ignored.
        rc, _, err = self.promblock(COMPACT + ["--objstore.config-file", self.config("kill"),
                                               "bucket:"])
        self.assertEqual(rc, 0, err)
        self.assert_bucket_blocks_complete("kill")
        h.assert_same_layout(self, self.download("kill", "kill"), self.ref)


if __name__ == "__main__":
    unittest.main()

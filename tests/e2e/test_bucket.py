"""`bucket:` sources and outputs, on Thanos's FILESYSTEM bucket type.

The bucket code paths (listing, download into scratch, upload with meta.json
last, the stub mirror that in-place compaction works on) are the same for
every bucket type; test_s3.py runs them against a real S3 server. Here the
reference is promblock's own directory mode, which the other e2e tests check
against independent references: a bucket run must give the same blocks
(labels, ranges, sources, samples) as a directory run on the same data.
"""

import json
import os
import shutil
import subprocess
import time
import sys
import unittest

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import harness as h  # noqa: E402
import compact_data as cd  # noqa: E402
from test_compact_shards import group_hash  # noqa: E402

N_WINDOWS = 6  # W0-W3 fill an 8h range; W4, W5 stay 2h blocks


def fs_config(directory):
    return "--objstore.config=type: FILESYSTEM\nconfig:\n  directory: %s\n" % directory


def promblock_ok(tc, args, timeout=300):
    rc, out, err = h.run_promblock(args, timeout=timeout)
    tc.assertEqual(rc, 0, "promblock %s: %s" % (" ".join(map(str, args)), err[-3000:]))
    return out, err


def layout_keys(directory):
    return sorted(h.live_layout(directory, dumps=False))


class BucketTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = h.mkdtemp()
        cls.bucket = cd.sidecar_bucket(os.path.join(cls.tmp, "sidecars"), "x", N_WINDOWS, seed=7)
        # The reference: the same compaction on a plain directory.
        cls.ref = os.path.join(cls.tmp, "ref")
        shutil.copytree(cls.bucket, cls.ref)
        rc, _, err = h.run_promblock(["compact", "--replica-label", "replica",
                                      "--consistency-delay", "0s", cls.ref], timeout=600)
        if rc != 0:
            raise AssertionError("reference compaction failed: " + err[-3000:])

    def fresh_bucket(self, name):
        d = os.path.join(self.tmp, name)
        shutil.copytree(self.bucket, d)
        return d

    def test_ls_reads_only_meta(self):
        d = self.fresh_bucket("ls")
        out, _ = promblock_ok(self, ["ls", "--json", fs_config(d), "bucket:"])
        rows = [json.loads(line) for line in out.splitlines()]
        self.assertEqual(len(rows), 2 * N_WINDOWS)
        for r in rows:
            block = os.path.join(d, r["ulid"])
            self.assertEqual(r["path"], block)
            self.assertEqual(r["size_bytes"], sum(
                os.path.getsize(os.path.join(dp, f)) for dp, _, fs in os.walk(block) for f in fs))
            self.assertEqual(r["external_labels"]["cluster"], "x")

    def test_bucket_needs_a_config(self):
        rc, _, err = h.run_promblock(["ls", "bucket:"])
        self.assertEqual(rc, 2)
        self.assertIn("--objstore.config-file", err)

    def test_compact_in_place_equals_directory_run(self):
        d = self.fresh_bucket("inplace")
        before = h.file_digests(d)
        _, err = promblock_ok(self, ["compact", "--replica-label", "replica",
                                     "--consistency-delay", "0s", fs_config(d), "bucket:"])
        self.assertIn("uploaded", err)
        self.assertEqual(layout_keys(d), layout_keys(self.ref))
        h.assert_same_layout(self, d, self.ref)
        # The sidecars' blocks are kept, marked for deletion (48h delay),
        # byte for byte as they were.
        after = h.file_digests(d)
        for name, digest in before.items():
            self.assertEqual(after.get(name), digest, name)
        self.assertFalse([n for n in after if ".tmp" in n or "scratch" in n], after)
        # A second run has nothing left to do.
        out, _ = promblock_ok(self, ["compact", "--replica-label", "replica",
                                     "--consistency-delay", "0s", fs_config(d), "bucket:"])
        self.assertEqual(out, "nothing to do\n")

    def test_a_locked_group_is_left_by_runs_of_any_shard_count(self):
        d = self.fresh_bucket("locked")
        lock_dir = os.path.join(d, ".promblock-locks")
        os.makedirs(lock_dir)
        lock = os.path.join(lock_dir, "%016x.lock" % group_hash({"cluster": "x"}))
        now_ms = int(time.time() * 1000)
        with open(lock, "w") as f:
            json.dump({"holder": "otherhost pid 7", "token": "t", "started_ms": now_ms,
                       "refreshed_ms": now_ms}, f)
        before = h.file_digests(d)
        args = ["compact", "--replica-label", "replica", "--consistency-delay", "0s",
                fs_config(d), "bucket:"]
        notice = (r"promblock: group \{cluster=\"x\"\} is locked by otherhost pid 7, "
                  r"refreshed \d+s ago; left for later\n")
        rc, out, err = h.run_promblock(args, timeout=300)
        self.assertEqual(rc, 75, err)
        self.assertRegex(err, notice)
        # The lock names the group, not the shard: whichever of N shards
        # owns the group leaves it too, and the others have nothing to do.
        codes = []
        for i in range(4):
            rc, out, err = h.run_promblock(args + ["--shard", "%d/4" % i], timeout=300)
            codes.append(rc)
            if rc == 75:
                self.assertRegex(err, notice)
            else:
                self.assertEqual((rc, out), (0, "nothing to do\n"), err)
        self.assertEqual(sorted(codes), [0, 0, 0, 75])
        self.assertEqual(h.file_digests(d), before)
        # A holder that stopped refreshing longer than --lock-expiry ago is gone.
        with open(lock, "w") as f:
            json.dump({"holder": "otherhost pid 7", "token": "t", "started_ms": now_ms - 3600000,
                       "refreshed_ms": now_ms - 600000}, f)
        promblock_ok(self, args)
        self.assertFalse(os.path.exists(lock))
        self.assertEqual(layout_keys(d), layout_keys(self.ref))

    def test_compact_into_bucket_out_equals_directory_out(self):
        d = self.fresh_bucket("out-bucket")
        os.makedirs(os.path.join(self.tmp, "empty-out"))
        args = ["compact", "--replica-label", "replica", "--consistency-delay", "0s"]
        promblock_ok(self, args + ["--out", "bucket:compacted", fs_config(d), self.bucket])
        ref_out = os.path.join(self.tmp, "ref-out")
        promblock_ok(self, args + ["--out", ref_out, self.bucket])
        self.assertEqual(layout_keys(os.path.join(d, "compacted")), layout_keys(ref_out))
        h.assert_same_layout(self, os.path.join(d, "compacted"), ref_out)
        for b in h.block_dirs(os.path.join(d, "compacted")):
            thanos = h.read_meta(b)["thanos"]
            self.assertEqual(thanos["labels"], {"cluster": "x"})
            self.assertEqual(thanos["downsample"], {"resolution": 0})
            files = {f["rel_path"]: f.get("size_bytes") for f in thanos["files"]}
            for rel, size in files.items():
                if rel != "meta.json":
                    self.assertEqual(os.path.getsize(os.path.join(b, rel)), size, rel)

    def test_merge_from_and_into_bucket(self):
        d = self.fresh_bucket("merge")
        blocks = sorted(h.block_dirs(d), key=lambda b: h.read_meta(b)["minTime"])[:2]
        m0, m1 = (h.read_meta(b) for b in blocks)
        self.assertLess(m1["minTime"], m0["maxTime"], "test data: the two blocks overlap")
        args = ["merge", "--replica-label", "replica", "--json"]
        out, _ = promblock_ok(self, args + ["--out", "bucket:merged", fs_config(d)] +
                              ["bucket:" + os.path.basename(b) for b in blocks])
        summary = json.loads(out)
        ref_out = os.path.join(self.tmp, "merge-ref")
        ref, _ = promblock_ok(self, args + ["--out", ref_out] + blocks)
        self.assertEqual(summary["samples_out"], json.loads(ref)["samples_out"])
        merged = os.path.join(d, "merged", summary["ulid"])
        self.assertEqual(summary["path"], merged)
        self.assertEqual(h.promblock_dump(merged), h.promblock_dump(ref_out))

    def test_partial_upload_is_invisible_and_verify_warns(self):
        d = self.fresh_bucket("partial")
        victim = sorted(h.block_dirs(d))[0]
        os.remove(os.path.join(victim, "meta.json"))  # an upload cut short
        out, _ = promblock_ok(self, ["ls", "--json", fs_config(d), "bucket:"])
        self.assertNotIn(os.path.basename(victim), out)
        rc, out, _ = h.run_promblock(["verify", fs_config(d), "bucket:"], timeout=300)
        self.assertEqual(rc, 0, out)
        self.assertIn(victim + "/meta.json: warning: no meta.json", out)

    def test_verify_names_a_short_object(self):
        d = self.fresh_bucket("short")
        promblock_ok(self, ["merge", "--out", "bucket:m", fs_config(d), sorted(h.block_dirs(d))[0]])
        block = h.block_dirs(os.path.join(d, "m"))[0]
        with open(os.path.join(block, "index"), "r+b") as f:
            f.truncate(100)
        rc, out, _ = h.run_promblock(["verify", fs_config(d), "bucket:m"], timeout=300)
        self.assertEqual(rc, 1)
        self.assertRegex(out, r"^%s/index: size 100 bytes, meta.json says \d+\n$" % block)

    def test_backup_from_bucket_restore_into_bucket(self):
        d = self.fresh_bucket("backup")
        archive = os.path.join(self.tmp, "b.tar.zst")
        with open(archive, "wb") as f:
            p = subprocess.run([h.BIN, "backup", fs_config(d), "bucket:"], stdout=f,
                               stderr=subprocess.PIPE, timeout=300)
        self.assertEqual(p.returncode, 0, p.stderr[-2000:])
        target = os.path.join(self.tmp, "restored")
        os.makedirs(target)
        promblock_ok(self, ["restore", fs_config(target), "--into", "bucket:", archive])
        self.assertEqual(h.file_digests(target), h.file_digests(d))
        # Never overwrites: a second restore skips every block.
        _, err = promblock_ok(self, ["restore", fs_config(target), "--into", "bucket:", archive])
        self.assertIn("restored 0 blocks (0 bytes) into bucket:; %d skipped" % (2 * N_WINDOWS), err)


if __name__ == "__main__":
    unittest.main()

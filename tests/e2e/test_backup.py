#!/usr/bin/env python3
"""promblock backup / restore: zstd-compressed tar streams of blocks.

The contract these tests hold the implementation to (man promblock-backup,
promblock-restore):
  backup [--since ULID|TIME] [--level L] [--min-compaction-level N] SOURCE > FILE
    complete blocks only (no deletion-marked block, no *.tmp-for-creation,
    no partial block), ULID order, each block's files under <ULID>/ with
    meta.json last, one zstd frame per block; refuses a terminal (exit 2);
    memory flat (peak RSS < 100 MB for a 1 GiB block).
  restore --into DIR [FILE|-]
    byte-identical blocks; existing blocks skipped (exit 0, notice);
    links, devices, FIFOs, absolute paths, "..", unknown names refused:
    exit 1, their block not installed, nothing written outside DIR; a cut
    or corrupt stream installs exactly the blocks whose frames came whole
    before the damage and exits 1; exit 75 when DIR is locked.
Crafted archives are built with Python's tarfile and compressed with the
zstd CLI.
"""

import fcntl
import io
import os
import pty
import shutil
import subprocess
import sys
import tarfile
import unittest
import uuid

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

BASIC = os.path.join(h.TESTDATA, "blocks", "basic")
REPLICA_A = os.path.join(h.TESTDATA, "realworld", "replica_a")
ZSTD = shutil.which("zstd")
MAX_RSS_KB = 100 * 1024


def run_bin(args, input=None, timeout=300, cwd=None):
    """(rc, stdout bytes, stderr str) of promblock."""
    p = subprocess.run([h.BIN] + [str(a) for a in args], input=input, capture_output=True,
                       timeout=timeout, cwd=cwd,
                       stdin=None if input is not None else subprocess.DEVNULL)
    return p.returncode, p.stdout, p.stderr.decode("utf-8", "replace")


def backup(testcase, *args):
    rc, out, err = run_bin(["backup"] + list(args))
    testcase.assertEqual(rc, 0, err)
    return out


def restore(into, data, *extra):
    return run_bin(["restore", "--into", into] + list(extra), input=data)


def zstd_compress(data):
    return subprocess.run([ZSTD, "-q", "-c", "-3"], input=data, capture_output=True,
                          check=True).stdout


def zstd_decompress(data, check=True):
    p = subprocess.run([ZSTD, "-q", "-d", "-c"], input=data, capture_output=True)
    if check and p.returncode != 0:
        raise AssertionError("zstd -d failed: %s" % p.stderr.decode())
    return p.stdout


def members(archive):
    """[(name, type, size)] of a promblock backup, read by Python's tarfile."""
    with tarfile.open(fileobj=io.BytesIO(zstd_decompress(archive)), mode="r:") as t:
        return [(m.name, m.type, m.size) for m in t.getmembers()]


def files_of(root):
    """{relative path: bytes} of every regular file under root."""
    out = {}
    for dp, _, fns in os.walk(root):
        for fn in fns:
            p = os.path.join(dp, fn)
            with open(p, "rb") as f:
                out[os.path.relpath(p, root)] = f.read()
    return out


def zstd_frame_ends(data):
    """End offsets of the zstd frames in data (RFC 8878 frame layout)."""
    ends, pos = [], 0
    while pos < len(data):
        magic = int.from_bytes(data[pos:pos + 4], "little")
        if 0x184D2A50 <= magic <= 0x184D2A5F:  # skippable frame
            pos += 8 + int.from_bytes(data[pos + 4:pos + 8], "little")
            ends.append(pos)
            continue
        assert magic == 0xFD2FB528, "not a zstd frame at %d" % pos
        d = data[pos + 4]
        fcs_flag, single, checksum, dict_flag = d >> 6, (d >> 5) & 1, (d >> 2) & 1, d & 3
        pos += 5 + (0 if single else 1) + [0, 1, 2, 4][dict_flag] + \
            [1 if single else 0, 2, 4, 8][fcs_flag]
        while True:
            bh = int.from_bytes(data[pos:pos + 3], "little")
            last, btype, size = bh & 1, (bh >> 1) & 3, bh >> 3
            pos += 3 + (1 if btype == 1 else size)
            if last:
                break
        pos += 4 if checksum else 0
        ends.append(pos)
    return ends


def tar_entry(info, data=b"", fmt=tarfile.PAX_FORMAT):
    """One tar entry (header(s), data, padding) as bytes."""
    info.size = len(data) if info.type in (tarfile.REGTYPE, tarfile.AREGTYPE) else 0
    buf = info.tobuf(fmt, "utf-8", "surrogateescape")
    pad = (512 - len(data) % 512) % 512
    return buf + data + b"\0" * pad


def file_entry(name, data, **kw):
    ti = tarfile.TarInfo(name)
    ti.mode = 0o644
    for k, v in kw.items():
        setattr(ti, k, v)
    return tar_entry(ti, data)


def block_entries(block, ulid=None, meta_first=False, inject_before_meta=b""):
    """Entries of a block in backup order (meta.json last unless meta_first)."""
    ulid = ulid or os.path.basename(block)
    files = files_of(block)
    order = sorted(f for f in files if f.startswith("chunks/")) + \
        [f for f in ("index", "tombstones", "no-compact-mark.json") if f in files]
    meta = file_entry(ulid + "/meta.json", files["meta.json"])
    body = b"".join(file_entry(ulid + "/" + f, files[f]) for f in order)
    if meta_first:
        return meta + body + inject_before_meta
    return body + inject_before_meta + meta


def end_of_archive():
    return b"\0" * 1024


class BackupRestoreTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if ZSTD is None:
            raise unittest.SkipTest("zstd CLI not installed (scripts/install-deps installs it)")

    def setUp(self):
        self.tmp = h.mkdtemp()

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def path(self, *parts):
        p = os.path.join(self.tmp, *parts)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        return p

    def assert_blocks_equal(self, src_blocks, into):
        for b in src_blocks:
            got = os.path.join(into, os.path.basename(b))
            self.assertTrue(os.path.isdir(got), "block %s not restored" % b)
            self.assertEqual(files_of(got), files_of(b), "block %s differs" % b)

    def assert_only_blocks(self, into, ulids):
        entries = set(os.listdir(into)) - {".promblock.lock"}
        self.assertEqual(entries, set(ulids))

    # ------------------------------------------------------------ round trips

    def test_roundtrip_byte_identical(self):
        for src in (BASIC, REPLICA_A):
            with self.subTest(src=src):
                blocks = h.block_dirs(src)
                self.assertTrue(blocks)
                archive = backup(self, src)
                into = self.path("into-" + os.path.basename(src))
                rc, _, err = restore(into, archive)
                self.assertEqual(rc, 0, err)
                self.assert_blocks_equal(blocks, into)
                self.assert_only_blocks(into, [os.path.basename(b) for b in blocks])
                self.assertIn("restored %d blocks" % len(blocks), err)

    def test_compression_level(self):
        blocks = h.block_dirs(REPLICA_A)
        sizes = {}
        for level in ("1", "19"):
            archive = backup(self, "--level", level, REPLICA_A)
            sizes[level] = len(archive)
            into = self.path("into-level-" + level)
            rc, _, err = restore(into, archive)
            self.assertEqual(rc, 0, err)
            self.assert_blocks_equal(blocks, into)
        self.assertLess(sizes["19"], sizes["1"], sizes)
        for bad in ("0", "20", "x"):
            rc, out, err = run_bin(["backup", "--level", bad, REPLICA_A])
            self.assertEqual(rc, 2, err)
            self.assertEqual(out, b"")

    def test_archive_layout(self):
        archive = backup(self, REPLICA_A)
        blocks = h.block_dirs(REPLICA_A)
        ms = members(archive)  # Python's tarfile reads it
        by_block = {}
        for name, typ, size in ms:
            by_block.setdefault(name.split("/")[0], []).append((name, typ, size))
        self.assertEqual(list(by_block), sorted(os.path.basename(b) for b in blocks))
        for b in blocks:
            ulid = os.path.basename(b)
            entries = by_block[ulid]
            self.assertEqual(entries[0][:2], (ulid, tarfile.DIRTYPE))
            self.assertEqual(entries[1][:2], (ulid + "/chunks", tarfile.DIRTYPE))
            self.assertEqual(entries[-1][0], ulid + "/meta.json", "meta.json must come last")
            files = {n[len(ulid) + 1:]: s for n, t, s in entries if t == tarfile.REGTYPE}
            self.assertEqual(files, {k: len(v) for k, v in files_of(b).items()})
        # One zstd frame per block, then the end marker's.
        self.assertEqual(len(zstd_frame_ends(archive)), len(blocks) + 1)
        # tar(1) lists it too.
        if shutil.which("tar"):
            p = subprocess.run(["tar", "-t"], input=zstd_decompress(archive), capture_output=True)
            self.assertEqual(p.returncode, 0, p.stderr)

    def test_restore_from_file_and_dash(self):
        archive = backup(self, BASIC)
        f = self.path("b.tar.zst")
        with open(f, "wb") as fh:
            fh.write(archive)
        into = self.path("into1")
        rc, _, err = run_bin(["restore", "--into", into, f])
        self.assertEqual(rc, 0, err)
        self.assert_blocks_equal(h.block_dirs(BASIC), into)
        into2 = self.path("into2")
        rc, _, err = restore(into2, archive, "-")
        self.assertEqual(rc, 0, err)
        self.assert_blocks_equal(h.block_dirs(BASIC), into2)

    def test_restore_twice_skips(self):
        archive = backup(self, BASIC)
        into = self.path("into")
        rc, _, err = restore(into, archive)
        self.assertEqual(rc, 0, err)
        def snapshot():  # the lock file holds the pid of the last locker
            snap = h.snapshot_tree(into)
            snap.pop(".promblock.lock", None)
            return snap

        before = snapshot()
        rc, _, err = restore(into, archive)
        self.assertEqual(rc, 0, err)
        self.assertIn("already present", err)
        self.assertIn("restored 0 blocks", err)
        self.assertIn("3 skipped", err)
        self.assertEqual(snapshot(), before)

    def test_foreign_order_meta_first(self):
        # Another tool's archive with meta.json first in each block: the block
        # is complete when the next one begins or the archive ends.
        blocks = h.block_dirs(BASIC)
        tar = b"".join(block_entries(b, meta_first=True) for b in blocks) + end_of_archive()
        into = self.path("into")
        rc, _, err = restore(into, zstd_compress(tar))
        self.assertEqual(rc, 0, err)
        self.assert_blocks_equal(blocks, into)

    # ------------------------------------------------------------ selection

    def make_source(self):
        """A copy of basic with a deletion-marked block, a no-compact-marked
        block, a tmp dir, a partial block and a wal/ dir."""
        src = self.path("src")
        os.makedirs(src)
        blocks = [h.copy_block(b, src) for b in h.block_dirs(BASIC)]
        with open(os.path.join(blocks[0], "deletion-mark.json"), "w") as f:
            f.write('{"id":"%s","version":1,"deletion_time":1700000000}' %
                    os.path.basename(blocks[0]))
        with open(os.path.join(blocks[1], "no-compact-mark.json"), "w") as f:
            f.write('{"id":"%s","version":1,"no_compact_time":1700000000,"reason":"manual"}' %
                    os.path.basename(blocks[1]))
        tmp_ulid = "01ARZ3NDEKTSV4RRFFQ69G5FAV"
        shutil.copytree(blocks[2], os.path.join(src, tmp_ulid + ".tmp-for-creation"))
        partial = os.path.join(src, "01ARZ3NDEKTSV4RRFFQ69G5FAW")
        os.makedirs(os.path.join(partial, "chunks"))
        shutil.copy(os.path.join(blocks[2], "index"), partial)
        os.makedirs(os.path.join(src, "wal"))
        with open(os.path.join(src, "wal", "00000000"), "wb") as f:
            f.write(b"x" * 100)
        return src, blocks

    def test_marked_and_tmp_not_backed_up(self):
        src, blocks = self.make_source()
        archive = backup(self, src)
        ulids = {n.split("/")[0] for n, _, _ in members(archive)}
        self.assertEqual(ulids, {os.path.basename(b) for b in blocks[1:]})
        names = {n for n, _, _ in members(archive)}
        self.assertIn(os.path.basename(blocks[1]) + "/no-compact-mark.json", names)
        into = self.path("into")
        rc, _, err = restore(into, archive)
        self.assertEqual(rc, 0, err)
        self.assert_blocks_equal(blocks[1:], into)
        self.assert_only_blocks(into, [os.path.basename(b) for b in blocks[1:]])

    def backed_up_ulids(self, *args):
        return sorted({n.split("/")[0] for n, _, _ in members(backup(self, *args))})

    def test_since_ulid(self):
        ulids = sorted(os.path.basename(b) for b in h.block_dirs(REPLICA_A))
        self.assertEqual(self.backed_up_ulids("--since", ulids[1], REPLICA_A), ulids[2:])
        self.assertEqual(self.backed_up_ulids("--since", ulids[-1], REPLICA_A), [])
        self.assertEqual(self.backed_up_ulids("--since", "00000000000000000000000000", REPLICA_A),
                         ulids)

    def test_since_time(self):
        blocks = h.block_dirs(BASIC)
        metas = sorted((h.read_meta(b)["maxTime"], os.path.basename(b)) for b in blocks)
        # Just before the second block's maxTime: it and the later ones.
        t = metas[1][0] - 1
        want = sorted(u for mt, u in metas if mt > t)
        self.assertEqual(len(want), len(blocks) - 1)
        self.assertEqual(self.backed_up_ulids("--since", "%dms" % t, BASIC), want)
        self.assertEqual(self.backed_up_ulids("--since", str(t // 1000), BASIC),
                         sorted(u for mt, u in metas if mt > (t // 1000) * 1000))
        self.assertEqual(self.backed_up_ulids("--since", "%dms" % metas[-1][0], BASIC), [])
        rc, out, err = run_bin(["backup", "--since", "yesterday-ish", BASIC])
        self.assertEqual(rc, 2, err)
        self.assertEqual(out, b"")

    def test_min_compaction_level(self):
        src = self.path("src")
        os.makedirs(src)
        blocks = [h.copy_block(b, src) for b in h.block_dirs(BASIC)]
        meta_path = os.path.join(blocks[1], "meta.json")
        with open(meta_path) as f:
            text = f.read()
        with open(meta_path, "w") as f:
            f.write(text.replace('"level": 1', '"level": 2'))
        self.assertEqual(self.backed_up_ulids("--min-compaction-level", "2", src),
                         [os.path.basename(blocks[1])])
        self.assertEqual(len(self.backed_up_ulids("--min-compaction-level", "1", src)), 3)
        rc, _, err = run_bin(["backup", "--min-compaction-level", "0", src])
        self.assertEqual(rc, 2, err)

    def test_empty_selection(self):
        archive = backup(self, "--since", "7ZZZZZZZZZZZZZZZZZZZZZZZZZ", BASIC)
        self.assertEqual(members(archive), [])
        into = self.path("into")
        rc, _, err = restore(into, archive)
        self.assertEqual(rc, 0, err)
        self.assert_only_blocks(into, [])

    # ------------------------------------------------------------ refusals

    def test_refuses_terminal(self):
        master, slave = pty.openpty()
        try:
            p = subprocess.run([h.BIN, "backup", BASIC], stdout=slave, stderr=subprocess.PIPE,
                               stdin=subprocess.DEVNULL, timeout=60)
        finally:
            os.close(slave)
            os.close(master)
        self.assertEqual(p.returncode, 2)
        self.assertIn(b"terminal", p.stderr)

    def test_locked(self):
        into = self.path("into")
        os.makedirs(into)
        with open(os.path.join(into, ".promblock.lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            rc, _, err = restore(into, backup(self, BASIC))
        self.assertEqual(rc, 75, err)
        self.assert_only_blocks(into, [])

    def crafted(self, name, bad_entries, expect_in_err):
        """Restores good block, bad block (with bad_entries among its entries
        before its meta.json), good block; checks the bad one is refused and
        the good ones installed, exit 1. Returns (into, err)."""
        g1, b, g2 = h.block_dirs(BASIC)
        tar = block_entries(g1) + block_entries(b, inject_before_meta=bad_entries) + \
            block_entries(g2) + end_of_archive()
        into = self.path(name, "a", "b", "into")
        cwd = self.path(name, "cwd", "x", "y")
        os.makedirs(cwd)
        p = subprocess.run([h.BIN, "restore", "--into", into], input=zstd_compress(tar),
                           capture_output=True, timeout=120, cwd=cwd)
        err = p.stderr.decode("utf-8", "replace")
        self.assertEqual(p.returncode, 1, err)
        self.assertIn(expect_in_err, err)
        self.assertIn("refused", err)
        self.assert_blocks_equal([g1, g2], into)
        self.assert_only_blocks(into, [os.path.basename(g1), os.path.basename(g2)])
        # Only what restore may write: DIR's blocks and the lock file; the
        # cwd and the dirs around DIR stay empty.
        self.assertEqual(os.listdir(cwd), [])
        self.assertEqual(os.listdir(self.path(name, "cwd")), ["x"])
        self.assertEqual(os.listdir(self.path(name, "cwd", "x")), ["y"])
        self.assertEqual(sorted(os.listdir(self.path(name))), ["a", "cwd"])
        self.assertEqual(os.listdir(self.path(name, "a")), ["b"])
        self.assertEqual(os.listdir(self.path(name, "a", "b")), ["into"])
        return into, err

    def test_crafted_dotdot(self):
        self.crafted("dotdot", file_entry("../../etc/x", b"pwned"), '"../../etc/x"')
        self.assertFalse(os.path.exists(self.path("dotdot", "etc", "x")))
        self.assertFalse(os.path.exists(self.path("dotdot", "a", "etc", "x")))
        # Also one that starts inside the block.
        b = os.path.basename(h.block_dirs(BASIC)[1])
        self.crafted("dotdot2", file_entry(b + "/../../../x", b"pwned"), "..")
        self.assertFalse(os.path.exists(self.path("dotdot2", "a", "x")))

    def test_crafted_absolute(self):
        target = "/tmp/promblock-e2e-abs-%s" % uuid.uuid4().hex
        self.crafted("abs", file_entry(target, b"pwned"), "absolute path")
        self.assertFalse(os.path.exists(target))

    def test_crafted_symlink(self):
        # A symlink standing for chunks/, then a file through it.
        outside = self.path("outside", "dir")
        os.makedirs(outside)
        b = os.path.basename(h.block_dirs(BASIC)[1])
        ti = tarfile.TarInfo(b + "/chunks")
        ti.type = tarfile.SYMTYPE
        ti.linkname = outside
        entries = tar_entry(ti) + file_entry(b + "/chunks/000002", b"pwned")
        self.crafted("symlink", entries, "symbolic link")
        self.assertEqual(os.listdir(outside), [])
        # And a plain symlink entry named like a block file.
        ti = tarfile.TarInfo(b + "/tombstones")
        ti.type = tarfile.SYMTYPE
        ti.linkname = "/etc/passwd"
        self.crafted("symlink2", tar_entry(ti), "symbolic link")

    def test_crafted_hardlink(self):
        victim = self.path("outside", "victim")
        with open(victim, "wb") as f:
            f.write(b"secret")
        b = os.path.basename(h.block_dirs(BASIC)[1])
        ti = tarfile.TarInfo(b + "/deletion-mark.json")
        ti.type = tarfile.LNKTYPE
        ti.linkname = victim
        self.crafted("hardlink", tar_entry(ti), "hard link")
        self.assertEqual(os.stat(victim).st_nlink, 1)
        with open(victim, "rb") as f:
            self.assertEqual(f.read(), b"secret")

    def test_crafted_device_and_fifo(self):
        b = os.path.basename(h.block_dirs(BASIC)[1])
        ti = tarfile.TarInfo(b + "/chunks/000002")
        ti.type = tarfile.CHRTYPE
        ti.devmajor, ti.devminor = 1, 3
        self.crafted("device", tar_entry(ti), "device node")
        ti = tarfile.TarInfo(b + "/no-compact-mark.json")
        ti.type = tarfile.FIFOTYPE
        self.crafted("fifo", tar_entry(ti), "FIFO")

    def test_crafted_unknown_name(self):
        b = os.path.basename(h.block_dirs(BASIC)[1])
        self.crafted("unknown", file_entry(b + "/evil.sh", b"#!/bin/sh\n"), "not a block file")
        self.crafted("unknown2", file_entry("README", b"hi"), "not inside a block directory")

    def test_crafted_long_name_tricks(self):
        b = os.path.basename(h.block_dirs(BASIC)[1])
        # pax: the ustar name looks fine, the pax path points elsewhere.
        ti = tarfile.TarInfo(b + "/tombstones")
        ti.pax_headers = {"path": "../../etc/pax-x"}
        self.crafted("pax", tar_entry(ti, b"pwned"), '"../../etc/pax-x"')
        self.assertFalse(os.path.exists(self.path("pax", "a", "etc", "pax-x")))
        # GNU long name (over 100 chars, so tarfile writes an 'L' entry).
        evil = "../" * 40 + "etc/gnu-x"
        ti = tarfile.TarInfo(evil)
        self.crafted("gnu", tar_entry(ti, b"pwned", fmt=tarfile.GNU_FORMAT), "..")
        self.assertFalse(os.path.exists("/etc/gnu-x"))

    # ------------------------------------------------------------ damage

    def check_cut(self, src, archive, cut):
        blocks = sorted(os.path.basename(b) for b in h.block_dirs(src))
        ends = zstd_frame_ends(archive)
        self.assertEqual(len(ends), len(blocks) + 1)
        want = [u for u, e in zip(blocks, ends) if e <= cut]
        into = self.path("cut-%s-%d" % (os.path.basename(src), cut))
        rc, _, err = restore(into, archive[:cut])
        self.assertEqual(rc, 1, err)
        self.assert_only_blocks(into, want)
        self.assert_blocks_equal([os.path.join(src, u) for u in want], into)
        return want, err

    def test_cut_in_half(self):
        for src in (REPLICA_A, BASIC):
            with self.subTest(src=src):
                archive = backup(self, src)
                want, err = self.check_cut(src, archive, len(archive) // 2)
                n = len(h.block_dirs(src))
                self.assertTrue(0 < len(want) < n, "cut should fall inside the archive: %s" % want)
                self.assertIn("truncated", err)

    def test_cut_at_frame_boundaries(self):
        archive = backup(self, REPLICA_A)
        ends = zstd_frame_ends(archive)
        for cut in [0, 1] + ends[:-1] + [e + 5 for e in ends[:-1]] + [len(archive) - 1]:
            with self.subTest(cut=cut):
                self.check_cut(REPLICA_A, archive, cut)

    def test_corrupt_byte(self):
        archive = bytearray(backup(self, REPLICA_A))
        ends = zstd_frame_ends(bytes(archive))
        blocks = sorted(os.path.basename(b) for b in h.block_dirs(REPLICA_A))
        # Flip a byte in the middle of the third block's frame.
        pos = (ends[1] + ends[2]) // 2
        archive[pos] ^= 0x55
        into = self.path("into")
        rc, _, err = restore(into, bytes(archive))
        self.assertEqual(rc, 1, err)
        self.assert_only_blocks(into, blocks[:2])
        self.assert_blocks_equal([os.path.join(REPLICA_A, u) for u in blocks[:2]], into)

    def test_not_zstd(self):
        into = self.path("into")
        rc, _, err = restore(into, b"plain text, not an archive\n" * 10)
        self.assertEqual(rc, 1, err)
        self.assert_only_blocks(into, [])

    def test_block_failing_verification_refused(self):
        g1, b, g2 = h.block_dirs(BASIC)
        files = files_of(b)
        # Every byte of a segment after its header is chunk length, encoding,
        # data or CRC: a flip anywhere there fails a chunk's CRC check.
        seg = bytearray(files["chunks/000001"])
        seg[len(seg) // 2] ^= 0xFF
        files["chunks/000001"] = bytes(seg)
        ulid = os.path.basename(b)
        bad = b"".join(file_entry(ulid + "/" + f, files[f])
                       for f in ("chunks/000001", "index", "tombstones", "meta.json"))
        tar = block_entries(g1) + bad + block_entries(g2) + end_of_archive()
        into = self.path("into")
        rc, _, err = restore(into, zstd_compress(tar))
        self.assertEqual(rc, 1, err)
        self.assertIn("failed verification", err)
        self.assert_only_blocks(into, [os.path.basename(g1), os.path.basename(g2)])

    # ------------------------------------------------------------ memory

    def test_memory_flat_for_1gib_block(self):
        src = self.path("big")
        block = h.copy_block(h.block_dirs(BASIC)[0], src)
        seg = os.path.join(block, "chunks", "000001")
        with open(seg, "rb") as f:
            header = f.read(8)  # magic, version, padding
        size = 1 << 30
        with open(seg, "wb") as f:  # sparse: 1 GiB that takes no disk
            f.write(header)
            f.truncate(size)
        out_path = self.path("big.tar.zst")
        with open(out_path, "wb") as out:
            p = subprocess.Popen([h.BIN, "backup", src], stdout=out, stderr=subprocess.PIPE,
                                 stdin=subprocess.DEVNULL)
            with p.stderr:
                err = p.stderr.read().decode()
            _, status, usage = os.wait4(p.pid, 0)
            p.returncode = os.waitstatus_to_exitcode(status)
        self.assertEqual(p.returncode, 0, err)
        sys.stderr.write("\nbackup of a 1 GiB block: peak RSS %d KiB, archive %d bytes\n"
                         % (usage.ru_maxrss, os.path.getsize(out_path)))
        self.assertLess(usage.ru_maxrss, MAX_RSS_KB)
        # The archive holds the whole segment.
        with open(out_path, "rb") as f:
            dz = subprocess.Popen([ZSTD, "-q", "-d", "-c"], stdin=f, stdout=subprocess.PIPE)
            with dz.stdout, tarfile.open(fileobj=dz.stdout, mode="r|") as t:
                sizes = {m.name: m.size for m in t}
            self.assertEqual(dz.wait(), 0)
        self.assertEqual(sizes[os.path.basename(block) + "/chunks/000001"], size)


if __name__ == "__main__":
    unittest.main(verbosity=2)

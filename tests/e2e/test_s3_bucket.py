#!/usr/bin/env python3
"""The S3 bucket (tsdb/objstore/s3_bucket.h) against a real S3-compatible
server: s3rver (@20minutes/s3rver, pinned in tests/s3/package.json and
installed by scripts/install-deps), which checks AWS Signature V4 and
implements multipart uploads. Operations run through the helper
tests/s3_bucket_tool, configured with a Thanos objstore YAML file.

Faults come from a small TCP proxy in this file placed between the tool and
s3rver: it answers the first N connections with 503 SlowDown, cuts them,
never answers, or cuts the answer short, then forwards bytes unchanged.

Virtual-hosted-style URLs (bucket_lookup_type) go through a proxy that
checks their signatures as AWS does and passes them on path-style: s3rver's
own V4 check puts the bucket into the canonical URI of such requests,
unlike AWS, and so refuses correctly signed ones.

Everything listens on 127.0.0.1 only.
"""

import os
import re
import socket
import subprocess
import sys
import threading
import time
import unittest

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
from s3_server import BUCKET, ConditionalProxy, FaultProxy, S3Client, S3rver, \
    VirtualHostProxy, self_signed_cert, tool_env  # noqa: E402,F401

TOOL = os.path.join(h.BUILD, "tests", "s3_bucket_tool")
MiB = 1 << 20


class S3BucketTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not os.path.isfile(TOOL):
            raise AssertionError("%s not built (set PROMBLOCK_BUILD)" % TOOL)
        cls.server = S3rver().__enter__()
        cls.tmp = h.mkdtemp("promblock-s3-e2e-")

    @classmethod
    def tearDownClass(cls):
        cls.server.__exit__(None, None, None)

    def config(self, port=None, secret="S3RVER", prefix=None, extra=""):
        """A Thanos objstore config file for s3rver (or whatever listens on `port`)."""
        text = ("type: S3\n" + ("prefix: %s\n" % prefix if prefix else "") +
                "config:\n  bucket: %s\n  endpoint: 127.0.0.1:%d\n  insecure: true\n"
                "  access_key: S3RVER\n  secret_key: %s\n  part_size: %d\n%s"
                % (BUCKET, port or self.server.port, secret, 5 * MiB, extra))
        path = os.path.join(self.tmp, "objstore-%d.yml" % abs(hash(text)))
        with open(path, "w") as f:
            f.write(text)
        return path

    def tool(self, *args, config=None, input=None, options=(), timeout=60):
        cmd = [TOOL] + list(options) + [config or self.config()] + [str(a) for a in args]
        proc = subprocess.run(cmd, input=input.encode() if isinstance(input, str) else input,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout,
                              env=tool_env())
        return proc.returncode, proc.stdout, proc.stderr.decode(errors="replace")

    def ok(self, *args, **kw):
        rc, out, err = self.tool(*args, **kw)
        self.assertEqual(rc, 0, "s3_bucket_tool %s: %s" % (" ".join(map(str, args)), err))
        return out

    def assert_one_line_error(self, rc, err, *parts):
        self.assertEqual(rc, 1, err)
        self.assertEqual(err.count("\n"), 1, "not one line: %r" % err)
        for p in parts:
            self.assertIn(p, err)

    def list_names(self, prefix, **kw):
        out = self.ok("list", prefix, **kw).decode()
        return [line.rsplit(" ", 1) for line in out.splitlines()]

    # ------------------------------------------------------------ operations

    def test_put_get_list_remove(self):
        name = "basic/a b+c/ü=1.txt"  # needs URI encoding in path and query
        self.ok("put", name, input="hello s3")
        self.assertEqual(self.ok("get", name), b"hello s3")
        self.assertEqual(self.list_names("basic/"), [[name, "8"]])
        self.assertEqual(self.list_names("basic/a b+c/ü"), [[name, "8"]])
        self.assertEqual(self.tool("get", "basic/missing")[0], 3)
        self.ok("remove", name)
        self.assertEqual(self.tool("get", name)[0], 3)
        self.ok("remove", name)  # absent: not an error
        self.assertEqual(self.list_names("basic/"), [])

    def test_list_pages_and_dirs(self):
        self.ok("put-many", "many/", 1050)
        # 1050 objects: two pages at the server's 1000, eleven at max-keys 100.
        for opts in ((), ("--max-keys", "100")):
            got = self.list_names("many/", options=opts)
            self.assertEqual(len(got), 1050)
            self.assertEqual(got[0], ["many/00000", "1"])
            self.assertEqual(got[-1], ["many/01049", "4"])
        for n in ("dirs/01A/meta.json", "dirs/01A/chunks/000001", "dirs/01B/index", "dirs/top"):
            self.ok("put", n, input="x")
        for opts in ((), ("--max-keys", "1")):
            out = self.ok("list-dirs", "dirs/", options=opts).decode()
            self.assertEqual(out.splitlines(), ["dirs/01A/", "dirs/01B/"])
        top = self.ok("list-dirs", "").decode().splitlines()
        self.assertIn("dirs/", top)
        self.assertIn("many/", top)
        self.assertEqual(top, sorted(top))

    def test_multipart_upload_and_download(self):
        src = os.path.join(self.tmp, "big")
        data = os.urandom(23 * MiB + 12345)  # five 5 MiB parts and a short last one
        with open(src, "wb") as f:
            f.write(data)
        self.ok("upload", "mp/big", src)
        self.assertEqual(self.list_names("mp/"), [["mp/big", str(len(data))]])
        log = self.server.log()
        self.assertIn("mp/big?uploads", log)
        self.assertRegex(log, r"mp/big\?partNumber=5&uploadId=\S+ 200")
        self.assertNotIn("partNumber=6", log)
        with open(os.path.join(self.server.dir, "data", BUCKET, "mp",
                               "big._S3rver_metadata.json")) as f:
            self.assertIn("octet-stream", f.read())
        dst = os.path.join(self.tmp, "big.out")
        self.ok("download", "mp/big", dst, len(data))
        with open(dst, "rb") as f:
            self.assertTrue(f.read() == data, "downloaded bytes differ")
        # Parts are read from the file as they are sent: four 32 MiB parts in
        # flight cost no 128 MiB of buffers.
        huge = os.path.join(self.tmp, "huge")
        with open(huge, "wb") as f:
            for _ in range(4):
                f.write(os.urandom(32 * MiB))
        with open(self.config()) as f:
            text = f.read().replace("part_size: %d" % (5 * MiB), "part_size: %d" % (32 * MiB))
        cfg = os.path.join(self.tmp, "objstore-32m.yml")
        with open(cfg, "w") as f:
            f.write(text)
        proc = subprocess.run(["/usr/bin/time", "-f", "maxrss_kb=%M", TOOL, cfg, "upload",
                               "mp/huge", huge], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              timeout=120, env=tool_env())
        err = proc.stderr.decode(errors="replace")
        self.assertEqual(proc.returncode, 0, err)
        self.assertEqual(self.list_names("mp/huge"), [["mp/huge", str(128 * MiB)]])
        self.assertRegex(self.server.log(), r"mp/huge\?partNumber=4&uploadId=\S+ 200")
        rss_kb = int(re.search(r"maxrss_kb=(\d+)", err).group(1))
        self.assertLess(rss_kb, 64 * 1024, "peak RSS of a 4 x 32 MiB multipart upload")
        # A file of at most one part goes in one PUT.
        small = os.path.join(self.tmp, "small")
        with open(small, "wb") as f:
            f.write(data[:5 * MiB])
        self.ok("upload", "mp/small", small)
        self.ok("download", "mp/small", dst + "2", 5 * MiB)
        self.assertEqual(os.path.getsize(dst + "2"), 5 * MiB)

    def test_download_size_mismatch(self):
        self.ok("put", "dl/obj", input="12345")
        dst = os.path.join(self.tmp, "dl-mismatch")
        rc, _, err = self.tool("download", "dl/obj", dst, 6)
        self.assert_one_line_error(rc, err, "s3://%s/dl/obj" % BUCKET, "expected 6")
        self.assertFalse(os.path.exists(dst))
        self.assertEqual([n for n in os.listdir(self.tmp) if "dl-mismatch" in n], [])
        rc, _, err = self.tool("download", "dl/absent", dst)
        self.assert_one_line_error(rc, err, "s3://%s/dl/absent: GET: HTTP 404 NoSuchKey" % BUCKET)

    def test_wrong_secret_key(self):
        rc, _, err = self.tool("put", "auth/x", input="x", config=self.config(secret="wrong"))
        self.assert_one_line_error(rc, err, "s3://%s/auth/x: PUT: HTTP 403 SignatureDoesNotMatch: "
                                   % BUCKET)
        self.assertEqual(self.tool("get", "auth/x")[0], 3)

    def test_create_if_absent_not_supported_by_s3rver(self):
        # s3rver ignores If-None-Match: the probe finds out and nothing is written.
        self.assertEqual(self.ok("create", "cia/lock", input="mine"), b"not-supported\n")
        self.assertEqual(self.tool("get", "cia/lock")[0], 3)
        self.assertEqual(self.list_names("cia/"), [])  # the probe is gone too

    def test_create_if_absent_where_the_server_honours_it(self):
        # s3rver behind a proxy that gives it AWS's If-None-Match.
        proxy = ConditionalProxy(self.server.port)
        try:
            cfg = self.config(port=proxy.port)
            self.assertEqual(self.ok("create", "locks/a", input="mine", config=cfg), b"created\n")
            self.assertEqual(self.ok("create", "locks/a", input="theirs", config=cfg),
                             b"exists\n")
            self.assertEqual(self.ok("get", "locks/a", config=cfg), b"mine")
            self.assertGreaterEqual(proxy.conditional_puts, 2)
            # Only the object is left: the probe was removed.
            self.assertEqual(self.list_names("locks/"), [["locks/a", "4"]])
        finally:
            proxy.close()

    def test_lost_answer_to_a_completed_multipart_upload(self):
        """CompleteMultipartUpload succeeds but its answer is lost: the
        retries find the upload gone, and the object, at its size, is taken
        for the upload's."""
        proxy = ConditionalProxy(
            self.server.port,
            lose_answer=lambda method, path: method == "POST" and "uploadId=" in path)
        self.addCleanup(proxy.close)
        src = os.path.join(self.tmp, "lost-answer")
        with open(src, "wb") as f:
            f.write(os.urandom(12 * MiB))  # three 5 MiB parts
        self.ok("upload", "lost/big", src, config=self.config(port=proxy.port))
        self.assertEqual(len(proxy.lost), 1, proxy.lost)
        self.assertEqual(proxy.lost[0][2], 200, "s3rver completed it")
        self.assertEqual(self.list_names("lost/"), [["lost/big", str(12 * MiB)]])
        # The retries found the upload gone (s3rver answers 500, AWS 404).
        self.assertRegex(self.server.log(), r"lost/big\?uploadId=\S+ 500")

    def test_https_with_a_private_ca(self):
        """HTTPS through a TLS-terminating proxy whose certificate only the
        configured CA bundle (tls_config.ca_file) vouches for."""
        cert, key = self_signed_cert(self.tmp)
        proxy = ConditionalProxy(self.server.port, tls=(cert, key))
        self.addCleanup(proxy.close)

        def config(tls):
            path = os.path.join(self.tmp, "objstore-tls-%d.yml" % abs(hash(tls)))
            with open(path, "w") as f:
                f.write("type: S3\nconfig:\n  bucket: %s\n  endpoint: 127.0.0.1:%d\n"
                        "  access_key: S3RVER\n  secret_key: S3RVER\n"
                        "  http_config:\n    tls_config:\n%s" % (BUCKET, proxy.port, tls))
            return path

        trusted = config("      ca_file: %s\n" % cert)
        self.ok("put", "tls/a", input="over https", config=trusted)
        self.assertEqual(self.ok("get", "tls/a", config=trusted), b"over https")
        self.assertEqual(self.list_names("tls/"), [["tls/a", "10"]])  # s3rver has it
        # Without the CA the certificate is refused: one line, the object named.
        rc, _, err = self.tool("get", "tls/a", config=config("      {}\n"))
        self.assert_one_line_error(rc, err, "tls/a", "certificate")
        skip = config("      insecure_skip_verify: true\n")
        self.assertEqual(self.ok("get", "tls/a", config=skip), b"over https")

    def test_virtual_hosted_urls(self):
        # The bucket moves into the host name, promblock.s3.localhost, which
        # curl resolves to the loopback address without asking any DNS.
        proxy = VirtualHostProxy(self.server.port)
        self.addCleanup(proxy.close)

        def config(lookup, secret="S3RVER"):
            text = ("type: S3\nconfig:\n  bucket: %s\n  endpoint: s3.localhost:%d\n"
                    "  insecure: true\n  access_key: S3RVER\n  secret_key: %s\n"
                    "  part_size: %d\n  bucket_lookup_type: %s\n"
                    % (BUCKET, proxy.port, secret, 5 * MiB, lookup))
            path = os.path.join(self.tmp, "objstore-vhost-%s-%s.yml" % (lookup, secret))
            with open(path, "w") as f:
                f.write(text)
            return path

        cfg = config("virtual-hosted")
        name = "vhost/a b+c/ü=1.txt"  # needs URI encoding in path and query
        self.ok("put", name, input="hello vhost", config=cfg)
        self.assertEqual(self.ok("get", name, config=cfg), b"hello vhost")
        self.assertEqual(self.list_names("vhost/", config=cfg), [[name, "11"]])
        big = os.path.join(self.tmp, "vhost-big")
        data = os.urandom(11 * MiB + 7)  # three parts
        with open(big, "wb") as f:
            f.write(data)
        self.ok("upload", "vhost/big", big, config=cfg)
        dst = big + ".out"
        self.ok("download", "vhost/big", dst, len(data), config=cfg)
        with open(dst, "rb") as f:
            self.assertTrue(f.read() == data, "downloaded bytes differ")
        self.ok("remove", name, config=cfg)
        # What the proxy passed on reached s3rver.
        self.assertEqual(S3Client(self.server.port).list("vhost/"), {"vhost/big": len(data)})
        self.assertEqual(proxy.rejected, [])
        host = "%s.s3.localhost:%d" % (BUCKET, proxy.port)
        self.assertEqual({h for _, h, _ in proxy.requests}, {host})
        methods = {m for m, _, _ in proxy.requests}
        self.assertEqual(methods, {"GET", "PUT", "POST", "DELETE"})
        self.assertTrue(any("partNumber=3&uploadId=" in p for _, _, p in proxy.requests))
        # The proxy does check: a wrong key, or the path-style form it was not
        # given, is refused.
        rc, _, err = self.tool("get", "vhost/big", config=config("virtual-hosted", "WRONG"))
        self.assert_one_line_error(rc, err, "vhost/big", "SignatureDoesNotMatch")
        rc, _, err = self.tool("get", "vhost/big", config=config("path"))
        self.assert_one_line_error(rc, err, "vhost/big", "InvalidRequest")
        self.assertEqual([r[3] for r in proxy.rejected], ["signature mismatch", "host"])

    def test_prefix(self):
        cfg = self.config(prefix="tenant/a/")
        self.ok("put", "01A/meta.json", input="{}", config=cfg)
        self.assertEqual(self.list_names("", config=cfg), [["01A/meta.json", "2"]])
        self.assertEqual(self.ok("list-dirs", "", config=cfg), b"01A/\n")
        self.assertEqual(self.list_names("tenant/"), [["tenant/a/01A/meta.json", "2"]])
        self.ok("remove", "01A/meta.json", config=cfg)
        self.assertEqual(self.list_names("tenant/"), [])

    # ------------------------------------------------------------ faults

    def test_retries_503_slowdown(self):
        proxy = FaultProxy(self.server.port, "503", faults=3)
        try:
            cfg = self.config(port=proxy.port)
            self.ok("put", "faults/slow", input="survived", config=cfg,
                    options=("--retry-ms", "50"))
            self.assertEqual(proxy.faulted, 3)
            self.assertEqual(self.ok("get", "faults/slow"), b"survived")
        finally:
            proxy.close()

    def test_retries_cut_connections(self):
        proxy = FaultProxy(self.server.port, "cut", faults=2)
        try:
            self.ok("put", "faults/cut", input="x", config=self.config(port=proxy.port))
            self.assertEqual(self.ok("get", "faults/cut", config=self.config(port=proxy.port)),
                             b"x")
        finally:
            proxy.close()

    def test_download_cut_short_starts_again(self):
        src = os.path.join(self.tmp, "six")
        data = os.urandom(6 * MiB)
        with open(src, "wb") as f:
            f.write(data)
        self.ok("upload", "faults/six", src)
        proxy = FaultProxy(self.server.port, "short", faults=1)
        try:
            dst = os.path.join(self.tmp, "six.out")
            self.ok("download", "faults/six", dst, len(data), config=self.config(port=proxy.port),
                    options=("--retry-ms", "10"))
            self.assertEqual(proxy.faulted, 1)
            with open(dst, "rb") as f:
                self.assertTrue(f.read() == data, "downloaded bytes differ")
        finally:
            proxy.close()

    def test_gives_up_after_retries(self):
        proxy = FaultProxy(self.server.port, "503", faults=100)
        try:
            rc, _, err = self.tool("get", "faults/never", config=self.config(port=proxy.port),
                                   options=("--retry-ms", "20"))
            self.assert_one_line_error(rc, err, "s3://%s/faults/never: GET: HTTP 503 SlowDown: "
                                       "Please reduce your request rate. (after 5 tries)" % BUCKET)
        finally:
            proxy.close()

    def test_server_down(self):
        port = h.free_port()  # nothing listens there
        start = time.monotonic()
        rc, _, err = self.tool("put", "down/x", input="x", config=self.config(port=port))
        self.assert_one_line_error(rc, err, "s3://%s/down/x: PUT: connection refused "
                                   "(after 5 tries)" % BUCKET)
        self.assertGreater(time.monotonic() - start, 1.0)  # it did back off

    def test_stalled_server_times_out(self):
        proxy = FaultProxy(self.server.port, "stall", faults=100)
        try:
            cfg = self.config(port=proxy.port,
                              extra="  http_config:\n    response_header_timeout: 1s\n")
            start = time.monotonic()
            rc, _, err = self.tool("get", "faults/stall", config=cfg,
                                   options=("--tries", "2", "--retry-ms", "10"))
            self.assert_one_line_error(rc, err, "s3://%s/faults/stall: GET: timed out" % BUCKET,
                                       "(after 2 tries)")
            self.assertLess(time.monotonic() - start, 10)
        finally:
            proxy.close()


if __name__ == "__main__":
    h.main()

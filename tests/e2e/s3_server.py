"""A real S3 server for the tests, a fault-injecting proxy in front of it,
and a small independent S3 client.

S3rver runs @20minutes/s3rver (pinned in tests/s3/package.json, installed by
scripts/install-deps), which checks AWS Signature V4 and implements multipart
uploads, on 127.0.0.1. S3Client signs its requests itself (Signature V4,
written from AWS's description, not from promblock's C++), so that what the
tests put into a bucket and read back out does not go through the code
under test.

Everything listens on and talks to 127.0.0.1 only.
"""

import datetime
import hashlib
import hmac
import os
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

S3RVER_JS = os.path.join(h.REPO, "tests", "s3", "s3rver.js")
BUCKET = "promblock"
ACCESS_KEY = SECRET_KEY = "S3RVER"  # s3rver's account
MiB = 1 << 20


def tool_env():
    """The environment without proxies or AWS settings that could change the run."""
    return {k: v for k, v in os.environ.items()
            if not k.lower().endswith("_proxy") and not k.startswith("AWS_")}


def self_signed_cert(directory):
    """(certfile, keyfile) of a new self-signed certificate for 127.0.0.1,
    made with the openssl command; the certificate is its own CA."""
    cert, key = os.path.join(directory, "cert.pem"), os.path.join(directory, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-keyout", key, "-out", cert, "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return cert, key


class S3rver:
    """s3rver on 127.0.0.1 on a port it picks (-p 0), data in a temp dir."""

    def __enter__(self):
        if not os.path.isdir(os.path.join(h.REPO, "tests", "s3", "node_modules")):
            raise AssertionError("tests/s3/node_modules is missing: run scripts/install-deps "
                                 "(npm ci in tests/s3)")
        self.dir = h.mkdtemp("promblock-s3rver-")
        self.log_path = os.path.join(self.dir, "s3rver.log")
        self.log_file = open(self.log_path, "wb")
        # Not --silent: the log of requests shows which API calls were made.
        self.proc = subprocess.Popen(
            # s3rver encrypts its continuation tokens with DES, which Node's
            # OpenSSL 3 only has in its legacy provider.
            ["node", "--openssl-legacy-provider", S3RVER_JS, "-d", os.path.join(self.dir, "data"),
             "-a", "127.0.0.1", "-p", "0", "--configure-bucket", BUCKET],
            stdin=subprocess.DEVNULL, stdout=self.log_file, stderr=subprocess.STDOUT,
            start_new_session=True, preexec_fn=h._die_with_parent)
        h._LIVE_PROCS.append(self.proc)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and self.proc.poll() is None:
            m = re.search(r"listening on [0-9.]+:(\d+)", self.log())
            if m:
                self.port = int(m.group(1))
                return self
            time.sleep(0.05)
        h._kill_proc(self.proc)
        raise AssertionError("s3rver did not start:\n" + self.log())

    def log(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def __exit__(self, *exc):
        h._kill_proc(self.proc)
        self.log_file.close()
        return False


class FaultProxy:
    """Forwards TCP connections to `port`, except that the first `faults`
    connections get `mode`: "503" (an S3 SlowDown answer), "cut" (closed
    once the request head has arrived), "stall" (never answered), "short"
    (forwarded, but closed after 1 MiB of the answer) or "throttle"
    (forwarded, the request bodies at 256 KiB/s). It counts the uploads the
    server has answered and the connections it is still forwarding, so that
    a test can act on a whole upload and wait for the cut ones to end."""

    UPLOAD_BYTES = 4096  # a request this long carries a body: an upload

    def __init__(self, port, mode="503", faults=0):
        self.upstream, self.mode, self.faults = port, mode, faults
        self.faulted = 0
        self.uploads_answered = 0
        self.forwarding = 0
        self.lock = threading.Lock()
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self):
        # shutdown() wakes the thread blocked in accept(); close() alone
        # would leave the socket listening until the next connection.
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()

    def _accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        with self.lock:
            fault = self.faulted < self.faults
            self.faulted += fault
        if not fault or self.mode in ("short", "throttle"):
            return self._forward(conn, limit=MiB if fault and self.mode == "short" else None,
                                 rate=256 * 1024 if fault and self.mode == "throttle" else None)
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = conn.recv(65536)
            if not chunk:
                break
            head += chunk
        if self.mode == "503":
            body = (b"<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>SlowDown</Code>"
                    b"<Message>Please reduce your request rate.</Message></Error>")
            conn.sendall(b"HTTP/1.1 503 Slow Down\r\nContent-Type: application/xml\r\n"
                         b"Connection: close\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
        elif self.mode == "stall":
            time.sleep(30)
        conn.close()

    def wait_idle(self, timeout=30):
        """Waits until no connection is being forwarded (a cut upload has
        then reached the server as cut); false on timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if self.forwarding == 0:
                    return True
            time.sleep(0.02)
        return False

    def _forward(self, conn, limit=None, rate=None):
        up = socket.create_connection(("127.0.0.1", self.upstream))
        with self.lock:
            self.forwarding += 1
        asked = [0]  # request bytes since the server last answered

        def pipe(src, dst, limit=None, rate=None, answers=False):
            try:
                while limit is None or limit > 0:
                    data = src.recv(65536 if limit is None else min(65536, limit))
                    if not data:
                        break
                    if answers:
                        # HTTP/1.1 answers only once the whole request is in.
                        with self.lock:
                            self.uploads_answered += asked[0] >= self.UPLOAD_BYTES
                            asked[0] = 0
                    dst.sendall(data)
                    if not answers:
                        with self.lock:
                            asked[0] += len(data)
                    if rate:
                        time.sleep(len(data) / rate)
                    limit = None if limit is None else limit - len(data)
            except OSError:
                pass
            for s in (dst, src):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

        t = threading.Thread(target=pipe, args=(up, conn, limit), kwargs={"answers": True},
                             daemon=True)
        t.start()
        pipe(conn, up, rate=rate)  # uploads (client to server) are throttled
        t.join()
        conn.close()
        up.close()
        with self.lock:
            self.forwarding -= 1


def config_yaml(port, bucket=BUCKET, prefix=None, keys=True):
    """Thanos objstore configuration of the bucket on 127.0.0.1:port; without
    `keys` the credentials must come from the environment."""
    text = "type: S3\nconfig:\n  bucket: %s\n  endpoint: 127.0.0.1:%d\n  insecure: true\n" % (
        bucket, port)
    if keys:
        text += "  access_key: %s\n  secret_key: %s\n" % (ACCESS_KEY, SECRET_KEY)
    return text + ("prefix: %s\n" % prefix if prefix else "")


def read_body(handler):
    """The request body an http.server handler has yet to read."""
    if handler.headers.get("Transfer-Encoding", "").lower() == "chunked":
        body = b""
        while True:
            size = int(handler.rfile.readline().split(b";")[0], 16)
            body += handler.rfile.read(size)
            handler.rfile.readline()
            if size == 0:
                return body
    return handler.rfile.read(int(handler.headers.get("Content-Length", 0)))


def canonical_query_of(pairs):
    """AWS's canonical query string of decoded (name, value) pairs."""
    quote = lambda x: urllib.parse.quote(x, safe="-_.~")  # noqa: E731
    return "&".join("%s=%s" % (quote(k), quote(v)) for k, v in sorted(pairs))


def sigv4_signature(method, path, query_pairs, headers, payload_hash, amz_date, region):
    """The Signature V4 (hex) of an S3 request with SECRET_KEY: `path` and
    `query_pairs` decoded, `headers` the signed ones ({lowercase name:
    trimmed value}), amz_date its x-amz-date."""
    names = sorted(headers)
    canonical = "\n".join([method, urllib.parse.quote(path, safe="/-_.~"),
                           canonical_query_of(query_pairs)] +
                          ["%s:%s" % (k, headers[k]) for k in names] +
                          ["", ";".join(names), payload_hash])
    day = amz_date[:8]
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, "%s/%s/s3/aws4_request" % (day, region),
                         hashlib.sha256(canonical.encode()).hexdigest()])
    key = ("AWS4" + SECRET_KEY).encode()
    for part in (day, region, "s3", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()


def error_xml(code, message):
    return ("<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>%s</Code><Message>%s"
            "</Message></Error>" % (code, message)).encode()


class VirtualHostProxy:
    """Speaks S3 with virtual-hosted-style URLs (http://BUCKET.s3.localhost:PORT/KEY;
    curl resolves every *.localhost name to the loopback address itself) in
    front of s3rver, whose own Signature V4 check treats such requests
    unlike AWS does. Each request's signature is checked here, as AWS
    describes it: the host name with the bucket, the key alone as the
    canonical URI. A request that passes is sent on to s3rver path-style,
    signed anew by S3Client; one that does not gets 403
    SignatureDoesNotMatch (400 for a host name without the bucket).
    `requests` lists (method, host, path) of all, `rejected` the refused."""

    FORWARDED_HEADERS = ("Content-Type", "Range", "If-None-Match")

    def __init__(self, port, bucket=BUCKET, region="us-east-1"):
        import http.server
        self.host_suffix = ".s3.localhost"
        self.requests, self.rejected = [], []
        lock = threading.Lock()
        client = S3Client(port, bucket)
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def answer(self, status, headers, body):
                self.send_response(status)
                for k, v in headers:
                    if k.lower() not in ConditionalProxy.HOP_BY_HOP:
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def signature_problem(self, path, query):
                """Why the request's Signature V4 is not AWS's, or None."""
                m = re.fullmatch(r"AWS4-HMAC-SHA256 Credential=([^/]+)/(\d{8})/([^/]+)/s3/"
                                 r"aws4_request, ?SignedHeaders=([a-z0-9;-]+), ?"
                                 r"Signature=([0-9a-f]{64})", self.headers.get("Authorization", ""))
                if not m:
                    return "no Signature V4 Authorization header"
                access_key, day, req_region, signed, signature = m.groups()
                if access_key != ACCESS_KEY or req_region != region:
                    return "credential scope %s/%s" % (access_key, req_region)
                names = signed.split(";")
                if "host" not in names or names != sorted(names):
                    return "signed headers %s" % signed
                amz_date = self.headers.get("x-amz-date", "")
                if not amz_date.startswith(day):
                    return "x-amz-date %r outside the scope's day %s" % (amz_date, day)
                values = {}
                for name in names:
                    value = self.headers.get(name)
                    if value is None:
                        return "signed header %s is missing" % name
                    values[name] = " ".join(value.split())
                want = sigv4_signature(self.command, path, query, values,
                                       self.headers.get("x-amz-content-sha256", ""), amz_date,
                                       region)
                return None if hmac.compare_digest(want, signature) else "signature mismatch"

            def handle_any(self):
                body = read_body(self)
                host = self.headers.get("Host", "")
                raw_path, _, raw_query = self.path.partition("?")
                path = urllib.parse.unquote(raw_path)
                # Percent-decoded only: unlike a form, "+" in an S3 query is itself.
                query = [tuple(urllib.parse.unquote(x) for x in (kv.split("=", 1) + [""])[:2])
                         for kv in raw_query.split("&") if kv]
                with lock:
                    proxy.requests.append((self.command, host, self.path))
                if host.split(":")[0] != bucket + proxy.host_suffix:
                    with lock:
                        proxy.rejected.append((self.command, host, self.path, "host"))
                    return self.answer(400, [], error_xml("InvalidRequest",
                                                          "not a virtual-hosted-style request"))
                problem = self.signature_problem(path, query)
                if problem:
                    with lock:
                        proxy.rejected.append((self.command, host, self.path, problem))
                    return self.answer(403, [], error_xml("SignatureDoesNotMatch", problem))
                extra = {k: self.headers[k] for k in VirtualHostProxy.FORWARDED_HEADERS
                         if k in self.headers}
                status, headers, data = client.send(self.command, path.lstrip("/"), dict(query),
                                                    body, extra)
                self.answer(status, headers, data)

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = handle_any

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class ConditionalProxy:
    """An HTTP proxy in front of s3rver that adds what s3rver lacks and AWS
    S3 has: conditional writes. A PUT with "If-None-Match: *" gets 412
    PreconditionFailed when the object exists (checked with S3Client, under
    a lock that also covers the write, so that exactly one of two racing
    creators wins); every other request is passed on as it came, signature
    and all, and s3rver checks it. With tls=(certfile, keyfile) clients speak
    HTTPS to it, as to a TLS-terminating load balancer."""

    HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "expect", "content-length"}

    def __init__(self, port, tls=None, lose_answer=None):
        """lose_answer(method, path): the first request it is true of is
        carried out by s3rver, but its answer never reaches the client (the
        connection is closed instead), as when a network drops it."""
        import http.client
        import http.server
        import ssl
        self.upstream = port
        self.lose_answer, self.lost = lose_answer, []
        client, write_lock, lost_lock = S3Client(port), threading.Lock(), threading.Lock()
        self.conditional_puts = 0
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def forward(self, body):
                conn = http.client.HTTPConnection("127.0.0.1", proxy.upstream, timeout=60)
                headers = {k: v for k, v in self.headers.items()
                           if k.lower() not in ConditionalProxy.HOP_BY_HOP}
                headers["Content-Length"] = str(len(body))
                conn.request(self.command, self.path, body=body, headers=headers)
                r = conn.getresponse()
                data = r.read()
                with lost_lock:  # (write_lock may be held: a conditional PUT)
                    lose = (proxy.lose_answer and not proxy.lost and
                            proxy.lose_answer(self.command, self.path))
                    if lose:
                        proxy.lost.append((self.command, self.path, r.status))
                if lose:
                    self.close_connection = True
                    return
                self.send_response(r.status, r.reason)
                for k, v in r.getheaders():
                    if k.lower() not in ConditionalProxy.HOP_BY_HOP:
                        self.send_header(k, v)
                self.send_header("Content-Length", r.getheader("Content-Length", str(len(data)))
                                 if self.command == "HEAD" else str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)
                conn.close()

            def handle_any(self):
                body = read_body(self)
                if self.command != "PUT" or self.headers.get("If-None-Match") != "*":
                    return self.forward(body)
                path = urllib.parse.urlsplit(self.path).path
                key = urllib.parse.unquote(path[len("/%s/" % BUCKET):])
                with write_lock:
                    proxy.conditional_puts += 1
                    if client.get(key) is None:
                        return self.forward(body)
                err = (b"<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>"
                       b"PreconditionFailed</Code><Message>At least one of the pre-conditions "
                       b"you specified did not hold</Message></Error>")
                self.send_response(412)
                self.send_header("Content-Type", "application/xml")
                self.send_header("Content-Length", str(len(err)))
                self.end_headers()
                self.wfile.write(err)

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = handle_any

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        if tls:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(*tls)
            self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class S3Client:
    """GET, PUT, DELETE and ListObjectsV2 against 127.0.0.1:port, signed
    with AWS Signature V4 (path-style URLs, region us-east-1)."""

    def __init__(self, port, bucket=BUCKET):
        self.port, self.bucket = port, bucket
        self.opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def _sign(self, method, path, query, payload_hash):
        now = datetime.datetime.now(datetime.timezone.utc)
        amz_date = now.strftime("%Y%m%dT%H%M%SZ")
        host = "127.0.0.1:%d" % self.port
        headers = {"host": host, "x-amz-content-sha256": payload_hash, "x-amz-date": amz_date}
        signature = sigv4_signature(method, path, query.items(), headers, payload_hash, amz_date,
                                    "us-east-1")
        headers["Authorization"] = ("AWS4-HMAC-SHA256 Credential=%s/%s/us-east-1/s3/aws4_request, "
                                    "SignedHeaders=%s, Signature=%s"
                                    % (ACCESS_KEY, amz_date[:8], ";".join(sorted(headers)),
                                       signature))
        return headers, canonical_query_of(query.items())

    def send(self, method, key="", query=None, body=b"", extra_headers=None):
        """(status, [(header, value)], body) of one request; extra_headers
        go along unsigned."""
        path = "/%s/%s" % (self.bucket, key) if key else "/%s" % self.bucket
        headers, qs = self._sign(method, path, query or {}, hashlib.sha256(body).hexdigest())
        headers.update(extra_headers or {})
        url = "http://127.0.0.1:%d%s%s" % (self.port, urllib.parse.quote(path, safe="/-_.~"),
                                           "?" + qs if qs else "")
        req = urllib.request.Request(url, data=body if method in ("PUT", "POST") else None,
                                     headers=headers, method=method)
        try:
            with self.opener.open(req, timeout=60) as r:
                return r.status, r.getheaders(), r.read()
        except urllib.error.HTTPError as e:
            return e.code, list(e.headers.items()), e.read()

    def request(self, method, key="", query=None, body=b""):
        status, _, data = self.send(method, key, query, body)
        return status, data

    def put(self, key, data):
        status, body = self.request("PUT", key, body=data)
        assert status == 200, (key, status, body[:300])

    def get(self, key):
        status, body = self.request("GET", key)
        if status == 404:
            return None
        assert status == 200, (key, status, body[:300])
        return body

    def delete(self, key):
        status, body = self.request("DELETE", key)
        assert status in (200, 204), (key, status, body[:300])

    def list(self, prefix=""):
        """{key: size} of every object under prefix."""
        out, token = {}, None
        while True:
            q = {"list-type": "2", "prefix": prefix}
            if token:
                q["continuation-token"] = token
            status, body = self.request("GET", query=q)
            assert status == 200, (status, body[:300])
            root = ET.fromstring(body)
            ns = {"s3": root.tag.split("}")[0].strip("{")} if root.tag.startswith("{") else {}
            p = "s3:" if ns else ""
            for c in root.findall(p + "Contents", ns):
                out[c.find(p + "Key", ns).text] = int(c.find(p + "Size", ns).text)
            if (root.findtext(p + "IsTruncated", "false", ns)) != "true":
                return out
            token = root.findtext(p + "NextContinuationToken", None, ns)

    def wait_listing_settles(self, prefix="", quiet=0.3, timeout=10):
        """The listing under prefix once it has stayed the same for `quiet`
        seconds (the server may still be dropping a cut upload)."""
        deadline = time.monotonic() + timeout
        last = self.list(prefix)
        while time.monotonic() < deadline:
            time.sleep(quiet)
            now = self.list(prefix)
            if now == last:
                return now
            last = now
        return last

    def upload_tree(self, local_dir, prefix, meta_last=True):
        """Every file under local_dir as prefix + relative path; a block's
        meta.json after its other files, as a sidecar uploads."""
        files = []
        for dp, _, fs in os.walk(local_dir):
            for f in fs:
                files.append(os.path.relpath(os.path.join(dp, f), local_dir))
        files.sort(key=lambda r: (meta_last and os.path.basename(r) == "meta.json", r))
        for rel in files:
            with open(os.path.join(local_dir, rel), "rb") as f:
                self.put(prefix + rel, f.read())

    def download_tree(self, prefix, local_dir):
        for key in self.list(prefix):
            dst = os.path.join(local_dir, key[len(prefix):])
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            with open(dst, "wb") as f:
                f.write(self.get(key))

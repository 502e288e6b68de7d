#!/usr/bin/env python3
"""A scrape target on 127.0.0.1 serving native histograms in the protobuf
exposition format (io.prometheus.client.MetricFamily, length-delimited), for
testdata/histograms/make_fixtures.sh. Standard library only: the few
protobuf fields needed are encoded by hand.

  serve_histograms.py PORT

Series (schema 0 unless said; observations from a fixed-seed RNG, a few per
request, so that both replicas of a pair see the same growing counts):
  hist_latency_seconds{path="/a"|"/b"}  counter histogram, positive buckets
  hist_signed_delta                     counter histogram with negative and
                                        positive buckets and a zero bucket,
                                        schema 2, zero threshold 0.001
  hist_resetting_seconds                counter histogram that starts from
                                        zero every 25 requests (counter resets)
  hist_queue_depth                      gauge histogram (goes up and down)
  hist_requests_total                   a plain counter, so that the blocks
                                        hold XOR chunks next to histograms
"""

import http.server
import math
import random
import struct
import sys
import threading


def varint(n):
    """Protobuf's base-128 varint, low groups first."""
    out = bytearray()
    while n > 0x7F:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def zigzag(n):
    return (n << 1) ^ (n >> 63)


def key(field, wire):
    return varint(field << 3 | wire)


def f_varint(field, n):
    return key(field, 0) + varint(n)


def f_sint(field, n):
    return key(field, 0) + varint(zigzag(n) & 0xFFFFFFFFFFFFFFFF)


def f_double(field, x):
    return key(field, 1) + struct.pack("<d", x)


def f_bytes(field, b):
    return key(field, 2) + varint(len(b)) + b


COUNTER, HISTOGRAM, GAUGE_HISTOGRAM = 0, 4, 5


class Native:
    """Observations kept as bucket counts by index, as the client library keeps them."""

    def __init__(self, schema, zero_threshold):
        self.schema, self.zero_threshold = schema, zero_threshold
        self.reset()

    def reset(self):
        self.count, self.sum, self.zero = 0, 0.0, 0
        self.pos, self.neg = {}, {}

    def index(self, v):
        # Bucket i holds (base^(i-1), base^i] with base = 2^(2^-schema).
        return math.ceil(math.log2(v) * 2 ** self.schema - 1e-9)

    def observe(self, v, weight=1):
        self.count += weight
        self.sum += v * weight
        if abs(v) <= self.zero_threshold:
            self.zero += weight
        else:
            side = self.pos if v > 0 else self.neg
            i = self.index(abs(v))
            side[i] = side.get(i, 0) + weight

    def encode_side(self, buckets, span_field, delta_field):
        out, spans, deltas = b"", [], []
        prev_index, prev_count = None, 0
        for i in sorted(buckets):
            if prev_index is not None and i - prev_index <= 2:
                # Short gaps are filled with empty buckets, as client_golang does.
                for _ in range(i - prev_index - 1):
                    spans[-1][1] += 1
                    deltas.append(-prev_count)
                    prev_count = 0
                spans[-1][1] += 1
            else:
                spans.append([i if prev_index is None else i - prev_index - 1, 1])
            deltas.append(buckets[i] - prev_count)
            prev_index, prev_count = i, buckets[i]
        for offset, length in spans:
            out += f_bytes(span_field, f_sint(1, offset) + f_varint(2, length))
        for d in deltas:
            out += f_sint(delta_field, d)
        return out

    def encode(self):
        h = f_varint(1, self.count) + f_double(2, self.sum)
        h += f_sint(5, self.schema) + f_double(6, self.zero_threshold) + f_varint(7, self.zero)
        h += self.encode_side(self.neg, 9, 10)
        h += self.encode_side(self.pos, 12, 13)
        return h


def family(name, help_text, mtype, metrics):
    mf = f_bytes(1, name.encode()) + f_bytes(2, help_text.encode()) + f_varint(3, mtype)
    for m in metrics:
        mf += f_bytes(4, m)
    return varint(len(mf)) + mf


def label(name, value):
    return f_bytes(1, f_bytes(1, name.encode()) + f_bytes(2, value.encode()))


class State:
    def __init__(self):
        self.lock = threading.Lock()
        self.rng = random.Random(42)
        self.requests = 0
        self.latency = {p: Native(0, 2.0 ** -128) for p in ("/a", "/b")}
        self.signed = Native(2, 0.001)
        self.resetting = Native(0, 2.0 ** -128)
        self.queue = Native(0, 2.0 ** -128)

    def step(self):
        r = self.rng
        self.requests += 1
        for p, h in self.latency.items():
            for _ in range(r.randint(1, 6)):
                h.observe(r.lognormvariate(-2.5 if p == "/a" else -1.0, 1.0))
        for _ in range(r.randint(1, 4)):
            v = r.gauss(0, 0.5)
            self.signed.observe(0.0 if r.random() < 0.1 else v)
        if self.requests % 25 == 0:
            self.resetting.reset()
        for _ in range(r.randint(1, 3)):
            self.resetting.observe(r.expovariate(4.0))
        # A gauge histogram: the current queue depths, not a running total.
        self.queue.reset()
        for _ in range(r.randint(5, 30)):
            self.queue.observe(float(r.randint(1, 64)))

    def body(self):
        with self.lock:
            self.step()
            out = family("hist_latency_seconds", "Request latency.", HISTOGRAM,
                         [label("path", p) + f_bytes(7, h.encode())
                          for p, h in sorted(self.latency.items())])
            out += family("hist_signed_delta", "Signed changes.", HISTOGRAM,
                          [f_bytes(7, self.signed.encode())])
            out += family("hist_resetting_seconds", "Restarts every 25 scrapes.", HISTOGRAM,
                          [f_bytes(7, self.resetting.encode())])
            out += family("hist_queue_depth", "Current queue depths.", GAUGE_HISTOGRAM,
                          [f_bytes(7, self.queue.encode())])
            counter = f_bytes(3, f_double(1, float(self.requests)))
            out += family("hist_requests_total", "Requests served.", COUNTER, [counter])
            return out


STATE = State()
CONTENT_TYPE = ("application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; "
                "encoding=delimited")


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path != "/metrics":
            self.send_error(404)
            return
        body = STATE.body()
        self.send_response(200)
        self.send_header("Content-Type", CONTENT_TYPE)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def main():
    port = int(sys.argv[1])
    http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()


if __name__ == "__main__":
    main()

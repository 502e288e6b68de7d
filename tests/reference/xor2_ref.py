#!/usr/bin/env python3
"""Reference decoder for Prometheus's XOR2 float chunks (encoding 4).

Written from tsdb/docs/format/chunks.md ("XOR2 chunk data") and Prometheus
v3.14.0's tsdb/chunkenc/xor2.go, independently of promblock's C++, so that
tests can check our encoder against a second reading of the format. Where the
doc and Go differ, this follows Go (the ST header cap is 0x7f, not 0xEF; ST
fields are varbit integers; the first ST field of a sample i > 0 is
t[i-1] - st[i], later ones its change from sample to sample).

Plain Python 3, stdlib only. decode(chunk_bytes) -> list of (t, value_bits, st),
st 0 meaning none; raises ValueError on a malformed or truncated chunk.
"""

STALE_NAN = 0x7FF0000000000002
U64 = (1 << 64) - 1


def _s64(x):
    """The int64 that the low 64 bits of x spell (Go's wrapping arithmetic)."""
    x &= U64
    return x - (1 << 64) if x >> 63 else x


class Bits:
    """Most-significant-bit-first reader over a byte string."""

    def __init__(self, data):
        self.data = data
        self.pos = 0  # in bits

    def read(self, n):
        if n == 0:
            return 0
        if self.pos + n > 8 * len(self.data):
            raise ValueError("chunk ends at bit %d, %d more bits needed" % (self.pos, n))
        v = 0
        for _ in range(n):
            byte = self.data[self.pos >> 3]
            v = (v << 1) | ((byte >> (7 - (self.pos & 7))) & 1)
            self.pos += 1
        return v

    def ones(self, limit):
        """Counts 1-bits up to `limit`, consuming the ending 0-bit if any."""
        n = 0
        while n < limit and self.read(1):
            n += 1
        return n

    def uvarint(self):
        # Bytes taken 8 bits at a time (not aligned); at most 10 of them.
        x = 0
        for i in range(10):
            b = self.read(8)
            x |= (b & 0x7F) << (7 * i)
            if b < 0x80:
                return x & U64
        raise ValueError("varint longer than 10 bytes")

    def varint(self):
        u = self.uvarint()
        return _s64(~(u >> 1)) if u & 1 else u >> 1

    def varbit_int(self):
        # Prefix of up to eight 1-bits picks 0, 3, 6, 9, 12, 18, 25, 56 or 64
        # payload bits; the signed ranges are [-(2^(n-1)-1), 2^(n-1)].
        widths = [0, 3, 6, 9, 12, 18, 25, 56, 64]
        n = widths[self.ones(8)]
        if n == 0:
            return 0
        x = self.read(n)
        if n == 64:
            return _s64(x)
        return x - (1 << n) if x > (1 << (n - 1)) else x


class _State:
    def __init__(self):
        self.baseline = 0  # last non-stale value bits
        self.leading = 0
        self.trailing = 0


def _xor_payload(br, st, new_window):
    if new_window:
        lead = br.read(5)
        sig = br.read(6) or 64
        if lead + sig > 64:
            raise ValueError("invalid window: %d leading, %d significant bits" % (lead, sig))
        st.leading, st.trailing = lead, 64 - lead - sig
    x = br.read(64 - st.leading - st.trailing)
    st.baseline ^= (x << st.trailing) & U64
    return st.baseline


def _value_after_dod(br, st):
    """0 unchanged | 10 old window | 110 new window | 111 stale NaN."""
    n = br.ones(3)
    if n == 0:
        return st.baseline
    if n == 1:
        return _xor_payload(br, st, False)
    if n == 2:
        return _xor_payload(br, st, True)
    return STALE_NAN


def decode(chunk):
    chunk = bytes(chunk)
    if len(chunk) < 3:
        raise ValueError("chunk of %d bytes has no room for its 3-byte header" % len(chunk))
    total = (chunk[0] << 8) | chunk[1]
    first_st_known = bool(chunk[2] & 0x80)
    change_on = chunk[2] & 0x7F
    br = Bits(chunk[3:])
    s = _State()
    out = []
    t = st_val = 0
    t_delta = 0
    st_diff = 0
    for i in range(total):
        prev_t = t
        if i == 0:
            t = br.varint()
            v = br.read(64)
            if v != STALE_NAN:
                s.baseline = v
            if first_st_known:
                st_val = _s64(t - br.varint())
            out.append((t, v, st_val))
            continue
        if i == 1:
            t_delta = br.uvarint()
            t = _s64(t + t_delta)
            v = _value_after_dod(br, s)
        else:
            n = br.ones(5)
            if n in (0, 1, 5):  # dod 0
                t = _s64(t + t_delta)
                if n == 0:
                    v = s.baseline
                elif n == 5:
                    v = STALE_NAN
                else:  # value changed: 0 old window, 1 new window
                    v = _xor_payload(br, s, br.read(1) == 1)
            else:
                width = {2: 13, 3: 20, 4: 64}[n]
                dod = br.read(width)
                if dod >> (width - 1):
                    dod -= 1 << width
                t_delta = (t_delta + dod) & U64
                t = _s64(t + t_delta)
                v = _value_after_dod(br, s)
        if change_on and i >= change_on:
            d = br.varbit_int()
            st_diff = d if i == change_on else _s64(st_diff + d)
            st_val = _s64(prev_t - st_diff)
        out.append((t, v, st_val))
    return out


if __name__ == "__main__":
    import sys
    for line in sys.stdin:
        line = line.strip()
        if line:
            for t, v, st in decode(bytes.fromhex(line)):
                print(t, "%016x" % v, st)

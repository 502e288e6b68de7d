#!/usr/bin/env python3
"""Lays out a Prometheus 2.x index file as Prometheus 3.7+ writes it.

usage: to_prom3_index.py IN_INDEX OUT_INDEX [--version-byte 2|3]

Written from prometheus/prometheus v3.14.0 tsdb/docs/format/index.md and
tsdb/index/index.go (Writer.ensureStage at idxStageDone, writePostings,
writePostingsOffsetTable, writeTOC), independently of promblock's C++:

  2.x:  header | symbols | series | label indices | postings
        | label offset table | postings offset table | TOC
  3.7+: header | symbols | series | postings | postings offset table | TOC

3.7+ writes no label indices and no label offset table. Its TOC records
LabelIndices and Postings both at the position where the series section
ends (before the postings' 4-byte alignment padding), and LabelIndicesTable
equal to PostingsTable. The postings lists themselves are the same bytes,
moved; the postings offset table is the same entries with their offsets
moved, and a new CRC32-C. The version byte stays 2 (writers never write 3;
--version-byte 3 makes a file that readers since 2.55 accept as 2).
"""

import struct
import sys

CASTAGNOLI = 0x82F63B78
_TABLE = []
for _i in range(256):
    _c = _i
    for _ in range(8):
        _c = (_c >> 1) ^ CASTAGNOLI if _c & 1 else _c >> 1
    _TABLE.append(_c)


def crc32c(data):
    c = 0xFFFFFFFF
    for b in data:
        c = _TABLE[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def uvarint(buf, pos):
    x = shift = 0
    while True:
        b = buf[pos]
        pos += 1
        x |= (b & 0x7F) << shift
        if b < 0x80:
            return x, pos
        shift += 7


def put_uvarint(x):
    out = bytearray()
    while x >= 0x80:
        out.append((x & 0x7F) | 0x80)
        x >>= 7
    out.append(x)
    return bytes(out)


def align4(x):
    return (x + 3) // 4 * 4


def convert(idx, version_byte=2):
    if idx[:4] != b"\xba\xaa\xd7\x00" or idx[4] != 2:
        raise ValueError("not an index of format v2")
    toc = struct.unpack(">6Q", idx[-52:-4])
    if crc32c(idx[-52:-4]) != struct.unpack(">I", idx[-4:])[0]:
        raise ValueError("TOC checksum mismatch")
    symbols, series, label_indices, label_offset_table, postings, postings_table = toc
    if label_offset_table == postings_table:
        raise ValueError("already in the 3.7+ layout")
    # 2.x: the series section ends where label indices start (unpadded).
    series_end = label_indices
    old_lists_start = align4(postings)
    old_lists_end = label_offset_table  # the label offset table follows unpadded
    lists = idx[old_lists_start:old_lists_end]

    out = bytearray(idx[:series_end])
    out[4] = version_byte
    new_postings = len(out)  # recorded before the padding, as index.go does
    out += b"\x00" * (align4(new_postings) - new_postings)
    shift = len(out) - old_lists_start
    out += lists

    # Postings offset table: same entries, offsets moved.
    (length,) = struct.unpack(">I", idx[postings_table:postings_table + 4])
    body = idx[postings_table + 4:postings_table + 4 + length]
    if crc32c(body) != struct.unpack(">I", idx[postings_table + 4 + length:postings_table + 8 + length])[0]:
        raise ValueError("postings offset table checksum mismatch")
    (count,) = struct.unpack(">I", body[:4])
    pos = 4
    new_body = bytearray(body[:4])
    for _ in range(count):
        keys, pos = uvarint(body, pos)
        assert keys == 2
        nlen, pos = uvarint(body, pos)
        name = body[pos:pos + nlen]
        pos += nlen
        vlen, pos = uvarint(body, pos)
        value = body[pos:pos + vlen]
        pos += vlen
        off, pos = uvarint(body, pos)
        new_body += put_uvarint(2) + put_uvarint(len(name)) + name + put_uvarint(len(value)) + value
        new_body += put_uvarint(off + shift)
    assert pos == len(body)
    new_table = len(out)
    out += struct.pack(">I", len(new_body)) + new_body + struct.pack(">I", crc32c(new_body))

    new_toc = struct.pack(">6Q", symbols, series, new_postings, new_table, new_postings, new_table)
    out += new_toc + struct.pack(">I", crc32c(new_toc))
    return bytes(out)


def main():
    args = sys.argv[1:]
    version = 2
    if "--version-byte" in args:
        i = args.index("--version-byte")
        version = int(args[i + 1])
        del args[i:i + 2]
    if len(args) != 2 or version not in (2, 3):
        sys.exit(__doc__.split("\n\n")[1])
    with open(args[0], "rb") as f:
        data = f.read()
    with open(args[1], "wb") as f:
        f.write(convert(data, version))


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Prints N free TCP ports on 127.0.0.1 (bound by the kernel, then released
for the caller to use at once), for the fixture scripts.

  free_ports.py N
"""
import socket
import sys

socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(*[s.getsockname()[1] for s in socks])

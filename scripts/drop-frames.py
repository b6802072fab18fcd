#!/usr/bin/env python3
"""Copy a classic pcap without some frames: drop-frames.py IN OUT N[,N...] (1-based numbers).

Used to derive the `*-response-lost` sample (a response lost on the way to the capture)
from a recorded one; the fault matrix test does the same kind of rewriting in Rust.
"""
import struct, sys

src, dst, drop = sys.argv[1], sys.argv[2], {int(n) for n in sys.argv[3].split(',')}
with open(src, 'rb') as f:
    data = f.read()
magic = data[:4]
endian = '<' if magic in (b'\xd4\xc3\xb2\xa1', b'\x4d\x3c\xb2\xa1') else '>'
out, pos, n = [data[:24]], 24, 0
while pos + 16 <= len(data):
    incl = struct.unpack(endian + 'I', data[pos + 8:pos + 12])[0]
    rec = data[pos:pos + 16 + incl]
    n += 1
    if n not in drop:
        out.append(rec)
    pos += 16 + incl
with open(dst, 'wb') as f:
    f.write(b''.join(out))

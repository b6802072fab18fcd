#!/usr/bin/env python3
"""Writes hostile captures for the resource-limit measurements (docs/robustness.md).

    python3 scripts/gen-hostile.py OUTDIR [CASE...]

Cases (all classic pcap, Ethernet/IPv4/TCP, checksums zero — dupcall does not check them):

  syn-flood         1,000,000 SYNs from distinct addresses/ports, never answered (half-open)
  content-length-2g one POST declaring Content-Length: 2147483648, 8 MiB of body, then the
                    capture ends
  endless-chunked   a response with Transfer-Encoding: chunked whose chunks never end
                    (256 MiB of chunks, no last chunk)
  many-headers      a request with 100,000 header lines
  huge-request-line a request line of 100 MiB (one URI)
  pipelined         2,000,000 pipelined POSTs on one connection, never answered
  pipelined-conns   1,000 connections × 256 pipelined POSTs with 1 KiB bodies, never answered
                    (what pending requests' kept bodies cost)
  stalled-order     one request that is never answered, then 200,000 answered exchanges
                    with 2 KiB bodies on another connection (what the request-order buffer
                    holds back)

Big files are not committed: generate them into a temporary directory.
"""
import os
import struct
import sys

CLIENT = (10, 0, 0, 1)
SERVER = (10, 0, 0, 2)


class Pcap:
    def __init__(self, path):
        self.f = open(path, 'wb', buffering=1 << 20)
        self.f.write(struct.pack('<IHHiIII', 0xa1b2c3d4, 2, 4, 0, 0, 262144, 1))
        self.t = 1_700_000_000_000_000  # µs

    def tcp(self, src, sport, dst, dport, seq, ack, flags, payload=b'', dt=1):
        self.t += dt
        tcp = struct.pack('!HHIIBBHHH', sport, dport, seq & 0xffffffff, ack & 0xffffffff, 5 << 4, flags,
                          65535, 0, 0)
        ip = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(tcp) + len(payload), 0, 0x4000, 64, 6, 0,
                         bytes(src), bytes(dst))
        frame = b'\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01\x08\x00' + ip + tcp + payload
        self.f.write(struct.pack('<IIII', self.t // 1_000_000, self.t % 1_000_000, len(frame), len(frame)))
        self.f.write(frame)

    def close(self):
        self.f.close()


SYN, ACK, PSH, FIN = 0x02, 0x10, 0x08, 0x01


class Conn:
    """One connection after a handshake; send() splits into segments of at most `mss`."""

    def __init__(self, pcap, cport=40000, sport=80, client=CLIENT, server=SERVER, handshake=True):
        self.p, self.cport, self.sport, self.c, self.s = pcap, cport, sport, client, server
        self.cseq, self.sseq = 1000, 5000
        if handshake:
            pcap.tcp(client, cport, server, sport, self.cseq, 0, SYN)
            pcap.tcp(server, sport, client, cport, self.sseq, self.cseq + 1, SYN | ACK)
            self.cseq += 1
            self.sseq += 1
            pcap.tcp(client, cport, server, sport, self.cseq, self.sseq, ACK)

    def send(self, from_client, data, mss=65000):
        for i in range(0, len(data), mss):
            part = data[i:i + mss]
            if from_client:
                self.p.tcp(self.c, self.cport, self.s, self.sport, self.cseq, self.sseq, ACK | PSH, part)
                self.cseq += len(part)
            else:
                self.p.tcp(self.s, self.sport, self.c, self.cport, self.sseq, self.cseq, ACK | PSH, part)
                self.sseq += len(part)


def syn_flood(p, n=1_000_000):
    for i in range(n):
        src = (10, 1 + (i >> 16) % 200, (i >> 8) & 255, i & 255)
        p.tcp(src, 1024 + i % 60000, SERVER, 80, i * 7919, 0, SYN)


def content_length_2g(p):
    c = Conn(p)
    c.send(True, b'POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 2147483648\r\n\r\n')
    chunk = b'A' * 65000
    for _ in range(8 * 1024 * 1024 // 65000):
        c.send(True, chunk)


def endless_chunked(p):
    c = Conn(p)
    c.send(True, b'GET /stream HTTP/1.1\r\nHost: x\r\n\r\n')
    c.send(False, b'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n')
    body = b'1000\r\n' + b'x' * 0x1000 + b'\r\n'
    seg = body * (64000 // len(body))
    for _ in range(256 * 1024 * 1024 // len(seg)):
        c.send(False, seg)


def many_headers(p, n=100_000):
    c = Conn(p)
    head = b'POST /openApi/runJob HTTP/1.1\r\nHost: x\r\n' + b''.join(b'X-H%d: v\r\n' % i for i in range(n))
    c.send(True, head + b'Content-Length: 2\r\n\r\nok')
    c.send(False, b'HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n')


def huge_request_line(p, size=100 * 1024 * 1024):
    c = Conn(p)
    c.send(True, b'GET /')
    piece = b'a' * 65000
    for _ in range(size // len(piece)):
        c.send(True, piece)
    c.send(True, b' HTTP/1.1\r\nHost: x\r\n\r\n')
    c.send(False, b'HTTP/1.1 414 URI Too Long\r\nContent-Length: 0\r\n\r\n')


def pipelined(p, n=2_000_000):
    c = Conn(p)
    req = b'POST /openApi/runJob HTTP/1.1\r\nHost: x\r\nContent-Length: 7\r\n\r\njobId=1'
    batch = req * (64000 // len(req))
    per = 64000 // len(req)
    for _ in range(n // per):
        c.send(True, batch)


def pipelined_conns(p, conns=1_000, depth=256, body=1024):
    req = b'POST /openApi/saveJob HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n' % body + b'j' * body
    for k in range(conns):
        src = (10, 2, (k >> 8) & 255, k & 255)
        c = Conn(p, cport=20000 + k % 40000, client=src, handshake=False)
        c.send(True, req * depth, mss=64000)


def stalled_order(p, n=200_000, body=2048):
    a = Conn(p, cport=40001)
    a.send(True, b'POST /openApi/runJob HTTP/1.1\r\nHost: x\r\nContent-Length: 7\r\n\r\njobId=1')
    b = Conn(p, cport=40002)
    req = b'POST /openApi/saveJob HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n' % body + b'j' * body
    resp = b'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok'
    for _ in range(n):
        b.send(True, req)
        b.send(False, resp)


CASES = {
    'syn-flood': syn_flood,
    'content-length-2g': content_length_2g,
    'endless-chunked': endless_chunked,
    'many-headers': many_headers,
    'huge-request-line': huge_request_line,
    'pipelined': pipelined,
    'pipelined-conns': pipelined_conns,
    'stalled-order': stalled_order,
}

if __name__ == '__main__':
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    for name in sys.argv[2:] or CASES:
        p = Pcap(os.path.join(out, name + '.pcap'))
        CASES[name](p)
        p.close()
        print(name, os.path.getsize(os.path.join(out, name + '.pcap')), 'bytes')

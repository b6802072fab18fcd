#!/usr/bin/env python3
"""Writes the fuzz seed corpus, fuzz/seeds/TARGET/ (small, deterministic, commit-ready).

    python3 scripts/make-fuzz-seeds.py

- pipeline:   sample captures cut to their first packets (pcap, one pcapng), tiny corpus files
- reassembly: segment scripts in the target's 7-byte-header format (handshake, data,
              reordering, retransmission, FIN/RST, wrap-around)
- http_conn:  the stream fixtures of tests/streams/*.t in the target's script format
- accesslog:  one line per built-in format, and a format spec plus lines
- profile:    the built-in profiles and a few broken ones
"""
import os, re, struct

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, 'fuzz', 'seeds')


def put(target, name, data):
    d = os.path.join(OUT, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), 'wb') as f:
        f.write(data)


# ---- pipeline: classic pcaps cut to their first N records -------------------------------
def cut_pcap(path, n):
    data = open(path, 'rb').read()
    endian = '<' if data[:4] in (b'\xd4\xc3\xb2\xa1', b'\x4d\x3c\xb2\xa1') else '>'
    out, pos = [data[:24]], 24
    for _ in range(n):
        if pos + 16 > len(data):
            break
        incl = struct.unpack(endian + 'I', data[pos + 8:pos + 12])[0]
        out.append(data[pos:pos + 16 + incl])
        pos += 16 + incl
    return b''.join(out)


for name, n in [('v5-510-auth-off', 12), ('v4-assert-double-submit', 10), ('oauth2-refresh-retry', 10)]:
    put('pipeline', name + '.pcap', cut_pcap(os.path.join(ROOT, 'samples', name + '.pcap'), n))
for name in ['sv-http-encoding-gzip-uncompressed', 'zeek-http-get-gzip', 'sv-firewall-88-tx-pipeline',
             'ppp-nanosecs_big_endian', 'zeek-nflog-http', 'sv-decode-sll2-02']:
    put('pipeline', name + '.pcap', cut_pcap(os.path.join(ROOT, 'tests', 'corpus', name + '.pcap'), 12))
ng = open(os.path.join(ROOT, 'tests', 'corpus', 'ppp-pcapng-example.pcapng'), 'rb').read()
put('pipeline', 'pcapng-example-head.pcapng', ng[:3000])

# ---- http_conn: tests/streams/*.t → script ----------------------------------------------
def unescape(line):
    out, i = bytearray(), 0
    while i < len(line):
        if line[i] == '\\' and line[i + 1:i + 2] == 'x' and re.match(r'[0-9a-fA-F]{2}', line[i + 2:i + 4]):
            out.append(int(line[i + 2:i + 4], 16))
            i += 4
            continue
        out += line[i].encode()
        i += 1
    return bytes(out)


def stream_script(text):
    body = text.split('=== expect\n')[0]
    eol = b'\n' if '!lf' in body.splitlines() else b'\r\n'
    steps, cur = [], None
    for line in body.splitlines():
        m = re.match(r'^(>>>|<<<)(.*)$', line)
        if m:
            if cur:
                steps.append(cur)
            d = 0 if m.group(1) == '>>>' else 1
            rest = m.group(2).strip()
            cur = None
            if rest.startswith('gap '):
                steps.append(('gap', d, int(rest[4:])))
            elif rest == 'end':
                steps.append(('end', d))
            else:
                cur = ('data', d, bytearray())
            continue
        if cur is not None:
            if line.endswith('\\'):
                cur[2].extend(unescape(line[:-1]))
            else:
                cur[2].extend(unescape(line) + eol)
    if cur:
        steps.append(cur)
    out = bytearray([0])  # default config, close at end of input... (reason from bits 1-3)
    for s in steps:
        if s[0] == 'data':
            data = bytes(s[2])
            for i in range(0, max(len(data), 1), 255):
                part = data[i:i + 255]
                out += bytes([s[1], len(part)]) + part
        elif s[0] == 'gap':
            out += bytes([2 | (s[1] << 2)]) + struct.pack('<H', max(s[2], 1) - 1)
        else:
            out += bytes([3 | (s[1] << 2)])
    return bytes(out)


sdir = os.path.join(ROOT, 'tests', 'streams')
for f in sorted(os.listdir(sdir)):
    if f.endswith('.t'):
        put('http_conn', f[:-2], stream_script(open(os.path.join(sdir, f)).read()))

# ---- reassembly: 7-byte header segments --------------------------------------------------
def seg(dir_, syn=0, ack=1, fin=0, rst=0, conn=0, seq=0, ackd=0, payload=b'', dt=1, cut=0):
    b0 = dir_ | syn << 1 | ack << 2 | fin << 3 | rst << 4 | conn << 5 | cut << 7
    return bytes([b0]) + struct.pack('<hh', seq, ackd) + bytes([len(payload), dt]) + payload


REQ = b'POST /openApi/runJob HTTP/1.1\r\nHost: pj\r\nContent-Length: 7\r\n\r\njobId=7'
RESP = b'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok'
hs = seg(0, syn=1, ack=0) + seg(1, syn=1, ack=1, ackd=0) + seg(0)
put('reassembly', 'clean', b'\x00' + hs + seg(0, payload=REQ) + seg(1, payload=RESP)
    + seg(0, fin=1) + seg(1, fin=1))
# Request in two parts, second first; response retransmitted with different bytes.
a, b = REQ[:20], REQ[20:]
put('reassembly', 'reorder-overlap', b'\x01' + hs + seg(0, seq=20, payload=b) + seg(0, payload=a)
    + seg(1, payload=RESP) + seg(1, seq=-len(RESP), payload=RESP.replace(b'ok', b'no'))
    + seg(0, rst=1, ack=0))
# Mid-stream start on connection 1, snaplen cut, idle gap, connection 2 near wrap-around.
put('reassembly', 'midstream-cut-wrap', b'\x00' + seg(1, conn=1, payload=RESP, cut=1)
    + seg(0, conn=1, payload=REQ, dt=0xff) + seg(0, syn=1, ack=0, conn=2) + seg(0, conn=2, payload=REQ)
    + seg(1, conn=2, ackd=0, payload=RESP) + seg(0, conn=3, payload=b'GET / HTTP/1.0\r\n\r\n'))

# ---- accesslog ---------------------------------------------------------------------------
put('accesslog', 'combined', '203.0.113.7 - - [10/Oct/2024:13:55:36 +0000] "POST /openApi/runJob HTTP/1.1" 200 35 "-" "okhttp/4.12.0"\n'
    '203.0.113.7 - - [10/Oct/2024:13:55:37 +0000] "POST /openApi/authApp HTTP/1.1" 200 120 "-" "okhttp/4.12.0"\n')
put('accesslog', 'common', '10.0.0.1 - bob [01/Jan/2024:00:00:00 -0700] "GET /a?b=c HTTP/1.0" 404 -\n')
put('accesslog', 'nginx-main', '10.0.0.1 - - [01/Jan/2024:00:00:00 +0000] "PUT /x HTTP/1.1" 201 5 "-" "curl/8" "198.51.100.1, 10.0.0.2"\n')
put('accesslog', 'vhost', 'api.example:443 10.0.0.1 - - [01/Jan/2024:00:00:00 +0000] "DELETE /x HTTP/1.1" 204 0 "-" "ua"\n')
put('accesslog', 'tomcat-D', '10.0.0.1 - - [01/Jan/2024:00:00:00.123 +0000] "POST /openApi/saveJob HTTP/1.1" 200 35 1234\n')
put('accesslog', 'envoy', '[2024-01-01T00:00:00.123Z] "POST /openApi/runJob HTTP/1.1" 200 - 15 35 12 11 "198.51.100.1" "okhttp/4" "id-1" "pj:7700" "10.0.0.5:7700"\n')
put('accesslog', 'traefik', '10.0.0.1 - - [01/Jan/2024:00:00:00 +0000] "POST /x HTTP/1.1" 200 2 "-" "ua" 17 "router@docker" "http://10.0.0.5:80" 3ms\n')
put('accesslog', 'json', '{"time_iso8601":"2024-01-01T00:00:00+00:00","remote_addr":"10.0.0.1","request_method":"POST","request_uri":"/openApi/runJob","status":200,"request_time":0.012,"http_user_agent":"ua"}\n'
    '{"start_time":"2024-01-01T00:00:00.000Z","method":"POST","path":"/x","response_code":503,"duration":5}\n')
put('accesslog', 'spec-nginx', '$remote_addr [$time_local] "$request" $status $request_time "$http_x_forwarded_for" $http_idempotency_key\n'
    '10.0.0.1 [01/Jan/2024:00:00:00 +0000] "POST /x HTTP/1.1" 200 0.003 "1.2.3.4" abc\n')
put('accesslog', 'spec-apache', 'apache:%h %l %u %{%d/%b/%Y:%H:%M:%S}t.%{msec_frac}t "%r" %>s %D "%{X-Request-Id}i"\n'
    '10.0.0.1 - - 01/Jan/2024:00:00:00.123 "POST /x HTTP/1.1" 200 1500 "r1"\n')
put('accesslog', 'spec-envoy', 'envoy:[%START_TIME%] "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%" %RESPONSE_CODE% %DURATION% "%REQ(X-ENVOY-ATTEMPT-COUNT)%"\n'
    '[2024-01-01T00:00:00.000Z] "POST /x HTTP/1.1" 200 4 "2"\n')
put('accesslog', 'spec-json', 'json:time=ts,method=m,path=p,status=s\n{"ts":"2024-01-01T00:00:00Z","m":"POST","p":"/x","s":200}\n')
put('accesslog', 'spec-tomcat9', 'tomcat9:%h %l %u %t "%r" %s %b %D %{X-Forwarded-For}i\n'
    '10.0.0.1 - - [01/Jan/2024:00:00:00 +0000] "POST /x HTTP/1.1" 200 - 12 1.2.3.4\n')

# ---- profile -----------------------------------------------------------------------------
pdir = os.path.join(ROOT, 'src', 'profile')
for f in sorted(os.listdir(pdir)):
    if f.endswith('.toml'):
        put('profile', f, open(os.path.join(pdir, f), 'rb').read())
put('profile', 'typo.toml', 'name = "x"\n[calls]\nmutatoins = ["POST *"]\n')
put('profile', 'bad-pointer.toml', 'name = "x"\n[success]\nfield = "success"\n')
put('profile', 'marker-missing.toml', 'name = "x"\n[client]\nrule = "marker"\n')
put('profile', 'unicode.toml', 'name = "é"\n[calls]\nmutations = ["POST /é*ü*"]\n# ✓\n')
print('seeds written to', OUT)

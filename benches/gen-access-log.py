#!/usr/bin/env python3
"""Writes a deterministic nginx `combined` access log for benchmarks.

    benches/gen-access-log.py OUT [LINES]     # default 2 000 000 lines (~350 MB)

PowerJob-OpenAPI-shaped traffic behind a proxy: about two thirds mutations (runJob,
disableJob, authApp) with random job ids, the rest reads and static files; 400 lines per
second of log time; client addresses spread over ~190 000 hosts, so per-caller state is
exercised; statuses 200 with some 401 and 500.
"""
import datetime
import random
import sys

out = sys.argv[1]
lines = int(sys.argv[2]) if len(sys.argv) > 2 else 2_000_000
random.seed(1)
paths = [
    "/openApi/runJob?appId=1&jobId={j}&instanceParams=%7B%22a%22%3A1%7D",
    "/openApi/fetchInstanceStatus?instanceId={j}&appId=1",
    "/openApi/disableJob?jobId={j}&appId=2",
    "/openApi/authApp?appName=app{a}",
    "/static/js/app.3f9a1c.js",
    "/api/v1/workflow/instance/list?page=3&size=20",
]
agents = [
    "okhttp/4.9.3",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36",
    "Apache-HttpClient/4.5.13 (Java/1.8.0_392)",
]
t0 = datetime.datetime(2024, 11, 19, 7, 0, 0)
with open(out, "w") as f:
    for i in range(lines):
        t = t0 + datetime.timedelta(seconds=i // 400)
        ip = f"10.{i % 3}.{(i // 3) % 256}.{i % 251}"
        p = random.choice(paths).format(j=random.randrange(100000), a=i % 9)
        m = "GET" if "list" in p or "static" in p or "fetch" in p else "POST"
        st = random.choice([200, 200, 200, 200, 500, 401])
        ts = t.strftime("%d/%b/%Y:%H:%M:%S")
        f.write(
            f'{ip} - - [{ts} +0000] "{m} {p} HTTP/1.1" {st} {random.randrange(50, 900)} "-" "{random.choice(agents)}"\n'
        )

#!/usr/bin/env python3
"""Writes a large, deterministic nginx access log of PowerJob-OpenAPI-shaped traffic, for
measuring `dupcall analyze` throughput on access logs (docs/access-logs.md).

    scripts/gen-access-log.py --lines 3000000 --format combined > /tmp/big-combined.log
    scripts/gen-access-log.py --lines 3000000 --format rich > /tmp/big-rich.log

Traffic: 2000 client processes (IP x user agent; 1 to 4 apps each), about 800 requests per
second over the log's span. Each process sends reads (fetchJob, fetchInstanceStatus with a
query), mutations (saveJob, runJob, disableJob, ...) and occasional authApp calls; one
mutation in ten is followed by authApp and the same call again within a few ms (the
PowerJob 5.1.0 pattern), one in fifty gets a 500 and is re-sent. `--format rich` writes the
`dupcall_rich` format of samples/logs/nginx-rich.conf (ms times, request time, app id,
marker header); `combined` the stock format. The same seed gives the same bytes.
"""

import argparse
import random
import sys
import time

MUTATIONS = ["saveJob", "runJob", "disableJob", "enableJob", "deleteJob", "runWorkflow",
             "stopInstance", "retryInstance", "saveWorkflow", "copyJob"]
READS = ["fetchJob", "fetchAllJob", "fetchInstanceStatus", "fetchInstanceInfo", "queryJob",
         "fetchWorkflow"]
AGENTS = ["okhttp/3.14.9", "okhttp/4.9.3", "Apache-HttpClient/4.5.13 (Java/1.8.0_392)",
          "PowerJob-Client/5.1.0"]
MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


def clf(t):
    g = time.gmtime(int(t))
    return "%02d/%s/%04d:%02d:%02d:%02d +0000" % (g.tm_mday, MONTHS[g.tm_mon - 1], g.tm_year,
                                                  g.tm_hour, g.tm_min, g.tm_sec)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--lines", type=int, default=3_000_000)
    ap.add_argument("--format", choices=["combined", "rich"], default="combined")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--rate", type=float, default=800.0, help="requests per second")
    a = ap.parse_args()
    rnd = random.Random(a.seed)
    procs = []
    for i in range(2000):
        ip = "10.%d.%d.%d" % (i % 4, (i // 4) % 250, 1 + i % 249)
        procs.append((ip, AGENTS[i % len(AGENTS)], [str(1 + (i * 7 + k) % 300) for k in range(1 + i % 4)]))
    out = sys.stdout
    buf = []
    t = 1_718_000_000.0
    n = 0
    rich = a.format == "rich"

    def emit(ip, ua, app, method_path, status, size, rt, marker):
        nonlocal n, t
        end = t + rt
        if rich:
            buf.append('%s - - [%s] "%s HTTP/1.1" %d %d "-" "%s" rt=%.3f us="%d" msec=%.3f '
                       'srv=10.9.0.1:80 app="%s" auth="%s" idem="-"\n'
                       % (ip, clf(end), method_path, status, size, ua, rt, status, end, app, marker))
        else:
            buf.append('%s - - [%s] "%s HTTP/1.1" %d %d "-" "%s"\n'
                       % (ip, clf(end), method_path, status, size, ua))
        n += 1
        t += 0.001
        if len(buf) >= 4096:
            out.write("".join(buf))
            buf.clear()

    while n < a.lines:
        t += rnd.expovariate(a.rate)
        ip, ua, apps = procs[rnd.randrange(len(procs))]
        app = apps[rnd.randrange(len(apps))]
        r = rnd.random()
        if r < 0.45:
            name = READS[rnd.randrange(len(READS))]
            q = "?instanceId=%d&appId=%s" % (710000000000 + rnd.randrange(10**6), app) if name.startswith("fetchInstance") else ""
            emit(ip, ua, app, "POST /openApi/%s%s" % (name, q), 200, 60 + rnd.randrange(200), 0.004, "true")
        elif r < 0.55:
            emit(ip, ua, "-", "POST /openApi/authApp", 200, 294, 0.006, "-")
        else:
            name = MUTATIONS[rnd.randrange(len(MUTATIONS))]
            q = "?jobId=%d" % rnd.randrange(100000) if rnd.random() < 0.3 else ""
            mp = "POST /openApi/%s%s" % (name, q)
            k = rnd.random()
            if k < 0.10:  # 5.1.0: no marker, refresh, same call again
                emit(ip, ua, app, mp, 200, 42, 0.005, "-")
                emit(ip, ua, "-", "POST /openApi/authApp", 200, 294, 0.006, "-")
                emit(ip, ua, app, mp, 200, 42, 0.005, "-")
            elif k < 0.12:  # server error, the application re-sends
                emit(ip, ua, app, mp, 500, 91, 0.010, "-")
                emit(ip, ua, app, mp, 200, 42, 0.005, "true")
            else:
                emit(ip, ua, app, mp, 200, 42, 0.005, "true")
    out.write("".join(buf))


if __name__ == "__main__":
    main()

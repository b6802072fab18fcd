#!/usr/bin/env python3
"""Writes a large HAR 1.2 file for memory and speed measurements (docs/har.md).

    python3 scripts/gen-har.py ENTRIES OUT.har

Entries are PowerJob-like POST calls with JSON bodies and responses, written as mitmproxy
does (in order of finish, so about one in ten is out of start order), streamed: the
generator itself holds one entry at a time.
"""
import json
import sys
from datetime import datetime, timedelta, timezone

n, out = int(sys.argv[1]), sys.argv[2]
t0 = datetime(2026, 11, 26, 3, 0, 0, tzinfo=timezone.utc)
with open(out, "w") as f:
    f.write('{"log": {"version": "1.2", "creator": {"name": "gen-har", "version": "1"}, "entries": [\n')
    for i in range(n):
        # Every tenth entry started 30 ms before its predecessor (a slow call finishing late).
        start = t0 + timedelta(milliseconds=10 * i - (30 if i % 10 == 9 else 0))
        body = json.dumps({"appId": 7, "jobId": i % 5000, "jobParams": "x" * 120})
        e = {
            "startedDateTime": start.isoformat(timespec="microseconds"),
            "time": 4.5,
            "request": {
                "method": "POST",
                "url": f"http://127.0.0.1:7700/openApi/runJob?appId=7&n={i % 97}",
                "httpVersion": "HTTP/1.1",
                "headers": [
                    {"name": "Host", "value": "127.0.0.1:7700"},
                    {"name": "X-POWERJOB-APP-ID", "value": "7"},
                    {"name": "X-POWERJOB-ACCESS-TOKEN", "value": f"tok-{i // 1000}"},
                    {"name": "Content-Type", "value": "application/json"},
                ],
                "queryString": [],
                "postData": {"mimeType": "application/json", "text": body},
                "headersSize": -1,
                "bodySize": len(body),
            },
            "response": {
                "status": 200,
                "statusText": "OK",
                "httpVersion": "HTTP/1.1",
                "headers": [{"name": "X-POWERJOB-AUTH-PASSED", "value": "true"}],
                "content": {"size": 60, "mimeType": "application/json",
                            "text": json.dumps({"success": True, "data": 1000 + i, "message": None})},
                "redirectURL": "",
                "headersSize": -1,
                "bodySize": 60,
            },
            "cache": {},
            "timings": {"send": 0.1, "wait": 4.0, "receive": 0.4},
            "serverIPAddress": "127.0.0.1",
        }
        f.write(("," if i else "") + json.dumps(e) + "\n")
    f.write("]}}\n")

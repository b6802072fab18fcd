#!/usr/bin/env python3
"""The HTTP client for tests/integration/har.rs: talks to BASE (mitmproxy in front of api.py).

    python3 client.py http://127.0.0.1:PORT

A bearer token refreshed on 401 with one replay (like OkHttp's Authenticator), and one
order submitted twice by the application (a double submit). Keep-alive, one connection.
"""
import http.client
import json
import sys
from urllib.parse import urlsplit

u = urlsplit(sys.argv[1])
conn = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
state = {"token": None}


def call(method, path, body, headers):
    conn.request(method, path, body=body, headers=headers)
    r = conn.getresponse()
    data = r.read()
    return r.status, data


def refresh():
    st, data = call("POST", "/oauth/token",
                    "grant_type=client_credentials&client_id=cli-app&client_secret=CliS3cretValue",
                    {"Content-Type": "application/x-www-form-urlencoded", "User-Agent": "har-test-client/1"})
    state["token"] = json.loads(data)["access_token"]


def order(o):
    def send():
        return call("POST", "/api/orders", json.dumps({"order": o}),
                    {"Content-Type": "application/json", "Authorization": "Bearer " + state["token"],
                     "User-Agent": "har-test-client/1"})
    st, _ = send()
    if st == 401:
        refresh()
        st, _ = send()
    return st


refresh()
order("A-1")
order("B-2")
order("C-3")
order("C-3")
print("done", flush=True)

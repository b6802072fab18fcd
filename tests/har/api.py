#!/usr/bin/env python3
"""A small OAuth 2.0 bearer API for tests/integration/har.rs (the truth: its execution log).

    python3 api.py EXEC_LOG.jsonl      # prints "127.0.0.1:PORT" when listening

- POST /oauth/token (form: client_id, client_secret) issues a bearer token good for TWO
  mutations; after that the token gets 401 with WWW-Authenticate: Bearer error="invalid_token".
- POST /api/orders (JSON) with a good token executes the order and answers {"id": N}.
- GET / serves page.html (the browser client); GET /favicon.ico is 404.
Every request is one line of EXEC_LOG: {"path", "order", "token", "status", "executed"}.
"""
import json
import os
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

LOG = open(sys.argv[1], "a", buffering=1)
LOCK = threading.Lock()
TOKENS = {}  # token -> uses left
STATE = {"issued": 0, "executed": 0}
PAGE = open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "page.html"), "rb").read()


class Api(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def send(self, status, body, ctype="application/json", headers=()):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path == "/":
            self.send(200, PAGE, "text/html; charset=utf-8")
        else:
            self.send(404, {"error": "not found"})

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n)
        with LOCK:
            if self.path == "/oauth/token":
                form = parse_qs(body.decode())
                STATE["issued"] += 1
                tok = "tok-%d-%s" % (STATE["issued"], form.get("client_id", ["?"])[0])
                TOKENS[tok] = 2
                LOG.write(json.dumps({"path": self.path, "token": tok, "status": 200, "executed": False}) + "\n")
                self.send(200, {"access_token": tok, "token_type": "Bearer", "expires_in": 60})
                return
            if self.path != "/api/orders":
                self.send(404, {"error": "not found"})
                return
            auth = self.headers.get("Authorization") or ""
            tok = auth[7:] if auth.startswith("Bearer ") else ""
            order = json.loads(body or b"{}").get("order")
            if TOKENS.get(tok, 0) <= 0:
                LOG.write(json.dumps({"path": self.path, "order": order, "token": tok, "status": 401, "executed": False}) + "\n")
                self.send(401, {"error": "invalid_token"}, headers=[("WWW-Authenticate", 'Bearer error="invalid_token"')])
                return
            TOKENS[tok] -= 1
            STATE["executed"] += 1
            LOG.write(json.dumps({"path": self.path, "order": order, "token": tok, "status": 200, "executed": True}) + "\n")
            self.send(200, {"id": STATE["executed"], "order": order})


srv = ThreadingHTTPServer(("127.0.0.1", 0), Api)
print("127.0.0.1:%d" % srv.server_address[1], flush=True)
srv.serve_forever()

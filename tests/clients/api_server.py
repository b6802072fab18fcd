#!/usr/bin/env python3
"""A small OAuth2-bearer API for dupcall's accuracy evaluation (docs/accuracy.md).

Listens on 127.0.0.1 on N free ports (one server, several addresses for failover), prints
the ports on one line, APPLIES mutations and logs every request it read to the execution
log (JSON lines): time, server address, peer, request index on its connection, method,
path, body digest, the client's X-Call-Id, the request id it derived from it, the action of
the plan, the status it answered (null: none) and whether it applied the call.
Issued tokens go to the token log (the secrets no dupcall output may show).

The plan (JSON) gives per "METHOD PATH" the actions of its 1st, 2nd, ... arrival (then
"ok"): ok, late:S (apply, answer 201 S seconds later), drop / drop-applied (read the
request, close the keep-alive connection without answering), reset / reset-applied (same
with RST), 404, 409, 429 (Retry-After: 1, not applied), 500 (applied), 503 (Retry-After: 1,
not applied). "token_ttl" is the lifetime of issued tokens in seconds; an expired or
unknown token gets 401 with WWW-Authenticate: Bearer error="invalid_token".
"""
import argparse, hashlib, http.server, json, secrets, socket, socketserver, struct, sys, threading, time

LOCK = threading.Lock()
STATE = {"arrivals": {}, "calls": {}, "tokens": {}}


def now_us():
    return int(time.time() * 1_000_000)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def setup(self):
        super().setup()
        self.conn_req = 0

    def send(self, status, obj, extra=()):
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()

    def log(self, rec):
        with LOCK:
            self.server.exec_log.write(json.dumps(rec) + "\n")
            self.server.exec_log.flush()

    def do_POST(self):
        self.handle_call()

    def do_PUT(self):
        self.handle_call()

    def do_DELETE(self):
        self.handle_call()

    def handle_call(self):
        self.conn_req += 1
        t = now_us()
        body = self.rfile.read(int(self.headers.get("Content-Length", "0") or 0))
        call = self.headers.get("X-Call-Id", "")
        with LOCK:
            n = STATE["calls"].get(call, 0) + 1
            STATE["calls"][call] = n
        rec = {
            "time_us": t,
            "addr": "%s:%d" % self.server.server_address,
            "peer": "%s:%d" % self.client_address,
            "conn_req": self.conn_req,
            "method": self.command,
            "path": self.path,
            "body_sha256": hashlib.sha256(body).hexdigest()[:16],
            "call": call,
            "request_id": "%s#%d" % (call, n),
        }
        if self.path == "/oauth/token":
            return self.token(rec, body)
        auth = self.headers.get("Authorization", "")
        tok = auth[7:] if auth.startswith("Bearer ") else ""
        with LOCK:
            exp = STATE["tokens"].get(tok)
        if exp is None or exp < time.time():
            rec.update(action="expired" if exp else "no-token", status=401, applied=False)
            self.log(rec)
            return self.send(401, {"error": "invalid_token"}, [("WWW-Authenticate", 'Bearer error="invalid_token"')])
        key = "%s %s" % (self.command, self.path)
        with LOCK:
            k = STATE["arrivals"].get(key, 0)
            STATE["arrivals"][key] = k + 1
        plan = self.server.plan.get("rules", {}).get(key, [])
        action = plan[k] if k < len(plan) else "ok"
        rec["action"] = action
        self.act(rec, action)

    def act(self, rec, action):
        ok = {"id": rec["request_id"], "ok": True}
        if action == "ok":
            rec.update(status=201, applied=True)
            self.log(rec)
            self.send(201, ok)
        elif action.startswith("late:"):
            rec.update(status=201, applied=True, answered_after_s=float(action[5:]))
            self.log(rec)
            time.sleep(float(action[5:]))
            try:
                self.send(201, ok)
            except OSError:
                pass
        elif action.startswith("drop") or action.startswith("reset"):
            rec.update(status=None, applied=action.endswith("-applied"))
            self.log(rec)
            if action.startswith("reset"):
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.connection.close()
            self.close_connection = True
        else:
            status = int(action)
            rec.update(status=status, applied=status == 500)
            self.log(rec)
            extra = [("Retry-After", "1")] if status in (429, 503) else []
            self.send(status, {"error": action}, extra)

    def token(self, rec, body):
        form = dict(p.split("=", 1) for p in body.decode().split("&") if "=" in p)
        if form.get("client_secret") != self.server.plan.get("client_secret", "cs-eval-2026"):
            rec.update(action="bad-client", status=401, applied=False)
            self.log(rec)
            return self.send(401, {"error": "invalid_client"})
        tok = "at-" + secrets.token_hex(12)
        ttl = float(self.server.plan.get("token_ttl", 300))
        with LOCK:
            STATE["tokens"][tok] = time.time() + ttl
            self.server.token_log.write(json.dumps({"time_us": rec["time_us"], "token": tok, "ttl_s": ttl}) + "\n")
            self.server.token_log.flush()
        rec.update(action="token", status=200, applied=True)
        self.log(rec)
        self.send(200, {"access_token": tok, "token_type": "Bearer", "expires_in": int(max(ttl * 10, 60))})


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--plan", default="{}")
    ap.add_argument("--exec-log", required=True)
    ap.add_argument("--token-log", required=True)
    ap.add_argument("--addresses", type=int, default=2)
    a = ap.parse_args()
    plan = json.loads(a.plan)
    exec_log = open(a.exec_log, "w")
    token_log = open(a.token_log, "w")
    servers = []
    for _ in range(a.addresses):
        s = Server(("127.0.0.1", 0), Handler)
        s.plan, s.exec_log, s.token_log = plan, exec_log, token_log
        servers.append(s)
        threading.Thread(target=s.serve_forever, daemon=True).start()
    print(" ".join(str(s.server_address[1]) for s in servers), flush=True)
    while True:  # until the recorder stops it by its PID
        time.sleep(3600)


if __name__ == "__main__":
    main()

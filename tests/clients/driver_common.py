"""What every Python driver shares: the scenario steps, the token request, the intent log.

A driver is the application: it walks the scenario's steps, sends each logical call
through its HTTP library (whose own retry logic re-sends silently, keeping the call's
X-Call-Id header `CALL.ATTEMPT`), and writes one intent line per send IT made: which
call, which application attempt, whether the application itself re-sent and why, and what
the library finally returned. The library's silent re-sends are not the application's: the
server's execution log shows them (same X-Call-Id).
"""
import json, os, sys, time

SECRET = "cs-eval-2026"


class App:
    def __init__(self, client, scenario, intent_path):
        # DRIVER_RUN=N (N > 1): another application on the same host (record.py's "runs"):
        # client id eval-CLIENT-N, call ids prefixed rN-.
        run = os.environ.get("DRIVER_RUN", "1")
        self.client = client if run == "1" else "%s-%s" % (client, run)
        self.prefix = "" if run == "1" else "r%s-" % run
        self.steps = json.load(open(__file__.rsplit("/", 1)[0] + "/scenarios.json"))[scenario]["steps"]
        self.intent = open(intent_path, "a")
        self.seq = 0
        self.attempts = {}
        self.token_n = 0

    def token_header(self):
        return "%stoken.%d" % (self.prefix, self.token_n)

    def token_form(self):
        self.token_n += 1
        return "grant_type=client_credentials&client_id=eval-%s&client_secret=%s" % (self.client, SECRET)

    def write(self, **rec):
        self.seq += 1
        rec = {"seq": self.seq, "time_us": int(time.time() * 1e6), "client": self.client, **rec}
        self.intent.write(json.dumps(rec) + "\n")
        self.intent.flush()

    def run(self, send, refresh):
        """send(method, path, body_bytes, call_header) -> status or raises; refresh() -> None."""
        calls = {}
        refresh_reason = "token"
        refresh()
        self.write(call="%stoken.1" % self.prefix, role="auth", app_resend=False, why="first token")
        for st in self.steps:
            if st["op"] == "sleep":
                time.sleep(st["s"])
                continue
            if st["op"] == "call":
                calls[st["id"]] = st
                why, resend = "first send", False
            else:
                why, resend = st["why"], True
            c = calls[st["id"]]
            self.send_logged(send, refresh, c, why, resend)

    def send_logged(self, send, refresh, c, why, resend):
        cid = self.prefix + c["id"]
        n = self.attempts.get(cid, 0) + 1
        self.attempts[cid] = n
        method = c.get("method", "POST")
        body = json.dumps(c["body"]).encode()
        t = int(time.time() * 1e6)
        try:
            result = send(method, c["path"], body, "%s.%d" % (cid, n))
        except Exception as e:  # the library gave up: the application logs it and goes on
            result = "error: %s" % type(e).__name__
        self.write(call=cid, attempt=n, role="mutation", method=method, path=c["path"], body=c["body"],
                   app_resend=resend, why=why, result=result, sent_us=t)
        if result == 401:  # the application refreshes its token and re-sends (its own code)
            refresh()
            self.write(call="%stoken.%d" % (self.prefix, self.token_n), role="auth", app_resend=False,
                       why="refresh after 401 invalid_token on %s.%d" % (cid, n))
            self.send_logged(send, refresh, c, "refresh-after-401: re-sent with the new token", True)


def args():
    # driver.py SCENARIO INTENT_PATH BASE_URL [BASE_URL...]
    return sys.argv[1], sys.argv[2], sys.argv[3:]

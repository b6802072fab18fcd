"""requests.Session wrapped in tenacity's @retry, as tenacity's docs show: stop after 3
attempts, exponential wait, retry on requests' ConnectionError/Timeout and on a 429/503
result; each attempt goes to the next server address (failover), timeout 0.8 s."""
import json, requests
from tenacity import retry, stop_after_attempt, wait_exponential, retry_if_exception_type, retry_if_result
from driver_common import App, args

scenario, intent, bases = args()
app = App("tenacity", scenario, intent)
s = requests.Session()
token = {}


def refresh():
    r = s.post(bases[0] + "/oauth/token", data=app.token_form(), headers={"X-Call-Id": app.token_header()}, timeout=2)
    token["v"] = r.json()["access_token"]


attempt = {"n": 0}


@retry(stop=stop_after_attempt(3), wait=wait_exponential(multiplier=0.2, max=1.5),
       retry=retry_if_exception_type((requests.ConnectionError, requests.Timeout))
       | retry_if_result(lambda r: r.status_code in (429, 503)), retry_error_callback=lambda st: st.outcome.result())
def attempt_send(method, path, body, call):
    base = bases[attempt["n"] % len(bases)]  # fail over to the next address on every attempt
    attempt["n"] += 1
    return s.request(method, base + path, data=body, timeout=0.8, headers={
        "Content-Type": "application/json", "Authorization": "Bearer " + token["v"], "X-Call-Id": call})


def send(method, path, body, call):
    attempt["n"] = 0
    return attempt_send(method, path, body, call).status_code


app.run(send, refresh)

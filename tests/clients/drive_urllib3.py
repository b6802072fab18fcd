"""urllib3 PoolManager with its own Retry, configured as its docs say for an API client:
retries on connection errors, read timeouts and 429/503 (honouring Retry-After), for every
method (allowed_methods=None: the application says its POSTs may be retried)."""
import json, urllib3
from urllib3.util import Retry, Timeout
from driver_common import App, args

scenario, intent, bases = args()
app = App("urllib3", scenario, intent)
retry = Retry(total=3, connect=2, read=2, status=2, status_forcelist=[429, 503], allowed_methods=None,
              backoff_factor=0.1, respect_retry_after_header=True, raise_on_status=False)
http = urllib3.PoolManager(retries=retry, timeout=Timeout(connect=2.0, read=0.8), maxsize=1)
token = {}


def refresh():
    r = http.request("POST", bases[0] + "/oauth/token", body=app.token_form(),
                     headers={"Content-Type": "application/x-www-form-urlencoded", "X-Call-Id": app.token_header()})
    token["v"] = json.loads(r.data)["access_token"]


def send(method, path, body, call):
    r = http.request(method, bases[0] + path, body=body, headers={
        "Content-Type": "application/json", "Authorization": "Bearer " + token["v"], "X-Call-Id": call})
    return r.status


app.run(send, refresh)

"""aiohttp with aiohttp-retry's RetryClient as its README shows: ExponentialRetry(attempts=3)
on 429/503 and on client errors and timeouts (ServerDisconnectedError, TimeoutError), for
every method; total timeout 0.8 s per attempt."""
import asyncio, json, aiohttp
from aiohttp_retry import RetryClient, ExponentialRetry
from driver_common import App, args

scenario, intent, bases = args()
app = App("aiohttp", scenario, intent)


async def main():
    opts = ExponentialRetry(attempts=3, start_timeout=0.2, statuses={429, 503},
                            exceptions={aiohttp.ClientError, asyncio.TimeoutError},
                            methods={"POST", "PUT", "DELETE", "GET"})
    conn = aiohttp.TCPConnector(limit=1)
    async with RetryClient(retry_options=opts, connector=conn, timeout=aiohttp.ClientTimeout(total=0.8)) as c:
        token = {}
        loop = asyncio.get_running_loop()

        async def refresh_async():
            async with c.post(bases[0] + "/oauth/token", data=app.token_form(),
                              headers={"Content-Type": "application/x-www-form-urlencoded",
                                       "X-Call-Id": app.token_header()}) as r:
                token["v"] = (await r.json())["access_token"]

        async def send_async(method, path, body, call):
            async with c.request(method, bases[0] + path, data=body, headers={
                    "Content-Type": "application/json", "Authorization": "Bearer " + token["v"],
                    "X-Call-Id": call}) as r:
                await r.read()
                return r.status

        # App.run is synchronous: run it in a thread that hands each request to this loop.
        def refresh():
            asyncio.run_coroutine_threadsafe(refresh_async(), loop).result()

        def send(*a):
            return asyncio.run_coroutine_threadsafe(send_async(*a), loop).result()

        await loop.run_in_executor(None, app.run, send, refresh)


asyncio.run(main())

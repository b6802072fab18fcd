// Node `got` as its README shows: `retry` (limit 2, POST included, 429/503, its default
// error codes such as ETIMEDOUT and ECONNRESET; Retry-After honoured), `timeout.request`
// 800 ms, and the README's `afterResponse` hook that fetches a new token on 401 and calls
// `retryWithMergedOptions`. The application's intent log is written like driver_common.py's.
// node drive_got.mjs SCENARIO INTENT_PATH BASE_URL [BASE_URL...]
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import got from './node/node_modules/got/dist/source/index.js';

const [scenario, intentPath, ...bases] = process.argv.slice(2);
const here = path.dirname(fileURLToPath(import.meta.url));
const steps = JSON.parse(fs.readFileSync(path.join(here, 'scenarios.json'), 'utf8'))[scenario].steps;
const out = fs.openSync(intentPath, 'a');
// DRIVER_RUN=N (N > 1): another application on the same host (record.py's "runs").
const run = process.env.DRIVER_RUN || '1';
const client = run === '1' ? 'got' : `got-${run}`;
const prefix = run === '1' ? '' : `r${run}-`;
let seq = 0;
let tokenN = 0;
const write = (rec) => {
  seq += 1;
  fs.writeSync(out, JSON.stringify({ seq, time_us: Date.now() * 1000, client, ...rec }) + '\n');
};

const fetchToken = async (why) => {
  tokenN += 1;
  const r = await got.post(bases[0] + '/oauth/token', {
    body: `grant_type=client_credentials&client_id=eval-${client}&client_secret=cs-eval-2026`,
    headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-call-id': `${prefix}token.${tokenN}` },
  }).json();
  write({ call: `${prefix}token.${tokenN}`, role: 'auth', app_resend: false, why });
  return r.access_token;
};

const api = got.extend({
  prefixUrl: bases[0],
  throwHttpErrors: false,
  timeout: { request: 800 },
  retry: { limit: 2, methods: ['GET', 'PUT', 'POST', 'DELETE'], statusCodes: [429, 503], backoffLimit: 1500, maxRetryAfter: 2000 },
  hooks: {
    afterResponse: [
      async (response, retryWithMergedOptions) => {
        if (response.statusCode === 401) {
          const token = await fetchToken(`the afterResponse hook refreshes after 401 on ${response.request.options.headers['x-call-id']}`);
          const updatedOptions = { headers: { authorization: `Bearer ${token}` } };
          api.defaults.options.merge(updatedOptions);
          return retryWithMergedOptions(updatedOptions);
        }
        return response;
      },
    ],
  },
  mutableDefaults: true,
});

const main = async () => {
  const token = await fetchToken('first token');
  api.defaults.options.merge({ headers: { authorization: `Bearer ${token}` } });
  const calls = {};
  const attempts = {};
  for (const st of steps) {
    if (st.op === 'sleep') { await new Promise((r) => setTimeout(r, st.s * 1000)); continue; }
    let why = 'first send';
    let resend = false;
    if (st.op === 'call') calls[st.id] = st; else { why = st.why; resend = true; }
    const c = calls[st.id];
    const id = prefix + c.id;
    attempts[id] = (attempts[c.id] || 0) + 1;
    const method = c.method || 'POST';
    const sent = Date.now() * 1000;
    let result;
    try {
      const r = await api(c.path.slice(1), {
        method, body: JSON.stringify(c.body),
        headers: { 'content-type': 'application/json', 'x-call-id': `${id}.${attempts[id]}` },
      });
      result = r.statusCode;
    } catch (e) {
      result = `error: ${e.code || e.name}`;
    }
    write({ call: id, attempt: attempts[id], role: 'mutation', method, path: c.path, body: c.body,
      app_resend: resend, why, result, sent_us: sent });
  }
};
main().then(() => process.exit(0), (e) => { console.error(e); process.exit(1); });

// Apache HttpClient 4 (Debian's libhttpclient-java) as its docs configure retries:
// DefaultHttpRequestRetryHandler(2, requestSentRetryEnabled=true) re-sends after an I/O
// error even when the request was sent (NoHttpResponseException, connection reset; never
// after a socket timeout: InterruptedIOException is non-retriable), and a
// ServiceUnavailableRetryStrategy retries 429/503 after Retry-After. Socket timeout 800 ms.
// The application refreshes its token after a 401 and re-sends (like driver_common.py).
// java DriveHttpClient SCENARIO INTENT_PATH BASE_URL [BASE_URL...], with the scenario's steps in the
// file $STEPS_TSV (record.py writes it from scenarios.json): call ID METHOD PATH BODY | again ID WHY | sleep S
import java.io.*;
import java.nio.charset.StandardCharsets;
import java.nio.file.*;
import java.util.*;
import org.apache.http.*;
import org.apache.http.client.ServiceUnavailableRetryStrategy;
import org.apache.http.client.config.RequestConfig;
import org.apache.http.client.methods.*;
import org.apache.http.entity.ContentType;
import org.apache.http.entity.StringEntity;
import org.apache.http.impl.client.*;
import org.apache.http.impl.conn.PoolingHttpClientConnectionManager;
import org.apache.http.protocol.HttpContext;
import org.apache.http.util.EntityUtils;

public class DriveHttpClient {
    static final String SECRET = "cs-eval-2026";
    static Writer intent;
    static int seq = 0, tokenN = 0;
    static String client, prefix, token, base;
    static CloseableHttpClient http;
    static Map<String, Integer> attempts = new HashMap<>();

    /** Retries 429 and 503 up to twice, waiting what Retry-After says (default 1 s). */
    static class RetryAfterStrategy implements ServiceUnavailableRetryStrategy {
        long interval = 1000;
        public boolean retryRequest(HttpResponse r, int count, HttpContext ctx) {
            int code = r.getStatusLine().getStatusCode();
            Header h = r.getFirstHeader("Retry-After");
            interval = h == null ? 1000 : Long.parseLong(h.getValue().trim()) * 1000;
            return count <= 2 && (code == 429 || code == 503);
        }
        public long getRetryInterval() { return interval; }
    }

    static String q(String s) { return "\"" + s.replace("\\", "\\\\").replace("\"", "\\\"") + "\""; }

    static void write(String fields) throws IOException {
        seq++;
        intent.write("{\"seq\": " + seq + ", \"time_us\": " + System.currentTimeMillis() * 1000
            + ", \"client\": " + q(client) + ", " + fields + "}\n");
        intent.flush();
    }

    static void refresh(String why) throws IOException {
        tokenN++;
        HttpPost p = new HttpPost(base + "/oauth/token");
        p.setHeader("X-Call-Id", prefix + "token." + tokenN);
        p.setEntity(new StringEntity("grant_type=client_credentials&client_id=eval-" + client
            + "&client_secret=" + SECRET, ContentType.APPLICATION_FORM_URLENCODED));
        try (CloseableHttpResponse r = http.execute(p)) {
            String body = EntityUtils.toString(r.getEntity());
            int i = body.indexOf("\"access_token\": \"") + 17;
            token = body.substring(i, body.indexOf('"', i));
        }
        write("\"call\": " + q(prefix + "token." + tokenN) + ", \"role\": \"auth\", \"app_resend\": false, \"why\": " + q(why));
    }

    static void send(String[] c, String why, boolean resend) throws Exception {
        String id = prefix + c[1];
        int n = attempts.merge(id, 1, Integer::sum);
        HttpEntityEnclosingRequestBase req = c[2].equals("PUT") ? new HttpPut(base + c[3]) : new HttpPost(base + c[3]);
        req.setHeader("Authorization", "Bearer " + token);
        req.setHeader("X-Call-Id", id + "." + n);
        req.setEntity(new StringEntity(c[4], ContentType.APPLICATION_JSON));
        long sent = System.currentTimeMillis() * 1000;
        String result;
        try (CloseableHttpResponse r = http.execute(req)) {
            EntityUtils.consume(r.getEntity());
            result = String.valueOf(r.getStatusLine().getStatusCode());
        } catch (IOException e) {
            result = q("error: " + e.getClass().getSimpleName());
        }
        write("\"call\": " + q(id) + ", \"attempt\": " + n + ", \"role\": \"mutation\", \"method\": " + q(c[2])
            + ", \"path\": " + q(c[3]) + ", \"body\": " + c[4] + ", \"app_resend\": " + resend + ", \"why\": " + q(why)
            + ", \"result\": " + result + ", \"sent_us\": " + sent);
        if (result.equals("401")) {
            refresh("refresh after 401 invalid_token on " + id + "." + n);
            send(c, "refresh-after-401: re-sent with the new token", true);
        }
    }

    public static void main(String[] a) throws Exception {
        String run = System.getenv().getOrDefault("DRIVER_RUN", "1");
        client = run.equals("1") ? "httpclient" : "httpclient-" + run;
        prefix = run.equals("1") ? "" : "r" + run + "-";
        base = a[2];
        intent = new OutputStreamWriter(new FileOutputStream(a[1], true), StandardCharsets.UTF_8);
        PoolingHttpClientConnectionManager cm = new PoolingHttpClientConnectionManager();
        cm.setMaxTotal(1);
        cm.setDefaultMaxPerRoute(1);
        http = HttpClients.custom()
            .setConnectionManager(cm)
            .setDefaultRequestConfig(RequestConfig.custom().setSocketTimeout(800).setConnectTimeout(2000).build())
            .setRetryHandler(new DefaultHttpRequestRetryHandler(2, true))
            .setServiceUnavailableRetryStrategy(new RetryAfterStrategy())
            .build();
        refresh("first token");
        Map<String, String[]> calls = new HashMap<>();
        for (String line : Files.readAllLines(Paths.get(System.getenv("STEPS_TSV")), StandardCharsets.UTF_8)) {
            String[] f = line.split("\t");
            if (f[0].equals("sleep")) { Thread.sleep((long) (Double.parseDouble(f[1]) * 1000)); continue; }
            if (f[0].equals("call")) { calls.put(f[1], f); send(f, "first send", false); }
            else send(calls.get(f[1]), f[2], true);
        }
        intent.close();
        http.close();
    }
}

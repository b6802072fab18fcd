#!/usr/bin/env python3
"""Re-records the accuracy fixtures (docs/accuracy.md): for each client and scenario, starts
api_server.py on two free 127.0.0.1 ports, tcpdump on `lo` filtered to those ports, runs
the client's driver, waits for late answers, stops both by PID and writes
fixtures/CLIENT-SCENARIO.{pcap,intent.jsonl,exec.jsonl,tokens.jsonl}.

    python3 tests/clients/record.py [--out DIR] [CLIENT[:SCENARIO] ...]

Needs tcpdump (and the right to capture on lo), python3, node, javac with Debian's
libhttpclient-java, and the libraries that tests/clients/setup.sh installs into tests/clients/.py and
tests/clients/node.
"""
import json, os, signal, subprocess, sys, tempfile, time

HERE = os.path.dirname(os.path.abspath(__file__))
PY = [sys.executable]
CLIENTS = {
    "urllib3": PY + [os.path.join(HERE, "drive_urllib3.py")],
    "tenacity": PY + [os.path.join(HERE, "drive_tenacity.py")],
    "aiohttp": PY + [os.path.join(HERE, "drive_aiohttp.py")],
    "got": ["node", os.path.join(HERE, "drive_got.mjs")],
    "httpclient": ["java", "-Dorg.apache.commons.logging.Log=org.apache.commons.logging.impl.NoOpLog", "-cp", None, "DriveHttpClient"],  # classpath: java_classpath()
}
JARS = ["httpclient", "httpcore", "commons-logging", "commons-codec"]  # Debian's /usr/share/java
SCENARIOS = json.load(open(os.path.join(HERE, "scenarios.json")))


def java_classpath():
    """Compiles java/DriveHttpClient.java into .java/ (once) and returns the classpath."""
    classes = os.path.join(HERE, ".java")
    src = os.path.join(HERE, "java", "DriveHttpClient.java")
    jars = ":".join("/usr/share/java/%s.jar" % j for j in JARS)
    cls = os.path.join(classes, "DriveHttpClient.class")
    if not os.path.exists(cls) or os.path.getmtime(cls) < os.path.getmtime(src):
        os.makedirs(classes, exist_ok=True)
        subprocess.run(["javac", "-nowarn", "-d", classes, "-cp", jars, src], check=True)
    return classes + ":" + jars


def steps_tsv(scenario):
    """The scenario's steps for the Java driver, which has no JSON parser."""
    f = tempfile.NamedTemporaryFile("w", suffix=".tsv", delete=False)
    for st in SCENARIOS[scenario]["steps"]:
        if st["op"] == "call":
            f.write("call\t%s\t%s\t%s\t%s\n" % (st["id"], st.get("method", "POST"), st["path"], json.dumps(st["body"])))
        elif st["op"] == "again":
            f.write("again\t%s\t%s\n" % (st["id"], st["why"]))
        else:
            f.write("sleep\t%s\n" % st["s"])
    f.close()
    return f.name


def record(client, scenario, out):
    stem = os.path.join(out, "%s-%s" % (client, scenario))
    env = dict(os.environ, PYTHONPATH=os.path.join(HERE, ".py") + os.pathsep + HERE, STEPS_TSV=steps_tsv(scenario))
    driver = [java_classpath() if a is None else a for a in CLIENTS[client]]
    plan = json.dumps(SCENARIOS[scenario]["plan"])
    server = subprocess.Popen(PY + [os.path.join(HERE, "api_server.py"), "--plan", plan,
                                    "--exec-log", stem + ".exec.jsonl", "--token-log", stem + ".tokens.jsonl"],
                              stdout=subprocess.PIPE, text=True)
    ports = server.stdout.readline().split()
    flt = " or ".join("tcp port %s" % p for p in ports)
    dump = subprocess.Popen(["tcpdump", "-i", "lo", "-U", "-n", "-w", stem + ".pcap", flt],
                            stderr=subprocess.PIPE, text=True)
    line = dump.stderr.readline()
    assert "listening" in line, "tcpdump: " + line
    time.sleep(0.3)
    bases = ["http://127.0.0.1:%s" % p for p in ports]
    if os.path.exists(stem + ".intent.jsonl"):
        os.remove(stem + ".intent.jsonl")
    rc = 0
    try:
        for run in range(1, SCENARIOS[scenario].get("runs", 1) + 1):
            env["DRIVER_RUN"] = str(run)
            cmd = driver + [scenario, stem + ".intent.jsonl"] + bases
            rc = rc or subprocess.run(cmd, env=env, timeout=60).returncode
    finally:
        time.sleep(2.0)  # late answers and closes reach the capture
        server.kill()
        server.wait()
        time.sleep(0.3)
        dump.send_signal(signal.SIGINT)
        dump.wait(timeout=10)
        os.remove(env["STEPS_TSV"])
    print("%-10s %-14s driver rc=%d" % (client, scenario, rc), flush=True)
    return rc


def main():
    argv = sys.argv[1:]
    out = os.path.join(HERE, "fixtures")
    if argv[:1] == ["--out"]:
        out, argv = argv[1], argv[2:]
    os.makedirs(out, exist_ok=True)
    todo = [(c, s) for c in CLIENTS for s in SCENARIOS]
    if argv:
        todo = [(c, s) for c, s in todo if any(a == c or a == "%s:%s" % (c, s) for a in argv)]
    failed = sum(record(c, s, out) != 0 for c, s in todo)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Re-records the accuracy fixtures (docs/accuracy.md): for each client and scenario, starts
api_server.py on two free 127.0.0.1 ports, tcpdump on `lo` filtered to those ports, runs
the client's driver, waits for late answers, stops both by PID and writes
fixtures/CLIENT-SCENARIO.{pcap,intent.jsonl,exec.jsonl,tokens.jsonl}.

    python3 tests/clients/record.py [--out DIR] [CLIENT[:SCENARIO] ...]

Needs tcpdump (and the right to capture on lo), python3, node, and the libraries that
.ci/run installs into tests/clients/.py and tests/clients/node.
"""
import json, os, signal, subprocess, sys, time

HERE = os.path.dirname(os.path.abspath(__file__))
PY = [sys.executable]
CLIENTS = {
    "urllib3": PY + [os.path.join(HERE, "drive_urllib3.py")],
    "tenacity": PY + [os.path.join(HERE, "drive_tenacity.py")],
    "aiohttp": PY + [os.path.join(HERE, "drive_aiohttp.py")],
    "got": ["node", os.path.join(HERE, "drive_got.mjs")],
}
SCENARIOS = json.load(open(os.path.join(HERE, "scenarios.json")))


def record(client, scenario, out):
    stem = os.path.join(out, "%s-%s" % (client, scenario))
    env = dict(os.environ, PYTHONPATH=os.path.join(HERE, ".py") + os.pathsep + HERE)
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
            cmd = CLIENTS[client] + [scenario, stem + ".intent.jsonl"] + bases
            rc = rc or subprocess.run(cmd, env=env, timeout=60).returncode
    finally:
        time.sleep(2.0)  # late answers and closes reach the capture
        server.kill()
        server.wait()
        time.sleep(0.3)
        dump.send_signal(signal.SIGINT)
        dump.wait(timeout=10)
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

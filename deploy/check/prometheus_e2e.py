#!/usr/bin/env python3
"""Proves the shipped observability works against a real Prometheus server.

Runs `acd demo` (engine + embedded simulator over wss on loopback) with metrics on a free port,
checks `/metrics` with `promtool check metrics`, starts a real Prometheus scraping the demo, and
then requires every query of the Grafana dashboard and every alert rule's signal (the
expression without its final threshold comparison) to return data. Exit status 0 only if all do.

Usage: prometheus_e2e.py PATH_TO_ACD_BINARY
"""
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.parse

from loopback import free_port, get  # deploy/check is on sys.path when run as a script

HERE = os.path.dirname(os.path.abspath(__file__))
DEPLOY = os.path.dirname(HERE)


def wait_http(url, deadline):
    while time.time() < deadline:
        try:
            return get(url)
        except Exception:
            time.sleep(0.3)
    raise SystemExit(f"FAIL: {url} did not answer in time")


def dashboard_queries():
    with open(os.path.join(DEPLOY, "grafana", "acd-dashboard.json")) as f:
        dash = json.load(f)
    for panel in dash["panels"]:
        for t in panel.get("targets", []):
            # The dashboard's variables, as "All" selects them.
            expr = t["expr"].replace("$instance", ".*").replace("$queue", ".*")
            yield f"dashboard: {panel['title']} [{t['refId']}]", expr


COMPARISON = re.compile(r"\s*(==|!=|<=|>=|<|>)\s*[0-9.eE+-]+\s*$")


# Signals a healthy demo may leave empty: they only have series once something happened that
# the demo does not force. The alert rules' unit tests (acd-alerts.test.yml) cover them.
MAY_BE_EMPTY = {
    # No call may have been sent to voicemail or overflow in the demo's first minutes.
    "acd_queue_exits_total",
}


def alert_signals():
    import yaml  # python3-yaml, installed by .ci/run when missing

    with open(os.path.join(DEPLOY, "prometheus", "acd-alerts.yml")) as f:
        groups = yaml.safe_load(f)["groups"]
    for group in groups:
        for rule in group["rules"]:
            name = rule.get("alert") or rule.get("record")
            expr = " ".join(rule["expr"].split())
            if expr.startswith("absent("):
                # absent() is empty exactly when all is well: check what it watches instead.
                expr = expr[len("absent("):-1]
            parts = re.split(r"\s+and\s+|\s+unless\s+|\s+or\s+", expr)
            for i, part in enumerate(parts):
                label = f"{'alert' if 'alert' in rule else 'record'}: {name}"
                if len(parts) > 1:
                    label += f" [part {i + 1}]"
                yield label, COMPARISON.sub("", part)


def main():
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    acd = sys.argv[1]
    metrics_port, prom_port = free_port(), free_port()
    work = tempfile.mkdtemp(prefix="acd-prom-")
    procs = []
    try:
        demo = subprocess.Popen(
            [acd, "demo", "--duration", "120s", "--metrics-addr", f"127.0.0.1:{metrics_port}",
             "--data-dir", os.path.join(work, "data")],
            stdout=subprocess.DEVNULL, stderr=open(os.path.join(work, "demo.log"), "w"))
        procs.append(demo)
        metrics_url = f"http://127.0.0.1:{metrics_port}/metrics"
        wait_http(metrics_url, time.time() + 60)
        time.sleep(8)  # let traffic flow so every family has samples
        body = get(metrics_url)
        check = subprocess.run(["promtool", "check", "metrics"], input=body, text=True,
                               capture_output=True)
        print("promtool check metrics:", check.returncode, (check.stdout + check.stderr).strip() or "clean")
        if check.returncode != 0:
            raise SystemExit("FAIL: /metrics does not pass promtool check metrics")

        cfg = os.path.join(work, "prometheus.yml")
        with open(cfg, "w") as f:
            f.write(
                "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
                f"rule_files:\n  - {os.path.join(DEPLOY, 'prometheus', 'acd-alerts.yml')}\n"
                "scrape_configs:\n  - job_name: acd\n    static_configs:\n"
                f"      - targets: ['127.0.0.1:{metrics_port}']\n")
        prom = subprocess.Popen(
            ["prometheus", f"--config.file={cfg}", f"--storage.tsdb.path={os.path.join(work, 'tsdb')}",
             f"--web.listen-address=127.0.0.1:{prom_port}"],
            stdout=subprocess.DEVNULL, stderr=open(os.path.join(work, "prometheus.log"), "w"))
        procs.append(prom)
        base = f"http://127.0.0.1:{prom_port}"
        wait_http(base + "/-/ready", time.time() + 60)

        queries = list(dashboard_queries()) + list(alert_signals())
        pending = dict(queries)
        deadline = time.time() + 90
        while pending and time.time() < deadline:
            for label, expr in list(pending.items()):
                url = base + "/api/v1/query?" + urllib.parse.urlencode({"query": expr})
                try:
                    res = json.loads(get(url))
                except Exception as e:  # noqa: BLE001 - report and retry
                    print(f"  query error for {label}: {e}")
                    continue
                if res.get("status") == "success" and res["data"]["result"]:
                    print(f"ok    {label}: {len(res['data']['result'])} series")
                    del pending[label]
            if pending:
                time.sleep(2)
        for label, expr in list(pending.items()):
            if any(m in expr for m in MAY_BE_EMPTY):
                print(f"empty {label}: allowed in a healthy demo: {expr}")
                del pending[label]
            else:
                print(f"EMPTY {label}: {expr}")
        if pending:
            raise SystemExit(f"FAIL: {len(pending)} of {len(queries)} queries returned no data")
        print(f"PASS: all {len(queries)} dashboard and alert queries return data")
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()


if __name__ == "__main__":
    main()

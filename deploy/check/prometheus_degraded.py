#!/usr/bin/env python3
"""Degraded runs against a real Prometheus: do the shipped alerts fire when a centre fails,
resolve when it recovers, and do the engine's counters equal the simulator's truth?

Usage: prometheus_degraded.py PATH/TO/acd

The engine (`acd run`) and the simulator (`acd sim`) run as an operator would run them, on
loopback, with a real Prometheus scraping the engine every second and evaluating the shipped
alert rules. Only the rules' `for:` durations are shortened to 5 s so the run takes about three
minutes; what the durations and thresholds mean is checked by the rules' unit tests
(`promtool test rules deploy/prometheus/acd-alerts.test.yml`). The run, in order:

1. IP Office unreachable at start: the engine starts before the simulator exists.
   AcdIpOfficeConnectionDown must fire.
2. The engine restarts with broken rule files (the last good version keeps running) and a dead
   primary endpoint in front of the simulator: AcdRulesFilesRefused must fire at once, and
   AcdIpOfficeConnectionDown must resolve although the primary's series stays 0 (failover).
3. The files are fixed: AcdRulesFilesRefused resolves.
4. Every agent is on do-not-disturb while callers arrive: AcdCallsWaitingNobodyTakesCalls and
   AcdServiceLevelBelowTarget must fire although all four agents are logged in.
5. The agents leave DND: AcdCallsWaitingNobodyTakesCalls resolves; callers are answered.
6. When the last call has ended, offered, answered and abandoned in Prometheus equal the
   simulator's own summary.

Exit status 0 only if every step holds.
"""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.parse

from loopback import free_port, get  # deploy/check is on sys.path when run as a script

HERE = os.path.dirname(os.path.abspath(__file__))
DEPLOY = os.path.dirname(HERE)
PASSWORD = "degraded-secret"

SCENARIO = """
# Four agents, all on do-not-disturb until t=55 s; one hunt group the engine routes alone.
[sim]
seed = 7
answer_delay = { dist = "fixed", s = 1 }
no_answer_probability = 0
wrap_up = { dist = "fixed", s = 1 }
trace_file = "calls.csv"

[[service_user]]
name = "acd"
password = "%s"
%s
[[queue]]
name = "Sales"
extn = "3001"
members = ["2001", "2002", "2003", "2004"]
disabled_members = ["2001", "2002", "2003", "2004"]

[queue.traffic]
calls_per_hour = 0
talk = { dist = "fixed", s = 3 }
%s
"""

RULES = """
[settings]
utc_offset = "+00:00"
default_wrap_up = "1s"

[skills]
sales = "Sells"

%s
[queues.Sales]
strategy = "longest-idle"
service_level = ["20s"]
agents = ["2001", "2002", "2003", "2004"]

[[routes]]
name = "Everyone"
queue = "Sales"
requires = "sales >= 1"
"""

CONFIG = """
[pbx]
endpoints = [%s]
username = "acd"
password = "%s"
request_timeout = "3s"

[pbx.tls]
# The simulator here serves plain ws:// on loopback: a lab setting, warned about at start.
allow_plain_ws = true

[routing]
queues = ["Sales"]
rules_dir = "%s"
watch_rules = true

[storage]
data_dir = "%s"

[metrics]
listen = "127.0.0.1:%d"

[log]
format = "text"
level = "info"

[shutdown]
drain_timeout = "2s"
"""


def wait_for(what, check, timeout):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if check():
                print(f"ok    {what}")
                return
        except Exception:  # noqa: BLE001 - not up yet; retry until the deadline
            pass
        time.sleep(1)
    raise SystemExit(f"FAIL: {what} (not within {timeout} s)")


class Prometheus:
    def __init__(self, base):
        self.base = base

    def alerts(self):
        data = json.loads(get(self.base + "/api/v1/alerts"))["data"]["alerts"]
        return {(a["labels"]["alertname"], a["state"]) for a in data}

    def firing(self, name):
        return (name, "firing") in self.alerts()

    def quiet(self, name):
        return not any(n == name for n, _ in self.alerts())

    def value(self, query):
        url = self.base + "/api/v1/query?" + urllib.parse.urlencode({"query": query})
        result = json.loads(get(url))["data"]["result"]
        return float(result[0]["value"][1]) if result else None


def write(path, text):
    with open(path, "w") as f:
        f.write(text)


def main():
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    acd = os.path.abspath(sys.argv[1])
    work = tempfile.mkdtemp(prefix="acd-degraded-")
    procs = []
    sim_port, dead_port, metrics_port, prom_port = (free_port() for _ in range(4))

    users = "".join(
        f'\n[[user]]\nextn = "{e}"\nname = "{n}"\ndnd = true\n' for e, n in
        [("2001", "Anna"), ("2002", "Ben"), ("2003", "Clara"), ("2004", "David")])
    schedule = "".join(
        f'\n[[schedule]]\nat_s = 55\nuser = "{e}"\naction = "dnd_off"\n'
        for e in ("2001", "2002", "2003", "2004"))
    write(os.path.join(work, "scenario.toml"), SCENARIO % (PASSWORD, users, schedule))
    # While everyone is on DND: 15 callers with 15 s of patience abandon. After: 10 callers
    # who never hang up are answered.
    lines = ["at_s,queue,language,tag,patience_s"]
    lines += [f"{3 + 3 * i}.0,Sales,eng,,15" for i in range(15)]
    lines += [f"{60 + 4 * i}.0,Sales,eng,," for i in range(10)]
    write(os.path.join(work, "calls.csv"), "\n".join(lines) + "\n")
    rules_dir = os.path.join(work, "rules")
    os.mkdir(rules_dir)
    agents = "".join(f'[agents.{e}]\nskills = {{ sales = 5 }}\n\n'
                     for e in ("2001", "2002", "2003", "2004"))
    good_rules = RULES % agents
    write(os.path.join(rules_dir, "rules.toml"), good_rules)

    # The shipped rules with every `for:` shortened (see the module doc).
    with open(os.path.join(DEPLOY, "prometheus", "acd-alerts.yml")) as f:
        fast_rules = re.sub(r"(?m)^(\s+for:) \S+$", r"\1 5s", f.read())
    write(os.path.join(work, "alerts.yml"), fast_rules)
    write(os.path.join(work, "prometheus.yml"),
          "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
          f"rule_files:\n  - {os.path.join(work, 'alerts.yml')}\n"
          "scrape_configs:\n  - job_name: acd\n    static_configs:\n"
          f"      - targets: ['127.0.0.1:{metrics_port}']\n")

    def engine(name, endpoints):
        cfg = os.path.join(work, f"{name}.toml")
        write(cfg, CONFIG % (", ".join(f'"ws://127.0.0.1:{p}"' for p in endpoints), PASSWORD,
                             rules_dir, os.path.join(work, "data"), metrics_port))
        p = subprocess.Popen([acd, "run", "--config", cfg], stdout=subprocess.DEVNULL,
                             stderr=open(os.path.join(work, f"{name}.log"), "w"))
        procs.append(p)
        return p

    try:
        prom_proc = subprocess.Popen(
            ["prometheus", f"--config.file={os.path.join(work, 'prometheus.yml')}",
             f"--storage.tsdb.path={os.path.join(work, 'tsdb')}",
             f"--web.listen-address=127.0.0.1:{prom_port}"],
            stdout=subprocess.DEVNULL, stderr=open(os.path.join(work, "prometheus.log"), "w"))
        procs.append(prom_proc)
        prom = Prometheus(f"http://127.0.0.1:{prom_port}")
        wait_for("Prometheus is ready", lambda: get(prom.base + "/-/ready"), 60)

        # 1. IP Office unreachable at start.
        first = engine("engine-1", [sim_port])
        wait_for("1. never connected: AcdIpOfficeConnectionDown fires",
                 lambda: prom.firing("AcdIpOfficeConnectionDown"), 60)
        first.send_signal(signal.SIGTERM)
        first.wait(timeout=30)

        # 2. Restart with broken files and a dead primary; the simulator is up now.
        write(os.path.join(rules_dir, "rules.toml"), good_rules + "\n[queues.Sales\n")
        sim = subprocess.Popen(
            [acd, "sim", "--plain", "--listen", f"127.0.0.1:{sim_port}",
             "--scenario", os.path.join(work, "scenario.toml"), "--duration", "125s"],
            stdout=subprocess.PIPE, stderr=open(os.path.join(work, "sim.log"), "w"), text=True)
        procs.append(sim)
        started = time.time()
        engine("engine-2", [dead_port, sim_port])
        wait_for("2. rules invalid at start: AcdRulesFilesRefused fires",
                 lambda: prom.firing("AcdRulesFilesRefused"), 30)
        wait_for("2. failover to the secondary: AcdIpOfficeConnectionDown resolves",
                 lambda: prom.quiet("AcdIpOfficeConnectionDown")
                 and prom.value(f'acd_pbx_connected{{pbx="ws://127.0.0.1:{dead_port}"}}') == 0,
                 45)

        # 3. The files are fixed.
        write(os.path.join(rules_dir, "rules.toml"), good_rules)
        wait_for("3. rules fixed: AcdRulesFilesRefused resolves",
                 lambda: prom.quiet("AcdRulesFilesRefused"), 30)

        # 4. All agents on DND, callers waiting and abandoning.
        wait_for("4. all on DND: agents logged in 4, taking calls 0",
                 lambda: prom.value('acd_queue_agents_logged_in{queue="Sales"}') == 4
                 and prom.value('acd_queue_agents_staffed{queue="Sales"}') == 0, 30)
        wait_for("4. all on DND: AcdCallsWaitingNobodyTakesCalls fires",
                 lambda: prom.firing("AcdCallsWaitingNobodyTakesCalls"),
                 max(5, 50 - (time.time() - started)))
        wait_for("4. nobody answered: AcdServiceLevelBelowTarget fires",
                 lambda: prom.firing("AcdServiceLevelBelowTarget"),
                 max(5, 75 - (time.time() - started)))

        # 5. Agents back: nobody waits unattended any more.
        wait_for("5. DND off: AcdCallsWaitingNobodyTakesCalls resolves",
                 lambda: prom.quiet("AcdCallsWaitingNobodyTakesCalls"),
                 max(5, 90 - (time.time() - started)))

        # 6. The simulator's truth, once its last call has ended.
        out, _ = sim.communicate(timeout=180)
        truth = json.loads(out.strip().splitlines()[-1])
        sales = truth["queues"]["Sales"]
        time.sleep(3)  # the last scrape after the last notify
        for counter in ("offered", "answered", "abandoned"):
            exported = prom.value(f'acd_queue_calls_{counter}_total{{queue="Sales"}}')
            print(f"      {counter}: Prometheus {exported}, simulator {sales[counter]}")
            if exported != sales[counter]:
                raise SystemExit(f"FAIL: 6. {counter} in Prometheus is {exported}, "
                                 f"the simulator says {sales[counter]}")
        print("ok    6. offered, answered and abandoned equal the simulator's truth")
        print("PASS: alerts fire and resolve as the centre fails and recovers")
    except SystemExit:
        for name in ("engine-1.log", "engine-2.log", "sim.log"):
            path = os.path.join(work, name)
            if os.path.exists(path):
                print(f"--- {name} (last lines)")
                with open(path) as f:
                    print("".join(f.readlines()[-15:]))
        raise
    finally:
        for p in procs:
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    p.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Injected region drill vs the same fault injected by hand (issue 15), N times each.

    bench/failover/drill_vs_hand.py [--runs 5] [--fail-seconds 20] [--bin build/bin]

Starts membersim (examples/topology-3-continents.yaml) and federation-apiserver (SQLite, all
controllers, drill samples every 250 ms) on free loopback ports, applies the three-continents
example (30 replicas of shop/web, recovery delay 2 s), then alternates, RUNS times each:

  drill  `fedctl drill run --target region=eu-west --mode live --failure injected`: the drill
         injects membersim's region fault (refuse) and only observes; its report gives time to
         detect / re-place / full-ready and the lowest availability.
  hand   the same fault through membersim's admin API (`membersim ctl fail-region eu-west
         --mode refuse`), nothing told to Meridian; this script measures the same figures from
         outside: detected = the MemberCluster first showing Reachable=False (polled every
         20 ms; its lastTransitionTime is only to the second); re-placed = the first poll with
         no replica placed on eu-west-1; full-ready = after that, the ready replicas the
         members hold where the placement wants them reach 30.

During every run a sampler reads the members themselves (each member's Deployments, every
150 ms; a member that refuses counts nothing ready, as for the drill), independently of the
drill: the drill report's lowest availability is compared with the lowest it saw. Every
eu-west-1 object's uid is recorded before each run and compared after the heal: a deleted and
recreated target object would show up as a changed uid.

Prints one line per run and the medians, and exits 1 when a median pair differs by more than
10 % (and more than the 250 ms sampling resolution), when a drill's lowest availability differs
from the sampler's, or when a target object was deleted. Bounded: every wait has a timeout, and
everything started is stopped by pid on exit. Not run in CI (about 1 minute per pair of runs).
"""
import argparse
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
WORKLOAD_LABEL = "federation.meridian.io/workload"
TARGET_CLUSTER = "eu-west-1"
DESIRED = 30


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def get_json(url, timeout=1.0):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return json.loads(r.read())


def post(url, body=""):
    req = urllib.request.Request(url, data=body.encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=5) as r:
        return r.read()


def wait_until(what, fn, limit, every=0.1):
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        try:
            v = fn()
            if v:
                return v
        except (urllib.error.URLError, OSError, ValueError, KeyError):
            pass
        time.sleep(every)
    raise SystemExit(f"drill_vs_hand: timed out after {limit}s waiting for {what}")


class Federation:
    def __init__(self, bin_dir, workdir):
        self.bin = bin_dir
        self.dir = workdir
        self.procs = []
        sim_port, api_port = free_port(), free_port()
        self.sim = f"http://127.0.0.1:{sim_port}"
        self.api = f"http://127.0.0.1:{api_port}"
        self._start([f"{bin_dir}/membersim", "--config",
                     f"{ROOT}/examples/topology-3-continents.yaml", "--listen",
                     f"127.0.0.1:{sim_port}"], "membersim.log")
        wait_until("membersim", lambda: get_json(self.sim + "/admin/status"), 30)
        self._start([f"{bin_dir}/federation-apiserver", "--listen", f"127.0.0.1:{api_port}",
                     "--storage", f"sqlite:{workdir}/fed.db", "--controllers", "all",
                     "--drill-sample-interval-ms", "250"], "apiserver.log")
        wait_until("federation-apiserver", lambda: urllib.request.urlopen(
            self.api + "/readyz", timeout=1).status == 200, 60)
        src = f"{ROOT}/examples/three-continents"
        with open(f"{src}/members.yaml") as f:
            members = f.read().replace("127.0.0.1:18080", f"127.0.0.1:{sim_port}")
        with open(f"{workdir}/members.yaml", "w") as f:
            f.write(members)
        with open(f"{src}/workload.yaml") as f:
            workload = f.read().replace("recoveryDelaySeconds: 60", "recoveryDelaySeconds: 2")
        with open(f"{workdir}/workload.yaml", "w") as f:
            f.write(workload)
        for path in (f"{src}/topology.yaml", f"{workdir}/members.yaml", f"{workdir}/workload.yaml"):
            self.fedctl("apply", "-f", path)

    def _start(self, argv, log):
        out = open(os.path.join(self.dir, log), "w")
        self.procs.append(subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT))

    def stop(self):
        for p in reversed(self.procs):
            p.terminate()
        for p in self.procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()

    def fedctl(self, *args):
        r = subprocess.run([f"{self.bin}/fedctl", "--server", self.api, *args],
                           capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            raise SystemExit(f"fedctl {' '.join(args)}: {r.stderr}")
        return r.stdout

    def web(self):
        return get_json(self.api + "/apis/federation.meridian.io/v1alpha1/namespaces/shop/"
                        "federatedworkloads/web")

    def member(self, name):
        return get_json(self.api + "/apis/federation.meridian.io/v1alpha1/memberclusters/" + name)

    def drill(self, name):
        return get_json(self.api + "/apis/federation.meridian.io/v1alpha1/failoverdrills/" + name)

    def member_names(self):
        return [m["metadata"]["name"] for m in get_json(
            self.api + "/apis/federation.meridian.io/v1alpha1/memberclusters")["items"]]

    def deployments(self, cluster):
        """shop.web Deployments a member holds: [(uid, readyReplicas)]; None when it refuses."""
        url = (f"{self.sim}/clusters/{cluster}/apis/apps/v1/namespaces/shop/deployments"
               f"?labelSelector={WORKLOAD_LABEL}%3Dshop.web")
        try:
            items = get_json(url, timeout=0.5)["items"]
        except (urllib.error.URLError, OSError, ValueError):
            return None
        return [(d["metadata"].get("uid", ""), d.get("status", {}).get("readyReplicas", 0))
                for d in items]


def placement(web):
    return {p["cluster"]: p["replicas"] for p in web.get("status", {}).get("placement", [])}


def ready_as_placed(fed, members, placed):
    total = 0
    for m in members:
        deps = fed.deployments(m)
        ready = sum(r for _, r in deps) if deps else 0
        total += min(ready, placed.get(m, 0))
    return total


def all_ready(fed, members, before_target):
    web = fed.web()
    placed = placement(web)
    return (sum(placed.values()) == DESIRED and placed.get(TARGET_CLUSTER, 0) == before_target
            and ready_as_placed(fed, members, placed) >= DESIRED)


class Sampler(threading.Thread):
    """Lowest ready replicas the members themselves held, read every 150 ms."""

    def __init__(self, fed, members):
        super().__init__(daemon=True)
        self.fed, self.members = fed, members
        self.lowest = None
        self.stop = threading.Event()

    def run(self):
        while not self.stop.is_set():
            ready = 0
            for m in self.members:
                deps = self.fed.deployments(m)
                ready += sum(r for _, r in deps) if deps else 0
            self.lowest = ready if self.lowest is None else min(self.lowest, ready)
            time.sleep(0.15)


def injected_drill(fed, members, run, fail_seconds):
    name = f"bench-drill-{run}"
    fed.fedctl("drill", "run", "--target", "region=eu-west", "--mode", "live", "--failure",
               "injected", "--duration", f"{fail_seconds}s", "--observe-return", "0",
               "--name", name)
    d = wait_until(f"drill {name} to end",
                   lambda: (lambda x: x if x.get("status", {}).get("phase") in
                            ("Completed", "Aborted", "Failed") else None)(fed.drill(name)),
                   fail_seconds + 60, 0.25)
    r = d["status"]["report"]
    if d["status"]["phase"] != "Completed":
        raise SystemExit(f"drill {name}: {d['status']['phase']}: {d['status'].get('message')}")
    # Members the drill could not read at its lowest sample (they count nothing ready).
    unread = sorted({m for x in r["timeline"] if x.get("ready") == r["lowestReady"]
                     for m in x.get("unverifiedMembers", [])} - {TARGET_CLUSTER})
    return {"detect": r["timeToDetectSeconds"], "replace": r["timeToReplaceSeconds"],
            "full_ready": r["timeToFullReadySeconds"], "lowest": r["lowestReady"],
            "unread_at_lowest": ",".join(unread) or "-"}


class DetectionPoller(threading.Thread):
    """When the MemberCluster first shows Reachable=False, polled every 20 ms: the health
    monitor's transition to within a poll (its lastTransitionTime is only to the second)."""

    def __init__(self, fed, t0):
        super().__init__(daemon=True)
        self.fed, self.t0 = fed, t0
        self.detect = None
        self.stop = threading.Event()

    def run(self):
        prev = 0.0
        while not self.stop.is_set() and self.detect is None:
            try:
                m = self.fed.member(TARGET_CLUSTER)
            except (urllib.error.URLError, OSError, ValueError):
                continue
            now = time.time() - self.t0
            for c in m.get("status", {}).get("conditions", []):
                if c["type"] == "Reachable" and c["status"] == "False":
                    self.detect = (prev + now) / 2  # between the poll before and this one
            prev = now
            time.sleep(0.02)


def by_hand(fed, members, fail_seconds):
    t0 = time.time()
    post(f"{fed.sim}/admin/regions/eu-west/fail", '{"mode":"refuse"}')
    poller = DetectionPoller(fed, t0)
    poller.start()
    detect = replace = full_ready = None
    try:
        deadline = time.monotonic() + fail_seconds
        while time.monotonic() < deadline:
            now = time.time() - t0
            detect = poller.detect
            web = fed.web()
            placed = placement(web)
            if replace is None and placed.get(TARGET_CLUSTER, 0) == 0:
                replace = now
            if replace is not None and full_ready is None and \
                    ready_as_placed(fed, members, placed) >= DESIRED:
                full_ready = time.time() - t0
            if detect is not None and full_ready is not None:
                # Keep the fault for the same time as the drill does.
                time.sleep(max(0.0, deadline - time.monotonic()))
                break
            time.sleep(0.1)
    finally:
        poller.stop.set()
        poller.join()
        detect = poller.detect
        post(f"{fed.sim}/admin/regions/eu-west/heal")
    return {"detect": detect, "replace": replace, "full_ready": full_ready}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--fail-seconds", type=int, default=20)
    ap.add_argument("--bin", default=os.environ.get("MERIDIAN_BIN_DIR", f"{ROOT}/build/bin"))
    args = ap.parse_args()
    workdir = tempfile.mkdtemp(prefix="meridian-drill-vs-hand-")
    fed = Federation(args.bin, workdir)
    ok = True
    try:
        members = wait_until("members", lambda: fed.member_names() or None, 30)
        before_target = wait_until(
            "30 ready replicas", lambda: (lambda p: p.get(TARGET_CLUSTER) if sum(p.values()) ==
                                          DESIRED and ready_as_placed(fed, members, p) >= DESIRED
                                          else None)(placement(fed.web())), 90, 0.25)
        results = {"drill": [], "hand": []}
        for run in range(1, args.runs + 1):
            for kind in ("drill", "hand"):
                uids = sorted(u for u, _ in fed.deployments(TARGET_CLUSTER) or [])
                sampler = Sampler(fed, members)
                sampler.start()
                if kind == "drill":
                    res = injected_drill(fed, members, run, args.fail_seconds)
                else:
                    res = by_hand(fed, members, args.fail_seconds)
                sampler.stop.set()
                sampler.join()
                res["sampled_lowest"] = sampler.lowest
                wait_until("the return to eu-west-1", lambda: all_ready(fed, members,
                                                                         before_target), 120, 0.25)
                after = sorted(u for u, _ in fed.deployments(TARGET_CLUSTER) or [])
                res["target_objects_kept"] = uids == after and bool(uids)
                results[kind].append(res)
                line = f"run {run} {kind:5}: " + ", ".join(
                    f"{k} {v:.2f}s" if isinstance(v, float) else f"{k} {v}" for k, v in res.items())
                print(line, flush=True)
                if not res["target_objects_kept"]:
                    ok = False
                    print(f"  eu-west-1 objects changed: {uids} -> {after}")
                if kind == "drill" and res["lowest"] != res["sampled_lowest"]:
                    ok = False
                    print(f"  lowest availability: drill {res['lowest']}, members sampled "
                          f"{res['sampled_lowest']}")
        print("\nmedians over", args.runs, "runs (seconds from the fault):")
        for fig in ("detect", "replace", "full_ready"):
            vals = {k: [r[fig] for r in results[k] if r[fig] is not None] for k in results}
            if any(len(v) < args.runs for v in vals.values()):
                ok = False
                print(f"  {fig}: not reached in every run: {vals}")
                continue
            d, h = statistics.median(vals["drill"]), statistics.median(vals["hand"])
            diff = abs(d - h)
            within = diff <= 0.10 * max(d, h) or diff <= 0.25
            ok = ok and within
            print(f"  {fig:10}  drill {d:6.2f}  by hand {h:6.2f}  "
                  f"({'within' if within else 'NOT within'} 10 % / 0.25 s)")
        low = [(r["lowest"], r["sampled_lowest"]) for r in results["drill"]]
        print(f"  lowest availability (drill report, members sampled): {low}")
    finally:
        fed.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    print("OK" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

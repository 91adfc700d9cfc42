#!/usr/bin/env python3
"""Mixed load for bench/soak.sh (loopback only, stdlib only): runs for --duration seconds and
prints one JSON line of counters.

  - CRUD: every 0.5 s a FederatedWorkload created, one read, patched (merge), a list, and the
    oldest deleted past --workloads live, so placement and propagation have work;
  - watches: --watchers watch streams at a time, each listing for a resourceVersion (as an
    informer), watching from it for 1-6 s, then closing; about every 30 s one that reads
    nothing for 20 s (a slow consumer) then closes;
  - DNS: A queries over UDP, and every 20th over TCP, to the federation's DNS and meridian-dns;
  - member failures and heals every --fault-every seconds via `membersim ctl`, cycling through
    fail-zone/heal-zone, partition/heal, fail-region/heal-region.
Errors are counted, never fatal: overload answers (429) and refused DNS are part of the load.
"""
import argparse
import http.client
import json
import random
import socket
import struct
import subprocess
import threading
import time

GROUP = "/apis/federation.meridian.io/v1alpha1"
FW = GROUP + "/namespaces/default/federatedworkloads"

counters = {}
counters_lock = threading.Lock()


def count(name, n=1):
    with counters_lock:
        counters[name] = counters.get(name, 0) + n


def request(conn, method, path, body=None, content_type="application/json"):
    headers = {}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = content_type
    conn.request(method, path, body=data, headers=headers)
    resp = conn.getresponse()
    payload = resp.read()
    return resp.status, payload


def workload(name, replicas):
    return {
        "apiVersion": "federation.meridian.io/v1alpha1", "kind": "FederatedWorkload",
        "metadata": {"name": name, "namespace": "default", "labels": {"soak": "true"}},
        "spec": {
            "template": {
                "apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": name, "labels": {"app": name}},
                "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                         "template": {"metadata": {"labels": {"app": name}},
                                      "spec": {"containers": [{"name": "app", "image": "nginx:1.27",
                                                               "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}}}]}}}},
            "placement": {"distribution": {"weights": {"us-east": 1, "eu-west": 1, "ap-south": 1}},
                          "failover": {"overflow": "nearest", "recoveryDelaySeconds": 5}},
        },
    }


def crud_loop(host, port, stop, workloads):
    conn = http.client.HTTPConnection(host, port, timeout=10)
    live = []
    serial = 0
    while not stop.is_set():
        try:
            serial += 1
            name = "soak-%d" % serial
            status, _ = request(conn, "POST", FW, workload(name, random.randint(1, 6)))
            count("create_%d" % status)
            if status == 201:
                live.append(name)
            target = random.choice(live) if live else name
            status, _ = request(conn, "GET", FW + "/" + target)
            count("get_%d" % status)
            status, _ = request(conn, "PATCH", FW + "/" + target,
                                {"metadata": {"annotations": {"soak/serial": str(serial)}},
                                 "spec": {"template": {"spec": {"replicas": random.randint(1, 6)}}}},
                                "application/merge-patch+json")
            count("patch_%d" % status)
            status, _ = request(conn, "GET", FW + "?labelSelector=soak%3Dtrue&limit=50")
            count("list_%d" % status)
            while len(live) > workloads:
                status, _ = request(conn, "DELETE", FW + "/" + live.pop(0))
                count("delete_%d" % status)
        except (OSError, http.client.HTTPException):
            count("crud_transport_error")
            conn.close()
            conn = http.client.HTTPConnection(host, port, timeout=10)
            time.sleep(0.5)
        stop.wait(0.5)
    for name in live:  # leave the store as found
        try:
            request(conn, "DELETE", FW + "/" + name)
        except (OSError, http.client.HTTPException):
            pass


def watch_once(host, port, read_seconds, read):
    # As an informer does: list (one item) for the resourceVersion, then watch from it.
    conn = http.client.HTTPConnection(host, port, timeout=10)
    try:
        status, payload = request(conn, "GET", FW + "?limit=1")
        rv = json.loads(payload)["metadata"]["resourceVersion"] if status == 200 else "0"
    finally:
        conn.close()
    s = socket.create_connection((host, port), timeout=10)
    try:
        s.sendall(("GET %s?watch=true&allowWatchBookmarks=true&timeoutSeconds=60&resourceVersion=%s "
                   "HTTP/1.1\r\nHost: %s\r\n\r\n" % (FW, rv, host)).encode())
        end = time.time() + read_seconds
        got = 0
        while time.time() < end:
            if not read:
                time.sleep(0.5)
                continue
            s.settimeout(max(0.05, end - time.time()))
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                continue
            if not chunk:
                break
            got += len(chunk)
        count("watch_bytes", got)
        count("watch_closed" if read else "slow_watch_closed")
    finally:
        s.close()


def watch_loop(host, port, stop, index):
    while not stop.is_set():
        try:
            watch_once(host, port, random.uniform(1, 6), True)
        except OSError:
            count("watch_error")
            stop.wait(1)
        if index == 0 and random.random() < 0.1:  # about every 30 s on watcher 0's thread
            try:
                watch_once(host, port, 20, False)
            except OSError:
                count("slow_watch_error")


def dns_query(name, qtype=1):
    qid = random.randint(0, 0xFFFF)
    header = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    question = b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\x00"
    return qid, header + question + struct.pack(">HH", qtype, 1)


def dns_loop(servers, stop, qps):
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.settimeout(1)
    n = 0
    while not stop.is_set():
        for host, port, name in servers:
            n += 1
            qid, packet = dns_query(name)
            try:
                if n % 20 == 0:
                    with socket.create_connection((host, port), timeout=2) as t:
                        t.sendall(struct.pack(">H", len(packet)) + packet)
                        length = struct.unpack(">H", t.recv(2))[0]
                        data = b""
                        while len(data) < length:
                            more = t.recv(length - len(data))
                            if not more:
                                break
                            data += more
                    count("dns_tcp_ok" if data[:2] == packet[:2] else "dns_tcp_bad")
                else:
                    udp.sendto(packet, (host, port))
                    data, _ = udp.recvfrom(4096)
                    count("dns_udp_ok" if struct.unpack(">H", data[:2])[0] == qid else "dns_udp_bad")
            except (OSError, struct.error):
                count("dns_error")
        stop.wait(len(servers) / qps)


FAULTS = [
    (["fail-zone", "eu-west-1", "eu-west-1a"], ["heal-zone", "eu-west-1", "eu-west-1a"]),
    (["partition", "ap-south-1"], ["heal", "ap-south-1"]),
    (["fail-region", "us-east"], ["heal-region", "us-east"]),
]


def fault_loop(membersim, members_url, stop, every):
    def ctl(verb):
        rc = subprocess.run([membersim, "ctl", "--server", members_url] + verb,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode
        count("fault_%s_%s" % (verb[0], "ok" if rc == 0 else "failed"))

    i = 0
    while not stop.wait(every / 2):
        fail, heal = FAULTS[i % len(FAULTS)]
        ctl(fail)
        stop.wait(every / 2)
        ctl(heal)  # also when stopping: the members end healthy
        i += 1


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--api", required=True, help="host:port of the federation-apiserver (http)")
    p.add_argument("--dns", action="append", default=[], help="host:port:name to query (repeatable)")
    p.add_argument("--membersim", required=True)
    p.add_argument("--members-url", required=True)
    p.add_argument("--duration", type=float, required=True)
    p.add_argument("--watchers", type=int, default=6)
    p.add_argument("--workloads", type=int, default=20)
    p.add_argument("--dns-qps", type=float, default=20)
    p.add_argument("--fault-every", type=float, default=60)
    a = p.parse_args()
    host, port = a.api.rsplit(":", 1)
    port = int(port)
    servers = []
    for d in a.dns:
        h, pt, name = d.split(":")
        servers.append((h, int(pt), name))
    stop = threading.Event()
    threads = [threading.Thread(target=crud_loop, args=(host, port, stop, a.workloads))]
    threads += [threading.Thread(target=watch_loop, args=(host, port, stop, i)) for i in range(a.watchers)]
    if servers:
        threads.append(threading.Thread(target=dns_loop, args=(servers, stop, a.dns_qps)))
    threads.append(threading.Thread(target=fault_loop, args=(a.membersim, a.members_url, stop, a.fault_every)))
    for t in threads:
        t.daemon = True
        t.start()
    time.sleep(a.duration)
    stop.set()
    for t in threads:
        t.join(30)
    print(json.dumps(dict(sorted(counters.items()))))


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""What a bench_sync run wrote, from its SQLite revision log (run it with --keep; the folder it
names holds fed.db).

Every update is classified by what it changed against the object's previous revision: top-level
fields, metadata fields (resourceVersion, managedFields and generation left out) and annotation
keys, so "ann:placement,status" is an update of the placement annotation and the status at once.

usage: revision_log.py FED_DB                      counts per resource and change
       revision_log.py FED_DB --fields RESOURCE    that resource's updates by changed leaf field
                                                   (list indexes folded, timestamps left out)
       revision_log.py FED_DB --placement [NAME..] each ConfigMap's and Secret's placement
                                                   annotation texts in order (all: every one),
                                                   and how many times each was written

(docs/performance.md, issue 18: how native objects' extra writes were found.)
"""
import argparse
import collections
import json
import re
import sqlite3

PLACEMENT = "federation.meridian.io/placement"
IGNORED_META = ("resourceVersion", "managedFields", "generation")


def changes(a, b):
    out = []
    for k in sorted(set(a) | set(b)):
        if k != "metadata":
            if a.get(k) != b.get(k):
                out.append(k)
            continue
        ma, mb = a.get(k) or {}, b.get(k) or {}
        for mk in sorted(set(ma) | set(mb)):
            if mk in IGNORED_META:
                continue
            if mk == "annotations":
                aa, ab = ma.get(mk) or {}, mb.get(mk) or {}
                out += ["ann:" + ak.split("/")[-1] for ak in sorted(set(aa) | set(ab))
                        if aa.get(ak) != ab.get(ak)]
            elif ma.get(mk) != mb.get(mk):
                out.append("meta." + mk)
    return out


def leaves(o, path=""):
    if isinstance(o, dict):
        out = {}
        for k, v in o.items():
            out.update(leaves(v, path + "." + k))
        return out
    if isinstance(o, list):
        out = {}
        for i, v in enumerate(o):
            out.update(leaves(v, f"{path}[{i}]"))
        return out
    return {path: o}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("db")
    ap.add_argument("--fields", metavar="RESOURCE")
    ap.add_argument("--placement", nargs="*", metavar="NAME")
    args = ap.parse_args()
    con = sqlite3.connect(args.db)
    rows = con.execute("SELECT rev, type, res, name, data FROM events ORDER BY rev")
    last = {}
    counts = collections.Counter()
    fields = collections.Counter()
    texts = collections.defaultdict(list)
    for rev, typ, res, name, data in rows:
        obj = json.loads(data)
        key = (res, name)
        if key not in last:
            counts[(res, "CREATE")] += 1
        elif typ == 1:
            counts[(res, ",".join(changes(last[key], obj)) or "(nothing)")] += 1
            if res == args.fields:
                a, b = leaves(last[key]), leaves(obj)
                changed = {re.sub(r"\[\d+\]", "[]", k) for k in set(a) | set(b)
                           if a.get(k) != b.get(k) and "resourceVersion" not in k
                           and "Time" not in k and "managedFields" not in k}
                fields[" ".join(sorted(changed))] += 1
        if res in ("configmaps", "secrets") and typ == 1 and key in last:
            was = (last[key].get("metadata", {}).get("annotations") or {}).get(PLACEMENT)
            now = (obj.get("metadata", {}).get("annotations") or {}).get(PLACEMENT)
            if was != now:
                texts[key].append((rev, now or ""))
        last[key] = obj
    for (res, what), n in sorted(counts.items()):
        print(f"{n:7d}  {res:28s} {what}")
    if args.fields:
        print(f"\n{args.fields}: updates by changed field")
        for what, n in fields.most_common():
            print(f"{n:7d}  {what}")
    if args.placement is not None:
        print()
        for (res, name), seen in sorted(texts.items()):
            if args.placement not in ([], ["all"]) and name not in args.placement:
                continue
            print(f"{res}/{name}: {len(seen)} writes")
            for rev, text in seen:
                print(f"   rev {rev:7d}  {text[:150]}")
        per = collections.Counter(len(seen) for seen in texts.values())
        print("placement annotation writes per ConfigMap/Secret:", dict(sorted(per.items())))


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Counts the public paths of orchestrator-core: every path a user can name an item by
(module paths and re-exports alike), from rustdoc's JSON output (nightly).

    python3 scripts/public-api-count.py            # builds the JSON, prints the count
    python3 scripts/public-api-count.py --list     # and every path
"""
import json, subprocess, sys, os

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
subprocess.run(["cargo", "+nightly", "rustdoc", "-q", "-p", "orchestrator-core", "--all-features", "--",
                "-Z", "unstable-options", "--output-format", "json"], cwd=root, check=True)
doc = json.load(open(os.path.join(root, "target/doc/orchestrator_core.json")))
index = doc["index"]
paths, methods = set(), set()

def kind(item):
    return next(iter(item["inner"])) if isinstance(item["inner"], dict) else item["inner"]

def walk(mod_id, prefix, seen):
    if mod_id in seen:
        return
    seen = seen | {mod_id}
    for child in index[str(mod_id)]["inner"]["module"]["items"]:
        item = index.get(str(child))
        if item is None or item.get("visibility") != "public" or "hidden" in str(item.get("attrs", "")):
            continue
        k = kind(item)
        if k == "use":
            use = item["inner"]["use"]
            target = use.get("id")
            name = use["name"]
            if use.get("is_glob"):
                if target is not None and str(target) in index:
                    walk(target, prefix, seen)
                continue
            if target is None or str(target) not in index:
                paths.add(prefix + name)  # from another crate
                continue
            t = index[str(target)]
            if kind(t) == "module":
                walk(target, prefix + name + "::", seen)
            else:
                add(t, prefix + name)
        elif k == "module":
            walk(child, prefix + item["name"] + "::", seen)
        else:
            add(item, prefix + item["name"])

def add(item, path):
    paths.add(path)
    k = kind(item)
    for impl_id in item["inner"].get(k, {}).get("impls", []) if isinstance(item["inner"].get(k), dict) else []:
        impl = index.get(str(impl_id))
        if not impl or impl["inner"]["impl"].get("trait") is not None:
            continue
        for m in impl["inner"]["impl"]["items"]:
            mi = index.get(str(m))
            if mi and mi.get("visibility") == "public":
                methods.add(f"{item['id']}::{mi['name']}")
    if k == "trait":
        for m in item["inner"]["trait"]["items"]:
            mi = index.get(str(m))
            if mi:
                methods.add(f"{item['id']}::{mi['name']}")

walk(doc["root"], "orchestrator_core::", frozenset())
print(f"{len(paths)} public paths, {len(methods)} public methods and trait items")
if "--list" in sys.argv:
    print("\n".join(sorted(paths)))

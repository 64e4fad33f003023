#!/usr/bin/python3
"""Sums a Chrome trace of LibTorch's profiler (train_bench --profile FILE) by op: self time (an
op's time less the ops it called, on the same thread), calls, share of all self time.

    /usr/bin/python3 scripts/profile_ops.py FILE [--top 25]
"""
import argparse
import collections
import json


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("trace")
    ap.add_argument("--top", type=int, default=25)
    args = ap.parse_args()
    with open(args.trace) as f:
        text = f.read().rstrip().rstrip(",")
    events = json.loads(text if text.endswith("]") else text + "]")
    spans = collections.defaultdict(list)  # thread -> (start, end, name)
    for e in events:
        if e.get("ph") == "X":
            spans[e.get("tid", 0)].append((float(e["ts"]), float(e["ts"]) + float(e["dur"]), e["name"]))
    self_us, calls = collections.Counter(), collections.Counter()
    for seq in spans.values():
        seq.sort(key=lambda s: (s[0], -s[1]))
        stack = []  # [end, name, child time]
        def close(item):
            self_us[item[1]] += item[3] - item[2]
        for start, end, name in seq:
            while stack and stack[-1][0] <= start:
                close(stack.pop())
            if stack:
                stack[-1][2] += end - start
            stack.append([end, name, 0.0, end - start])
            calls[name] += 1
        while stack:
            close(stack.pop())
    total = sum(self_us.values())
    print(f"{'op':45s} {'self ms':>10s} {'share':>7s} {'calls':>7s}")
    for name, us in self_us.most_common(args.top):
        print(f"{name:45s} {us / 1000:10.1f} {100 * us / total:6.1f}% {calls[name]:7d}")
    print(f"{'total':45s} {total / 1000:10.1f}")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Compare the tensors of two safetensors files (standard library only, for the CLI tests):
every tensor's max |a - b| / max |a| must be at most TOL. Prints the worst tensor; exit 1 when
a tensor is missing, differs in shape, or is out of tolerance.

    st_compare.py A.safetensors B.safetensors TOL"""
import json
import struct
import sys


def tensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        if t["dtype"] != "F32":
            raise SystemExit(f"{path}: {name} is {t['dtype']}, not F32")
        a, b = t["data_offsets"]
        out[name] = (t["shape"], struct.unpack(f"<{(b - a) // 4}f", data[a:b]))
    return out


def main():
    a, b, tol = tensors(sys.argv[1]), tensors(sys.argv[2]), float(sys.argv[3])
    if a.keys() != b.keys():
        print("tensor names differ:", sorted(a.keys() ^ b.keys()))
        return 1
    worst, worst_name = 0.0, None
    for name in sorted(a):
        (sa, va), (sb, vb) = a[name], b[name]
        if sa != sb:
            print(f"{name}: shape {sa} vs {sb}")
            return 1
        scale = max(max(abs(x) for x in va), 1e-30)
        rel = max(abs(x - y) for x, y in zip(va, vb)) / scale
        if rel > worst:
            worst, worst_name = rel, name
    print(f"{len(a)} tensors, worst {worst_name}: {worst:.3g} relative (tolerance {tol:g})")
    return 0 if worst <= tol else 1


if __name__ == "__main__":
    sys.exit(main())

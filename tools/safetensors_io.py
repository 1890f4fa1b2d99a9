"""Minimal safetensors reader/writer written by hand (no dependency on the
`safetensors` package).

File layout (huggingface safetensors format):
  * 8 bytes: little-endian unsigned 64-bit length N of the JSON header;
  * N bytes: UTF-8 JSON object.  Each key except "__metadata__" names a tensor:
      {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}
    with offsets relative to the start of the data section.  The optional
    "__metadata__" entry is a map of string -> string.
  * the data section: raw little-endian tensor bytes, C (row-major) order.

This writer pads the header with spaces so that the data section starts at a
multiple of 8 bytes, and orders tensors by element size (8-byte dtypes first)
and then by name, so that every tensor is aligned to its element size and the
output is deterministic.  Tensors are stored back to back (no gaps), which the
reader also requires.

Supported dtypes: F32, F64, I64, I32.

Usage:
    from safetensors_io import save_file, load_file
    save_file("x.safetensors", {"a": np.zeros((2, 3), np.float32)}, {"k": "v"})
    tensors, metadata = load_file("x.safetensors")
"""

import json
import os
import struct

import numpy as np

DTYPES = {
    "F32": np.dtype("<f4"),
    "F64": np.dtype("<f8"),
    "I64": np.dtype("<i8"),
    "I32": np.dtype("<i4"),
}
_KIND_TO_NAME = {
    (np.dtype("float32").kind, 4): "F32",
    (np.dtype("float64").kind, 8): "F64",
    (np.dtype("int64").kind, 8): "I64",
    (np.dtype("int32").kind, 4): "I32",
}

MAX_HEADER_BYTES = 100 * 1024 * 1024


class SafetensorsError(ValueError):
    pass


def _dtype_name(arr, name):
    key = (arr.dtype.kind, arr.dtype.itemsize)
    if key not in _KIND_TO_NAME:
        raise SafetensorsError(
            "tensor %r: unsupported dtype %s (only float32, float64, int64, int32)"
            % (name, arr.dtype))
    return _KIND_TO_NAME[key]


def _to_numpy(value):
    # Accept torch tensors without importing torch here.
    if hasattr(value, "detach") and hasattr(value, "cpu"):
        value = value.detach().cpu().numpy()
    return np.asarray(value)


def serialize(tensors, metadata=None):
    """Return the bytes of a safetensors file holding `tensors` (name -> array)."""
    if metadata is not None:
        for k, v in metadata.items():
            if not isinstance(k, str) or not isinstance(v, str):
                raise SafetensorsError(
                    "__metadata__ must map strings to strings (key %r has a %s value)"
                    % (k, type(v).__name__))
    arrays = {}
    for name, value in tensors.items():
        if not isinstance(name, str) or not name:
            raise SafetensorsError("tensor names must be non-empty strings, got %r" % (name,))
        if name == "__metadata__":
            raise SafetensorsError("'__metadata__' is not a valid tensor name")
        arr = _to_numpy(value)
        dname = _dtype_name(arr, name)
        # (np.ascontiguousarray would turn a 0-dim array into shape [1])
        arrays[name] = np.array(arr, dtype=DTYPES[dname], order="C", copy=True)
    order = sorted(arrays, key=lambda n: (-arrays[n].dtype.itemsize, n))

    header = {}
    if metadata is not None:
        header["__metadata__"] = dict(metadata)
    offset = 0
    for name in order:
        arr = arrays[name]
        nbytes = arr.nbytes
        header[name] = {
            "dtype": _dtype_name(arr, name),
            "shape": [int(s) for s in arr.shape],
            "data_offsets": [offset, offset + nbytes],
        }
        offset += nbytes
    hjson = json.dumps(header, separators=(",", ":"), ensure_ascii=True).encode("utf-8")
    pad = (-(8 + len(hjson))) % 8
    hjson += b" " * pad
    parts = [struct.pack("<Q", len(hjson)), hjson]
    for name in order:
        parts.append(arrays[name].tobytes(order="C"))
    return b"".join(parts)


def save_file(path, tensors, metadata=None):
    """Write `tensors` (dict name -> numpy array / torch tensor) to `path` atomically."""
    data = serialize(tensors, metadata)
    tmp = "%s.tmp.%d" % (path, os.getpid())
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def deserialize(data, what="<bytes>"):
    """Parse safetensors bytes -> (dict name -> numpy array, metadata dict or {})."""
    if len(data) < 8:
        raise SafetensorsError("%s: truncated: %d bytes, need at least 8" % (what, len(data)))
    (hlen,) = struct.unpack("<Q", data[:8])
    if hlen > MAX_HEADER_BYTES:
        raise SafetensorsError("%s: header length %d is too large" % (what, hlen))
    if 8 + hlen > len(data):
        raise SafetensorsError("%s: truncated: header says %d bytes, file has %d after the length"
                               % (what, hlen, len(data) - 8))
    try:
        header = json.loads(data[8:8 + hlen].decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise SafetensorsError("%s: header is not valid JSON: %s" % (what, e))
    if not isinstance(header, dict):
        raise SafetensorsError("%s: header is not a JSON object" % what)
    body = memoryview(data)[8 + hlen:]
    metadata = header.pop("__metadata__", None) or {}
    if not isinstance(metadata, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
        raise SafetensorsError("%s: __metadata__ must be a map of strings to strings" % what)
    spans = []
    tensors = {}
    for name, info in header.items():
        if not isinstance(info, dict):
            raise SafetensorsError("%s: tensor %r: entry is not an object" % (what, name))
        dname = info.get("dtype")
        if dname not in DTYPES:
            raise SafetensorsError("%s: tensor %r: unsupported dtype %r" % (what, name, dname))
        shape = info.get("shape")
        if not isinstance(shape, list) or not all(
                isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in shape):
            raise SafetensorsError("%s: tensor %r: bad shape %r" % (what, name, shape))
        offs = info.get("data_offsets")
        if (not isinstance(offs, list) or len(offs) != 2
                or not all(isinstance(o, int) and not isinstance(o, bool) for o in offs)
                or offs[0] < 0 or offs[1] < offs[0]):
            raise SafetensorsError("%s: tensor %r: bad data_offsets %r" % (what, name, offs))
        dt = DTYPES[dname]
        count = 1
        for s in shape:
            count *= s
        if offs[1] - offs[0] != count * dt.itemsize:
            raise SafetensorsError(
                "%s: tensor %r: data_offsets span %d bytes, shape %s of %s needs %d"
                % (what, name, offs[1] - offs[0], shape, dname, count * dt.itemsize))
        if offs[1] > len(body):
            raise SafetensorsError("%s: tensor %r: truncated: data ends at %d, data section has %d bytes"
                                   % (what, name, offs[1], len(body)))
        spans.append((offs[0], offs[1], name))
        arr = np.frombuffer(body[offs[0]:offs[1]], dtype=dt).reshape(shape).copy()
        tensors[name] = arr
    spans.sort()
    pos = 0
    for b, e, name in spans:
        if b != pos:
            raise SafetensorsError("%s: tensor %r: data starts at %d, expected %d (gap or overlap)"
                                   % (what, name, b, pos))
        pos = e
    if pos != len(body):
        raise SafetensorsError("%s: %d trailing bytes after the last tensor" % (what, len(body) - pos))
    return tensors, metadata


def load_file(path):
    """Read a safetensors file -> (dict name -> numpy array, metadata dict)."""
    with open(path, "rb") as f:
        data = f.read()
    return deserialize(data, path)


def header_of(path):
    """Return (header_length, parsed header JSON) without reading the tensors."""
    with open(path, "rb") as f:
        (hlen,) = struct.unpack("<Q", f.read(8))
        return hlen, json.loads(f.read(hlen).decode("utf-8"))


if __name__ == "__main__":
    import sys
    for p in sys.argv[1:]:
        t, m = load_file(p)
        print(p)
        for k, v in m.items():
            print("  meta %s = %s" % (k, v if len(v) < 200 else v[:200] + "..."))
        for k in sorted(t):
            print("  %-40s %s %s" % (k, t[k].dtype, list(t[k].shape)))

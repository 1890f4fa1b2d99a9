#!/usr/bin/python3
"""Convert a SCAN checkpoint (`.pth.tar` written by kuanghuei/SCAN's train.py) to the
project's safetensors checkpoint layout (spec scan.md, box at the top, and 3.6).

Input: torch.load(path, map_location='cpu', encoding='latin1') must give a dict with
  model     = [img_enc state dict, txt_enc state dict]   (required)
  opt       = argparse.Namespace (or dict) of SCAN's options  (required)
  epoch, best_rsum, Eiters                                    (optional)
Python 2 / PyTorch 0.3 pickles (legacy format, CUDA storages) load this way.

Output: one tensor per state-dict entry, named `img_enc.<key>` / `txt_enc.<key>`, every
tensor float32 and contiguous (a 0-dim weight_g keeps shape []), and __metadata__:
  opt            JSON object of the opt fields (SCAN's underscore names, vocab_size included)
  epoch, best_rsum, Eiters   the checkpoint's values as strings (absent ones are omitted)
  converted_from the source file name

Usage:
    /usr/bin/python3 tools/scan_checkpoint_to_safetensors.py model_best.pth.tar model.safetensors
Exit status 0 on success, 2 when the input is not a SCAN checkpoint or cannot be read.
"""

import argparse
import json
import math
import numbers
import os
import sys
from collections.abc import Mapping

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from safetensors_io import save_file  # noqa: E402


class NotScan(Exception):
    pass


def _json_value(v):
    """Make an opt field JSON-friendly (Python 2 str/bytes, numpy scalars, tuples)."""
    if isinstance(v, bytes):
        return v.decode("latin1")
    if v is None or isinstance(v, (bool, str)):
        return v
    if isinstance(v, numbers.Integral):
        return int(v)
    if isinstance(v, numbers.Real):
        f = float(v)
        return f if math.isfinite(f) else str(f)
    if isinstance(v, (list, tuple)):
        return [_json_value(x) for x in v]
    if isinstance(v, Mapping):
        return {str(k): _json_value(x) for k, x in v.items()}
    return str(v)


def _meta_string(v):
    if isinstance(v, bytes):
        return v.decode("latin1")
    if isinstance(v, torch.Tensor) and v.numel() == 1:
        v = v.item()
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, numbers.Integral):
        return str(int(v))
    if isinstance(v, numbers.Real):
        return repr(float(v))
    return str(v)


def convert_object(ckpt, source_name):
    """(tensors dict name -> numpy float32, metadata dict) from a loaded checkpoint."""
    if not isinstance(ckpt, Mapping):
        raise NotScan("not a SCAN checkpoint: top level is a %s, expected a dict with 'model' "
                      "and 'opt'" % type(ckpt).__name__)
    if "model" not in ckpt:
        raise NotScan("not a SCAN checkpoint: no 'model' entry (keys: %s); expected 'model' = "
                      "[img_enc state dict, txt_enc state dict]" % ", ".join(map(str, ckpt)))
    model = ckpt["model"]
    if not isinstance(model, (list, tuple)) or len(model) != 2 or not all(
            isinstance(sd, Mapping) for sd in model):
        desc = type(model).__name__
        if isinstance(model, (list, tuple)):
            desc += " of %d (%s)" % (len(model), ", ".join(type(x).__name__ for x in model))
        raise NotScan("not a SCAN checkpoint: 'model' is a %s, expected a list of 2 state "
                      "dicts [img_enc, txt_enc]" % desc)
    if "opt" not in ckpt:
        raise NotScan("not a SCAN checkpoint: no 'opt' entry (SCAN saves its argparse options "
                      "there; the safetensors layout needs them)")
    opt = ckpt["opt"]
    if isinstance(opt, Mapping):
        fields = dict(opt)
    elif hasattr(opt, "__dict__"):
        fields = dict(vars(opt))
    else:
        raise NotScan("not a SCAN checkpoint: 'opt' is a %s, expected argparse.Namespace"
                      % type(opt).__name__)
    fields = {str(k.decode("latin1") if isinstance(k, bytes) else k): _json_value(v)
              for k, v in fields.items()}

    tensors = {}
    for prefix, sd in zip(("img_enc.", "txt_enc."), model):
        for key, t in sd.items():
            key = key.decode("latin1") if isinstance(key, bytes) else str(key)
            if not isinstance(t, torch.Tensor):
                raise NotScan("not a SCAN checkpoint: %s%s is a %s, not a tensor"
                              % (prefix, key, type(t).__name__))
            if not t.is_floating_point():
                raise NotScan("%s%s has dtype %s; SCAN parameters are floating point"
                              % (prefix, key, t.dtype))
            tensors[prefix + key] = t.detach().cpu().to(torch.float32).contiguous().numpy()
    if "txt_enc.embed.weight" not in tensors:
        raise NotScan("not a SCAN checkpoint: model[1] has no 'embed.weight' (keys: %s)"
                      % ", ".join(k[len("txt_enc."):] for k in tensors if k.startswith("txt_enc.")))
    if "img_enc.fc.bias" not in tensors:
        raise NotScan("not a SCAN checkpoint: model[0] has no 'fc.bias' (keys: %s)"
                      % ", ".join(k[len("img_enc."):] for k in tensors if k.startswith("img_enc.")))
    n_vocab = int(tensors["txt_enc.embed.weight"].shape[0])
    if "vocab_size" not in fields:
        fields["vocab_size"] = n_vocab
    elif fields["vocab_size"] != n_vocab:
        raise NotScan("opt.vocab_size is %r but txt_enc.embed.weight has %d rows"
                      % (fields["vocab_size"], n_vocab))

    meta = {"opt": json.dumps(fields, sort_keys=True), "converted_from": source_name}
    for key in ("epoch", "best_rsum", "Eiters"):
        if key in ckpt:
            meta[key] = _meta_string(ckpt[key])
    return tensors, meta


def main(argv=None):
    ap = argparse.ArgumentParser(description="Convert a SCAN .pth.tar to safetensors.")
    ap.add_argument("src", help="SCAN checkpoint (.pth.tar)")
    ap.add_argument("dst", help="output .safetensors")
    args = ap.parse_args(argv)
    try:
        ckpt = torch.load(args.src, map_location="cpu", encoding="latin1")
    except Exception as e:  # noqa: BLE001 - report any unpickling failure in one line
        print("error: %s: cannot load as a PyTorch checkpoint: %s: %s"
              % (args.src, type(e).__name__, str(e).splitlines()[0] if str(e) else ""),
              file=sys.stderr)
        return 2
    try:
        tensors, meta = convert_object(ckpt, os.path.basename(args.src))
    except NotScan as e:
        print("error: %s: %s" % (args.src, e), file=sys.stderr)
        return 2
    save_file(args.dst, tensors, meta)
    n = sum(t.size for t in tensors.values())
    print("%s: %d tensors, %d parameters, from %s (epoch %s)"
          % (args.dst, len(tensors), n, args.src, meta.get("epoch", "?")))
    return 0


if __name__ == "__main__":
    sys.exit(main())

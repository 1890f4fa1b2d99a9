#!/usr/bin/python3
"""Save a small SCAN-shaped checkpoint (`.pth.tar`) with random weights, so that
scan_checkpoint_to_safetensors.py can be tried without a real SCAN model.

The saved object has SCAN's layout (spec 3.6): a dict with
  model     = [img_enc.state_dict(), txt_enc.state_dict()]  (unprefixed keys)
  opt       = argparse.Namespace of all SCAN options, incl. vocab_size
  epoch     = int, best_rsum = float, Eiters = int
By default it is written in PyTorch's legacy (non-zip) format with pickle protocol 2,
the format of SCAN's PyTorch 0.3 era checkpoints.

Example:
    /usr/bin/python3 tools/make_fake_scan_checkpoint.py /tmp/fake.pth.tar
"""

import argparse
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import scan_reference as S  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out", help="path of the .pth.tar to write")
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--img-dim", type=int, default=10)
    ap.add_argument("--embed-size", type=int, default=8)
    ap.add_argument("--word-dim", type=int, default=6)
    ap.add_argument("--vocab-size", type=int, default=17)
    ap.add_argument("--num-layers", type=int, default=1)
    ap.add_argument("--no-bi-gru", action="store_true", help="unidirectional GRU")
    ap.add_argument("--precomp-enc-type", default="basic", choices=["basic", "weight_norm"])
    ap.add_argument("--cross-attn", default="t2i", choices=list(S.CROSS_ATTNS))
    ap.add_argument("--raw-feature-norm", default="clipped_l2norm",
                    choices=list(S.RAW_FEATURE_NORMS))
    ap.add_argument("--agg-func", default="Mean", choices=list(S.AGG_FUNCS))
    ap.add_argument("--lambda-softmax", type=float, default=9.0)
    ap.add_argument("--lambda-lse", type=float, default=6.0)
    ap.add_argument("--zip", action="store_true",
                    help="use PyTorch's current zip format instead of the legacy one")
    args = ap.parse_args(argv)

    torch.manual_seed(args.seed)
    opt = S.make_opt(
        data_path="./data/", data_name="f30k_precomp", img_dim=args.img_dim,
        embed_size=args.embed_size, word_dim=args.word_dim, num_layers=args.num_layers,
        bi_gru=not args.no_bi_gru, max_violation=True, precomp_enc_type=args.precomp_enc_type,
        cross_attn=args.cross_attn, raw_feature_norm=args.raw_feature_norm,
        agg_func=args.agg_func, lambda_softmax=args.lambda_softmax, lambda_lse=args.lambda_lse,
        logger_name="runs/fake/log", model_name="runs/fake/checkpoint")
    opt.vocab_size = args.vocab_size  # added at run time by SCAN, after the parsed options
    img_enc, txt_enc = S.build_model(opt)
    # Perturb the biases so that they are not all zero (a trained model's are not).
    with torch.no_grad():
        for p in list(img_enc.parameters()) + list(txt_enc.parameters()):
            p.add_(0.05 * torch.randn_like(p))
    ckpt = {
        "epoch": 3,
        "model": [img_enc.state_dict(), txt_enc.state_dict()],
        "best_rsum": 123.456,
        "opt": opt,
        "Eiters": 4321,
    }
    if args.zip:
        torch.save(ckpt, args.out)
    else:
        torch.save(ckpt, args.out, _use_new_zipfile_serialization=False, pickle_protocol=2)
    n = sum(t.numel() for sd in ckpt["model"] for t in sd.values())
    print("%s: fake SCAN checkpoint, %d parameters, %s" % (args.out, n, vars(opt)))
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/python3
"""Write the SCAN parity fixtures under tests/fixtures/scan/ (see tools/README.md) and
self-check them.

    /usr/bin/python3 tools/make_scan_fixtures.py            # write + self-check
    /usr/bin/python3 tools/make_scan_fixtures.py --check    # self-check existing files only

Everything runs in float32 on one thread with fixed seeds.  Inputs are re-drawn until the
fixture is far from every non-smooth point a C port could land on the other side of:
hardest-negative arg-maxes, hinge kinks, Max-aggregation ties, LeakyReLU/abs kinks at 0,
and tiny gradients (one Adam step divides by |g|).
"""

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
from collections import OrderedDict

import numpy as np
import torch
import torch.nn as nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

TOOLS = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, TOOLS)
import scan_reference as S  # noqa: E402
from safetensors_io import load_file, save_file  # noqa: E402

ROOT = os.path.dirname(TOOLS)
DEFAULT_OUT = os.path.join(ROOT, "tests", "fixtures", "scan")

DIMS = OrderedDict(img_dim=10, embed_size=8, word_dim=6, vocab_size=17)
BATCH = 6
N_REGIONS = 5
LENGTHS = [9, 7, 7, 5, 4, 3]
DUPLICATE = (1, 4)           # batch entry 4 uses the same image row as entry 1
GAP = 1e-3                   # min distance of hardest-negative / Max choices from a tie
KINK = 1e-5                  # min |raw score| for the LeakyReLU / abs kinks at 0
MIN_GRAD = 1e-6              # min |gradient| of a non-zero gradient element
OPT_KEYS = ("cross_attn", "raw_feature_norm", "agg_func", "lambda_softmax", "lambda_lse",
            "margin", "max_violation", "grad_clip", "learning_rate", "bi_gru", "num_layers",
            "no_imgnorm", "no_txtnorm", "embed_size", "word_dim", "img_dim", "vocab_size",
            "precomp_enc_type")
CONVERTED_INPUTS = "step_t2i_clipped_l2norm_Mean"


def seed_of(name):
    return int(hashlib.sha256(name.encode()).hexdigest()[:7], 16)


def f32(t):
    return t.detach().cpu().to(torch.float32).numpy()


def round_sig(x, digits=3):
    return float("%.*g" % (digits, x))


# --------------------------------------------------------------------------------------
# Training-step fixtures

def step_configs():
    """[(name, option overrides, clipping mode)]: 56 main files, then the extras."""
    out = []
    k = 0
    for ca in S.CROSS_ATTNS:
        for rn in S.RAW_FEATURE_NORMS:
            for ag in S.AGG_FUNCS:
                over = dict(cross_attn=ca, raw_feature_norm=rn, agg_func=ag)
                # every 7th main file keeps its gradients unclipped (grad_clip > norm)
                out.append(("step_%s_%s_%s" % (ca, rn, ag), over, "noclip" if k % 7 == 3 else "clip"))
                k += 1
    base_t = dict(cross_attn="t2i", raw_feature_norm="clipped_l2norm", agg_func="LogSumExp")
    base_i = dict(cross_attn="i2t", raw_feature_norm="clipped_l2norm", agg_func="Mean")
    extras = [
        ("no_max_violation_t2i", dict(base_t, max_violation=False), "clip"),
        ("no_max_violation_i2t", dict(base_i, max_violation=False), "clip"),
        ("no_imgnorm", dict(base_t, no_imgnorm=True), "clip"),
        ("no_txtnorm", dict(base_i, agg_func="LogSumExp", no_txtnorm=True), "clip"),
        ("no_imgnorm_no_txtnorm", dict(base_t, raw_feature_norm="softmax", agg_func="Mean",
                                       no_imgnorm=True, no_txtnorm=True), "clip"),
        ("num_layers2", dict(base_t, num_layers=2), "clip"),
        ("uni_gru", dict(base_t, bi_gru=False), "clip"),
        ("uni_gru_num_layers2", dict(base_i, bi_gru=False, num_layers=2), "noclip"),
        ("grad_clip_off", dict(base_t), "off"),
    ]
    for what, over, mode in extras:
        out.append(("step_extra_" + what, over, mode))
    return out


def step_opt(over, grad_clip):
    d = dict(DIMS, margin=0.2, max_violation=True, bi_gru=True, num_layers=1,
             no_imgnorm=False, no_txtnorm=False, lambda_lse=6.0, learning_rate=0.01,
             precomp_enc_type="basic", grad_clip=grad_clip)
    d.update(over)
    d.setdefault("lambda_softmax", 9.0 if d["cross_attn"] == "t2i" else 4.0)
    return S.make_opt(**d)


def opt_json(opt):
    return json.dumps(OrderedDict((k, getattr(opt, k)) for k in OPT_KEYS))


def make_inputs(rng):
    images = rng.standard_normal((BATCH, N_REGIONS, DIMS["img_dim"])).astype(np.float32)
    images[DUPLICATE[1]] = images[DUPLICATE[0]]
    captions = np.zeros((BATCH, max(LENGTHS)), dtype=np.int64)
    for i, n in enumerate(LENGTHS):
        captions[i, 0] = 1                      # <start>
        captions[i, 1:n - 1] = rng.randint(3, DIMS["vocab_size"], size=n - 2)
        captions[i, n - 1] = 2                  # <end>
    return images, captions, np.array(LENGTHS, dtype=np.int64)


def image_ids(images):
    """Batch entries with identical image rows share an id."""
    ids = []
    for i in range(images.shape[0]):
        same = [j for j in range(i) if np.array_equal(images[i], images[j])]
        ids.append(ids[same[0]] if same else i)
    return ids


def _hinge_choice_ok(vals):
    """vals: distinct candidate values of margin + S[i,j] - S[pos] for one hardest negative."""
    v = np.sort(np.asarray(vals, dtype=np.float64))[::-1]
    if v[0] < -GAP:
        return True                       # every candidate clamps to 0: no gradient either way
    if abs(v[0]) <= GAP:
        return False                      # the max sits on the hinge's kink
    return len(v) < 2 or v[0] - v[1] > GAP


def tie_problems(opt, sims, details, ids):
    """Reasons why a C port could take another branch than PyTorch (empty if none)."""
    probs = []
    s = sims.astype(np.float64)
    n = s.shape[0]
    m = opt.margin
    for i in range(n):                     # c_s: image i as query over captions j != i
        vals = [m + s[i, j] - s[i, i] for j in range(n) if j != i]
        if opt.max_violation and not _hinge_choice_ok(vals):
            probs.append("c_s row %d hardest negative near a tie/kink" % i)
        if not opt.max_violation and min(abs(v) for v in vals) <= GAP:
            probs.append("c_s row %d entry near the hinge kink" % i)
    for j in range(n):                     # c_im: caption j as query over images i != j
        groups = {}
        for i in range(n):
            if i != j:
                groups.setdefault(ids[i], m + s[i, j] - s[j, j])
        vals = list(groups.values())
        if opt.max_violation and not _hinge_choice_ok(vals):
            probs.append("c_im column %d hardest negative near a tie/kink" % j)
        if not opt.max_violation and min(abs(v) for v in vals) <= GAP:
            probs.append("c_im column %d entry near the hinge kink" % j)
    raw = torch.cat([r.flatten() for r in details["raw"]])
    raw_mask = torch.cat([r.flatten() for r in details["raw_mask"]])
    if opt.raw_feature_norm in ("clipped_l2norm", "clipped", "l1norm", "clipped_l1norm"):
        small = raw[raw_mask].abs().min().item()
        if small <= KINK:
            probs.append("raw score %.2e near the kink at 0" % small)
    if opt.agg_func == "Max":
        for rel, mask in zip(details["rel"], details["rel_mask"]):
            r = rel.masked_fill(~mask, float("-inf"))
            top2 = r.topk(2, dim=-1)[0]
            gap = (top2[..., 0] - top2[..., 1]).min().item()
            if gap <= GAP:
                probs.append("Max aggregation: top two relevance values %.2e apart" % gap)
    return probs


def run_step(opt, images, captions, lengths, init_state, batched=False, double=False):
    img_enc, txt_enc = S.build_model(opt)
    S.load_scan_state(img_enc, txt_enc, init_state)
    images = torch.from_numpy(images)
    if double:
        img_enc.double()
        txt_enc.double()
        images = images.double()
    return S.train_step(img_enc, txt_enc, images, torch.from_numpy(captions),
                        torch.from_numpy(lengths), opt, batched=batched)


# How far the float32 fixture may be from the same step computed in float64.  Inputs whose
# float32 results are further off are ill-conditioned (e.g. a region almost orthogonal to
# every word, so that the row normalisation amplifies rounding): a C port would differ from
# PyTorch by as much, so such draws are rejected.
PREC_LIMITS = OrderedDict([("emb", 1e-6), ("sims", 1e-6), ("loss", 1e-6), ("grad_norm", 1e-6),
                           ("clip_coef", 1e-6), ("grad", 1e-5), ("adam", 1e-7)])


def precision_errors(r32, r64):
    """Deviation of a float32 step from the float64 one: absolute for emb/sims/clip_coef/adam,
    relative for loss/grad_norm, relative L2 per parameter (worst) for grads."""
    a = lambda t: t.detach().double().numpy()  # noqa: E731
    e = OrderedDict()
    e["emb"] = max(np.abs(a(r32["img_emb"]) - a(r64["img_emb"])).max(),
                   np.abs(a(r32["cap_emb"]) - a(r64["cap_emb"])).max())
    e["sims"] = np.abs(a(r32["sims"]) - a(r64["sims"])).max()
    e["loss"] = abs(float(r32["loss"]) - float(r64["loss"])) / abs(float(r64["loss"]))
    e["grad_norm"] = abs(float(r32["grad_norm"]) - float(r64["grad_norm"])) / float(r64["grad_norm"])
    e["clip_coef"] = abs(float(r32["clip_coef"]) - float(r64["clip_coef"]))
    e["grad"] = max(np.linalg.norm(a(r32["grads"][n]) - a(g)) / max(np.linalg.norm(a(g)), 1e-30)
                    for n, g in r64["grads"].items())
    e["adam"] = max(np.abs(a(r32["params_after"][n]) - a(p)).max()
                    for n, p in r64["params_after"].items())
    return e


def make_step(name, over, mode, log):
    base = seed_of(name)
    for attempt in range(500):
        seed = base + 7919 * attempt
        rng = np.random.RandomState(seed % (2 ** 32))
        images, captions, lengths = make_inputs(rng)
        torch.manual_seed(seed)
        opt = step_opt(over, grad_clip=0.0)
        img_enc, txt_enc = S.build_model(opt)
        init_state = S.scan_state(img_enc, txt_enc)
        res = run_step(opt, images, captions, lengths, init_state)      # unclipped dry run
        details = {}
        with torch.no_grad():
            ie, ce, cl = S.forward_emb(img_enc, txt_enc, torch.from_numpy(images),
                                       torch.from_numpy(captions), torch.from_numpy(lengths))
            S.xattn_scores(ie, ce, cl, opt, batched=True, details=details)
        probs = tie_problems(opt, f32(res["sims"]), details, image_ids(images))
        grads = torch.cat([g.flatten() for g in res["grads"].values()])
        nz = grads[grads != 0].abs()
        if nz.numel() and nz.min().item() <= MIN_GRAD:
            probs.append("gradient element %.2e too close to 0" % nz.min().item())
        if float(res["loss"]) <= 0.05:
            probs.append("loss %.3g too small" % float(res["loss"]))
        if probs:
            log("  %s attempt %d rejected: %s" % (name, attempt, "; ".join(probs[:3])))
            continue
        norm = float(res["grad_norm"])
        if mode == "clip":
            opt.grad_clip = round_sig(0.5 * norm)
        elif mode == "noclip":
            opt.grad_clip = round_sig(2.0 * norm)
        else:
            opt.grad_clip = 0.0
        res = run_step(opt, images, captions, lengths, init_state)
        res64 = run_step(opt, images, captions, lengths, init_state, double=True)
        errs = precision_errors(res, res64)
        bad = ["%s %.1e" % (k, v) for k, v in errs.items() if v > PREC_LIMITS[k]]
        if bad:
            log("  %s attempt %d rejected: float32 vs float64: %s" % (name, attempt, ", ".join(bad)))
            continue
        return opt, seed, (images, captions, lengths), init_state, res
    raise RuntimeError("%s: no acceptable inputs after 500 draws" % name)


def write_step(path, name, opt, seed, inputs, init_state, res):
    images, captions, lengths = inputs
    t = OrderedDict()
    t["input.images"] = images
    t["input.captions"] = captions
    t["input.lengths"] = lengths
    for n, v in init_state.items():
        t[n] = f32(v)
    t["out.img_emb"] = f32(res["img_emb"])
    t["out.cap_emb"] = f32(res["cap_emb"])
    t["out.sims"] = f32(res["sims"])
    t["out.loss"] = f32(res["loss"]).reshape(1)
    for n, g in res["grads"].items():
        t["grad." + n] = f32(g)
    t["out.grad_norm"] = f32(res["grad_norm"]).reshape(1)
    t["out.clip_coef"] = f32(res["clip_coef"]).reshape(1)
    for n, p in res["params_after"].items():
        t["adam." + n] = f32(p)
    meta = {
        "opt": opt_json(opt),
        "param_order": json.dumps(list(res["grads"].keys())),
        "duplicate_images": json.dumps([list(DUPLICATE)]),
        "seed": str(seed),
        "generator": "tools/make_scan_fixtures.py (torch %s, float32, 1 thread)" % torch.__version__,
        "description": "%s: one SCAN training step on a batch of %d; sims[i, j] = score(image i, "
                       "caption j); grad.* before clipping; adam.* after clip_grad_norm_ and one "
                       "torch.optim.Adam step (modern form)" % (name, BATCH),
    }
    save_file(path, t, meta)
    return t, meta


# --------------------------------------------------------------------------------------
# GRU fixtures

GRU_CONFIGS = [("gru_bi_1layer", True, 1), ("gru_bi_2layers", True, 2),
               ("gru_uni_1layer", False, 1), ("gru_uni_2layers", False, 2)]
GRU_IN, GRU_H, GRU_B, GRU_T = 5, 4, 5, 6
GRU_LENGTHS = [6, 5, 5, 3, 1]


def gru_forward(gru, x, lengths):
    packed = pack_padded_sequence(x, torch.as_tensor(lengths), batch_first=True)
    out, h_n = gru(packed)
    h, _ = pad_packed_sequence(out, batch_first=True, total_length=x.size(1))
    return h, h_n


def make_gru(name, bi, layers):
    seed = seed_of(name)
    torch.manual_seed(seed)
    gru = nn.GRU(GRU_IN, GRU_H, layers, batch_first=True, bidirectional=bi)
    x = torch.randn(GRU_B, GRU_T, GRU_IN)     # padded steps hold noise: they must be ignored
    x.requires_grad_(True)
    dirs = 2 if bi else 1
    mask = (torch.arange(GRU_T)[None, :] < torch.tensor(GRU_LENGTHS)[:, None]).float()
    d_out = torch.randn(GRU_B, GRU_T, dirs * GRU_H) * mask[:, :, None]
    h, h_n = gru_forward(gru, x, GRU_LENGTHS)
    (h * d_out).sum().backward()
    t = OrderedDict()
    t["input.x"] = f32(x)
    t["input.lengths"] = np.array(GRU_LENGTHS, dtype=np.int64)
    t["input.d_out"] = f32(d_out)
    for n, p in gru.named_parameters():
        t[n] = f32(p)
    t["out.h"] = f32(h)
    t["out.h_n"] = f32(h_n)
    for n, p in gru.named_parameters():
        t["grad." + n] = f32(p.grad)
    t["grad.x"] = f32(x.grad)
    meta = {
        "gru": json.dumps(OrderedDict(input_size=GRU_IN, hidden_size=GRU_H, num_layers=layers,
                                      bidirectional=bi, batch_first=True)),
        "param_order": json.dumps([n for n, _ in gru.named_parameters()]),
        "seed": str(seed),
        "generator": "tools/make_scan_fixtures.py (torch %s, float32, 1 thread)" % torch.__version__,
        "description": "nn.GRU over pack_padded_sequence, zero initial state; out.h padded with "
                       "zeros (directions concatenated, forward first); out.h_n [layers*dirs, B, H]; "
                       "grad.* of sum(out.h * input.d_out); input.x holds noise at padded steps",
    }
    return t, meta, gru, x.detach(), d_out


# --------------------------------------------------------------------------------------
# Recall fixtures (spec 4.3), numpy only

def recall_ranks(sims, per_image):
    n_img, n_cap = sims.shape
    assert n_cap == per_image * n_img
    r_i2t = np.zeros(n_img, dtype=np.int64)
    top1_i2t = np.zeros(n_img, dtype=np.int64)
    for i in range(n_img):
        order = np.argsort(sims[i])[::-1]
        r_i2t[i] = min(np.where(order == c)[0][0] for c in range(per_image * i, per_image * (i + 1)))
        top1_i2t[i] = order[0]
    r_t2i = np.zeros(n_cap, dtype=np.int64)
    top1_t2i = np.zeros(n_cap, dtype=np.int64)
    for c in range(n_cap):
        order = np.argsort(sims[:, c])[::-1]
        r_t2i[c] = np.where(order == c // per_image)[0][0]
        top1_t2i[c] = order[0]
    return r_i2t, top1_i2t, r_t2i, top1_t2i


def recall_metrics(ranks):
    ranks = ranks.astype(np.float64)
    n = len(ranks)
    r1 = 100.0 * len(np.where(ranks < 1)[0]) / n
    r5 = 100.0 * len(np.where(ranks < 5)[0]) / n
    r10 = 100.0 * len(np.where(ranks < 10)[0]) / n
    medr = np.floor(np.median(ranks)) + 1
    meanr = ranks.mean() + 1
    return np.array([r1, r5, r10, medr, meanr])


def make_recall(name, n_img, per_image, bonus):
    rng = np.random.RandomState(seed_of(name))
    n_cap = n_img * per_image
    while True:
        sims = rng.standard_normal((n_img, n_cap))
        for c in range(n_cap):           # make ground truth likelier, so recalls are mixed
            sims[c // per_image, c] += bonus * rng.rand()
        sims = sims.astype(np.float32)
        if len(np.unique(sims)) == sims.size:
            break
    r_i2t, top1_i2t, r_t2i, top1_t2i = recall_ranks(sims.astype(np.float64), per_image)
    t = OrderedDict()
    t["input.sims"] = sims
    t["out.i2t"] = recall_metrics(r_i2t).astype(np.float32)
    t["out.t2i"] = recall_metrics(r_t2i).astype(np.float32)
    t["out.ranks_i2t"] = r_i2t
    t["out.ranks_t2i"] = r_t2i
    t["out.top1_i2t"] = top1_i2t
    t["out.top1_t2i"] = top1_t2i
    meta = {
        "captions_per_image": str(per_image),
        "generator": "tools/make_scan_fixtures.py (numpy %s)" % np.__version__,
        "description": "SCAN i2t/t2i metrics (spec 4.3) of input.sims [N_img, N_cap], no ties; "
                       "caption c belongs to image c // captions_per_image; out.* = [R@1, R@5, "
                       "R@10, medr, meanr] (recalls in percent, ranks 0-based before the +1)",
    }
    return t, meta


# --------------------------------------------------------------------------------------
# Converted fake checkpoint

def make_converted(out_dir, log):
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "fake_scan_checkpoint.pth.tar")
        dst = os.path.join(out_dir, "converted_fake.safetensors")
        for cmd in ([sys.executable, os.path.join(TOOLS, "make_fake_scan_checkpoint.py"), src],
                    [sys.executable, os.path.join(TOOLS, "scan_checkpoint_to_safetensors.py"),
                     src, dst]):
            r = subprocess.run(cmd, capture_output=True, text=True)
            if r.returncode != 0:
                raise RuntimeError("%s failed:\n%s%s" % (" ".join(cmd), r.stdout, r.stderr))
            log("  " + r.stdout.strip().splitlines()[-1][:150])
    expected_path = os.path.join(out_dir, "converted_fake.expected.safetensors")
    t, meta = converted_expected(dst, os.path.join(out_dir, CONVERTED_INPUTS + ".safetensors"))
    save_file(expected_path, t, meta)


def converted_expected(converted_path, inputs_path):
    img_enc, txt_enc, opt = S.load_model_from_safetensors(converted_path)
    inp, _ = load_file(inputs_path)
    with torch.no_grad():
        ie, ce, cl = S.forward_emb(img_enc, txt_enc, torch.from_numpy(inp["input.images"]),
                                   torch.from_numpy(inp["input.captions"]),
                                   torch.from_numpy(inp["input.lengths"]))
        sims = S.xattn_scores(ie, ce, cl, opt)
    t = OrderedDict()
    t["input.images"] = inp["input.images"]
    t["input.captions"] = inp["input.captions"]
    t["input.lengths"] = inp["input.lengths"]
    t["out.img_emb"] = f32(ie)
    t["out.cap_emb"] = f32(ce)
    t["out.sims"] = f32(sims)
    meta = {
        "model": os.path.basename(converted_path),
        "inputs_from": os.path.basename(inputs_path),
        "opt": json.dumps(OrderedDict((k, getattr(opt, k)) for k in OPT_KEYS if hasattr(opt, k))),
        "generator": "tools/make_scan_fixtures.py (torch %s, float32, 1 thread)" % torch.__version__,
        "description": "embeddings and sims of converted_fake.safetensors (its own opt) on the "
                       "inputs of %s" % os.path.basename(inputs_path),
    }
    return t, meta


# --------------------------------------------------------------------------------------
# Self-checks

def fd_check(path, log, n_check=None):
    """float64 central finite differences of the loss vs autograd, on one step fixture."""
    t, meta = load_file(path)
    opt = S.opt_from_json(meta["opt"])
    img_enc, txt_enc = S.build_model(opt)
    S.load_scan_state(img_enc, txt_enc, {k: torch.from_numpy(v) for k, v in t.items()
                                         if k.startswith(("img_enc.", "txt_enc."))})
    img_enc.double()
    txt_enc.double()
    images = torch.from_numpy(t["input.images"]).double()
    caps = torch.from_numpy(t["input.captions"])
    lens = torch.from_numpy(t["input.lengths"])
    named = S.scan_named_params(img_enc, txt_enc)
    _, _, _, loss = S.forward_loss(img_enc, txt_enc, images, caps, lens, opt)
    loss.backward()
    h = 1e-6
    worst = 0.0
    worst32 = 0.0
    for n, p in named:
        ad = p.grad.detach().clone()
        fd = torch.zeros_like(ad)
        flat = p.data.view(-1)
        idx = range(flat.numel()) if n_check is None else range(min(n_check, flat.numel()))
        with torch.no_grad():
            for k in idx:
                orig = flat[k].item()
                flat[k] = orig + h
                lp = S.forward_loss(img_enc, txt_enc, images, caps, lens, opt)[3].item()
                flat[k] = orig - h
                lm = S.forward_loss(img_enc, txt_enc, images, caps, lens, opt)[3].item()
                flat[k] = orig
                fd.view(-1)[k] = (lp - lm) / (2 * h)
        scale = max(ad.abs().max().item(), 1e-12)
        err = (fd - ad).abs().max().item() / scale
        g32 = torch.from_numpy(t["grad." + n]).double()
        err32 = ((g32 - ad).norm() / max(ad.norm().item(), 1e-30)).item()
        worst = max(worst, err)
        worst32 = max(worst32, err32)
    log("  FD check %s: max |fd - autograd| / max|grad| = %.2e (float64); float32 fixture "
        "grads vs float64 autograd: worst relative L2 %.2e" % (os.path.basename(path), worst, worst32))
    return worst < 1e-6 and worst32 < 1e-4


def check_step_file(path):
    """Recompute a step fixture from its own inputs/params/opt: the literal loop must
    reproduce it exactly, the batched form within float32 tolerance."""
    t, meta = load_file(path)
    opt = S.opt_from_json(meta["opt"])
    init = {k: torch.from_numpy(v) for k, v in t.items() if k.startswith(("img_enc.", "txt_enc."))}
    worst_exact = 0.0
    worst_batched = {}
    for batched in (False, True):
        res = run_step(opt, t["input.images"], t["input.captions"], t["input.lengths"], init,
                       batched=batched)
        pairs = [("out.img_emb", res["img_emb"]), ("out.cap_emb", res["cap_emb"]),
                 ("out.sims", res["sims"]), ("out.loss", res["loss"].reshape(1)),
                 ("out.grad_norm", res["grad_norm"].reshape(1)),
                 ("out.clip_coef", res["clip_coef"].reshape(1))]
        pairs += [("grad." + n, g) for n, g in res["grads"].items()]
        pairs += [("adam." + n, p) for n, p in res["params_after"].items()]
        for key, v in pairs:
            a = t[key].astype(np.float64)
            b = f32(v).astype(np.float64)
            if batched:
                kind = key.split(".")[0]
                if kind == "grad":
                    d = np.linalg.norm(a - b) / max(np.linalg.norm(a), 1e-30)
                else:
                    d = np.abs(a - b).max() / max(1.0, np.abs(a).max())
                worst_batched[kind] = max(worst_batched.get(kind, 0.0), d)
            else:
                worst_exact = max(worst_exact, np.abs(a - b).max())
    # Independent numpy check of the clipping and the single Adam step (spec 3.1, 3.3).
    names = json.loads(meta["param_order"])
    g = {n: t["grad." + n].astype(np.float64) for n in names}
    norm = np.sqrt(sum((v ** 2).sum() for v in g.values()))
    coef = min(1.0, opt.grad_clip / (norm + 1e-6)) if opt.grad_clip > 0 else 1.0
    worst_batched["numpy_norm"] = abs(norm - t["out.grad_norm"][0]) / norm
    worst_batched["numpy_coef"] = abs(coef - t["out.clip_coef"][0])
    adam = 0.0
    for n in names:
        gc = g[n] * coef
        p_new = t[n].astype(np.float64) - opt.learning_rate * gc / (np.abs(gc) + 1e-8)
        adam = max(adam, np.abs(p_new - t["adam." + n]).max())
    worst_batched["numpy_adam"] = adam
    res64 = run_step(opt, t["input.images"], t["input.captions"], t["input.lengths"], init,
                     double=True)
    res32 = run_step(opt, t["input.images"], t["input.captions"], t["input.lengths"], init)
    for k, v in precision_errors(res32, res64).items():
        worst_batched["f64_" + k] = v
    return worst_exact, worst_batched, float(t["out.clip_coef"][0])


def self_check(out_dir, written, log):
    ok = True
    files = sorted(f for f in os.listdir(out_dir) if f.endswith(".safetensors"))
    total = 0
    for f in files:
        p = os.path.join(out_dir, f)
        total += os.path.getsize(p)
        t, meta = load_file(p)               # reload with our reader
        if f in written:
            wt, wmeta = written[f]
            same = (set(t) == set(wt) and meta == wmeta and all(
                t[k].shape == np.asarray(wt[k]).shape and t[k].dtype == np.asarray(wt[k]).dtype
                and np.array_equal(t[k], wt[k]) for k in t))
            if not same:
                log("FAIL reload %s differs from what was written" % f)
                ok = False
        for k, v in t.items():
            if v.dtype.kind == "f" and v.dtype != np.float32:
                log("FAIL %s: %s is %s, not float32" % (f, k, v.dtype))
                ok = False
    log("reloaded %d files, %d bytes in all" % (len(files), total))

    worst_exact = 0.0
    worst_b = {}
    clipped = 0
    steps = [f for f in files if f.startswith("step_")]
    for f in steps:
        e, b, coef = check_step_file(os.path.join(out_dir, f))
        worst_exact = max(worst_exact, e)
        for k, v in b.items():
            worst_b[k] = max(worst_b.get(k, 0.0), v)
        clipped += coef < 1.0
    log("step files: %d (%d with clipping active); recomputed literal vs stored: max abs diff "
        "%.2e; worst deviations (batched vs literal: out = max abs / max(1, |out|), grad = "
        "relative L2, adam = max abs; numpy_*: independent clip/Adam; f64_*: float32 fixture vs "
        "float64 step): %s" % (len(steps), clipped, worst_exact,
                                           ", ".join("%s %.2e" % kv for kv in sorted(worst_b.items()))))
    if worst_exact != 0.0 or worst_b.get("out", 1) > 5e-6 or worst_b.get("grad", 1) > 1e-5 \
            or worst_b.get("adam", 1) > 1e-6 or worst_b["numpy_norm"] > 1e-6 \
            or worst_b["numpy_coef"] > 1e-6 or worst_b["numpy_adam"] > 1e-6 \
            or any(worst_b["f64_" + k] > lim for k, lim in PREC_LIMITS.items()):
        log("FAIL step recomputation")
        ok = False
    if not (0 < clipped < len(steps)):
        log("FAIL clipping should trigger in most but not all step files")
        ok = False

    for name, bi, layers in GRU_CONFIGS:
        t, _ = load_file(os.path.join(out_dir, name + ".safetensors"))
        gru = nn.GRU(GRU_IN, GRU_H, layers, batch_first=True, bidirectional=bi).double()
        with torch.no_grad():
            for n, p in gru.named_parameters():
                p.copy_(torch.from_numpy(t[n]))
        x = torch.from_numpy(t["input.x"]).double().requires_grad_(True)
        d_out = torch.from_numpy(t["input.d_out"]).double()
        lengths = t["input.lengths"].tolist()
        h, _ = gru_forward(gru, x, lengths)
        pad = (torch.arange(GRU_T)[None, :] >= torch.tensor(lengths)[:, None])
        if h[pad].abs().max().item() != 0 or np.abs(t["out.h"][pad.numpy()]).max() != 0:
            log("FAIL %s: non-zero output at padding" % name)
            ok = False
        err_h = np.abs(h.detach().numpy() - t["out.h"]).max()
        (h * d_out).sum().backward()
        err_g = max([np.abs(p.grad.numpy() - t["grad." + n]).max() for n, p in gru.named_parameters()]
                    + [np.abs(x.grad.numpy() - t["grad.x"]).max()])
        fd_err = _gru_fd_error(gru, x, lengths, d_out)
        log("  %s: float64 recompute max diff h %.1e grads %.1e; float64 finite differences vs "
            "autograd: max rel %.1e" % (name, err_h, err_g, fd_err))
        ok = ok and fd_err < 1e-6 and err_h < 1e-5 and err_g < 1e-4

    for name, per in (("recall_5x", 5), ("recall_1x", 1)):
        t, _ = load_file(os.path.join(out_dir, name + ".safetensors"))
        r = recall_ranks(t["input.sims"].astype(np.float64), per)
        same = (np.array_equal(r[0], t["out.ranks_i2t"]) and np.array_equal(r[2], t["out.ranks_t2i"])
                and np.array_equal(recall_metrics(r[0]).astype(np.float32), t["out.i2t"])
                and np.array_equal(recall_metrics(r[2]).astype(np.float32), t["out.t2i"]))
        ties = len(np.unique(t["input.sims"])) != t["input.sims"].size
        log("  %s: i2t %s t2i %s; recomputed %s, ties %s" % (
            name, np.round(t["out.i2t"], 2).tolist(), np.round(t["out.t2i"], 2).tolist(),
            "same" if same else "DIFFERENT", "present" if ties else "none"))
        ok = ok and same and not ties

    conv = os.path.join(out_dir, "converted_fake.safetensors")
    exp_t, _ = load_file(os.path.join(out_dir, "converted_fake.expected.safetensors"))
    t2, _ = converted_expected(conv, os.path.join(out_dir, CONVERTED_INPUTS + ".safetensors"))
    d = max(np.abs(exp_t[k] - t2[k]).max() for k in ("out.sims", "out.img_emb", "out.cap_emb"))
    log("  converted_fake.expected recomputed from the converted file: max diff %.1e" % d)
    ok = ok and d == 0

    ok = fd_check(os.path.join(out_dir, "step_t2i_clipped_l2norm_LogSumExp.safetensors"), log) and ok
    ok = fd_check(os.path.join(out_dir, "step_i2t_clipped_l1norm_Max.safetensors"), log) and ok
    ok = fd_check(os.path.join(out_dir, "step_extra_num_layers2.safetensors"), log) and ok
    return ok


def _gru_fd_error(gru, x, lengths, d_out, h=1e-6):
    """Central differences of sum(out.h * d_out) for every GRU parameter and input element,
    perturbing the float64 tensors in place; max |fd - autograd| / max |autograd|."""
    worst = 0.0
    tensors = [(p, p.grad) for _, p in gru.named_parameters()] + [(x, x.grad)]
    with torch.no_grad():
        for t, ad in tensors:
            flat = t.data.view(-1)
            fd = torch.zeros(flat.numel(), dtype=torch.float64)
            for k in range(flat.numel()):
                orig = flat[k].item()
                flat[k] = orig + h
                lp = (gru_forward(gru, x, lengths)[0] * d_out).sum().item()
                flat[k] = orig - h
                lm = (gru_forward(gru, x, lengths)[0] * d_out).sum().item()
                flat[k] = orig
                fd[k] = (lp - lm) / (2 * h)
            worst = max(worst, (fd - ad.view(-1)).abs().max().item() / max(ad.abs().max().item(), 1e-12))
    return worst


# --------------------------------------------------------------------------------------

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=DEFAULT_OUT, help="output folder (default %(default)s)")
    ap.add_argument("--check", action="store_true", help="only self-check existing fixtures")
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    torch.set_default_dtype(torch.float32)

    def log(msg):
        if not args.quiet or not msg.startswith("  "):
            print(msg, flush=True)

    written = {}
    if not args.check:
        os.makedirs(args.out, exist_ok=True)
        for name, over, mode in step_configs():
            opt, seed, inputs, init_state, res = make_step(name, over, mode, log)
            written[name + ".safetensors"] = write_step(
                os.path.join(args.out, name + ".safetensors"), name, opt, seed, inputs, init_state, res)
            log("%s: loss %.4f grad_norm %.4f grad_clip %g clip_coef %.4f" % (
                name, float(res["loss"]), float(res["grad_norm"]), opt.grad_clip, float(res["clip_coef"])))
        for name, bi, layers in GRU_CONFIGS:
            t, meta, _, _, _ = make_gru(name, bi, layers)
            save_file(os.path.join(args.out, name + ".safetensors"), t, meta)
            written[name + ".safetensors"] = (t, meta)
            log("%s written" % name)
        for name, n_img, per, bonus in (("recall_5x", 12, 5, 0.8), ("recall_1x", 12, 1, 2.0)):
            t, meta = make_recall(name, n_img, per, bonus)
            save_file(os.path.join(args.out, name + ".safetensors"), t, meta)
            written[name + ".safetensors"] = (t, meta)
            log("%s written" % name)
        make_converted(args.out, log)
        log("converted_fake.safetensors and converted_fake.expected.safetensors written")
    ok = self_check(args.out, written, log)
    log("self-check: %s" % ("OK" if ok else "FAILED"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

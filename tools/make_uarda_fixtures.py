#!/usr/bin/python3
"""Write the UARDA parity fixtures under tests/fixtures/uarda/ (see tools/README.md, section
"UARDA reference and fixtures") and self-check them.

    /usr/bin/python3 tools/make_uarda_fixtures.py            # write + self-check
    /usr/bin/python3 tools/make_uarda_fixtures.py --check    # self-check existing files only

Step files have exactly the layout of tests/fixtures/scan/step_*.safetensors (one training
step of the reference in tools/uarda_reference.py, float32, one thread); pairs_<dir> files
hold one pair in float64 for a direct test of the pair kernel.  Inputs are re-drawn until no
raw score lies within 1e-3 of the threshold (or of 0 for the LeakyReLU kink), hardest
negatives, Max aggregation and irr = neg arg-maxes have no near ties, every configuration
has some (not all) irrelevant queries and masked entries, and float32 agrees with float64.
"""

import argparse
import json
import os
import sys
from collections import OrderedDict

import numpy as np
import torch

TOOLS = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, TOOLS)
import make_scan_fixtures as MS  # noqa: E402
import scan_reference as S  # noqa: E402
import uarda_reference as U  # noqa: E402
from safetensors_io import load_file, save_file  # noqa: E402

ROOT = os.path.dirname(TOOLS)
DEFAULT_OUT = os.path.join(ROOT, "tests", "fixtures", "uarda")

T = 0.2                      # the threshold of every configuration except a1 (t = 0)
GAP = MS.GAP                 # 1e-3: min distance from a threshold, a tie or a hinge kink
UARDA_KEYS = ("clip", "mask", "logit", "irr", "t_fixed", "t_mode")
OPT_KEYS = MS.OPT_KEYS + UARDA_KEYS
# acceptance band for the share of irrelevant queries and masked entries (t = T); a1 (t = 0)
# only needs MIN_IRR_A1 irrelevant queries
IRR_BAND = (0.10, 0.75)
MASK_BAND = (0.20, 0.85)
MIN_IRR_A1 = 3
MIN_RELEVANT_MASKED = 0.15   # mask = hard: min share of masked entries among relevant queries
GENERATOR = "tools/make_uarda_fixtures.py (torch %s, %s, 1 thread)"


def configs():
    """[(name, switches)]: the UARDA switch settings, identical for both directions."""
    base = OrderedDict([("clip", "uarda"), ("mask", "hard"), ("logit", "scanlike"), ("irr", "zero"),
                        ("t_fixed", T), ("raw_feature_norm", "clipped_l2norm"), ("agg_func", "Mean")])
    out = [("a1", dict(base, t_fixed=0.0))]
    for ag in S.AGG_FUNCS:
        out.append(("fixed_" + ag, dict(base, agg_func=ag)))
    out += [
        ("neg", dict(base, irr="neg")),
        ("raw", dict(base, logit="raw", lambda_softmax=20.0)),
        ("nomask", dict(base, mask="off")),
        ("scanexact", dict(base, clip="scan", mask="off", irr="scan")),
        ("l2norm", dict(base, raw_feature_norm="l2norm")),
        ("softmax", dict(base, raw_feature_norm="softmax")),
    ]
    return out


def step_configs():
    out = []
    for ca in S.CROSS_ATTNS:
        for name, sw in configs():
            mode = "noclip" if name == "fixed_Sum" else "clip"
            out.append(("step_%s_%s" % (ca, name), dict(sw, cross_attn=ca), mode))
    return out


def step_opt(over, grad_clip):
    scan_opt = MS.step_opt(over, grad_clip)       # SCAN's fixture settings (dims, lambdas, ...)
    return U.make_opt(**vars(scan_opt))


def opt_json(opt):
    return json.dumps(OrderedDict((k, getattr(opt, k)) for k in OPT_KEYS))


# --------------------------------------------------------------------------------------
# Conditioning

def raw_stats(raws, t):
    """raws: list of (..., C, Q) raw scores.  (n_queries, n_irrelevant, n_entries, n_masked),
    counted as if the threshold applied (max_c S <= t, S <= t), whatever the switches."""
    nq = ni = ne = nm = 0
    for r in raws:
        mx = r.max(dim=-2)[0]
        nq += mx.numel()
        ni += int((mx <= t).sum())
        ne += r.numel()
        nm += int((r <= t).sum())
    return nq, ni, ne, nm


def masked_in_relevant(raws, t):
    """(entries of relevant queries, how many of them are masked)"""
    ne = nm = 0
    for r in raws:
        rel = (r.max(dim=-2)[0] > t).unsqueeze(-2).expand_as(r)
        ne += int(rel.sum())
        nm += int(((r <= t) & rel).sum())
    return ne, nm


def stats_dict(raws, t):
    nq, ni, ne, nm = raw_stats(raws, t)
    re, rm = masked_in_relevant(raws, t)
    return OrderedDict([("t", t), ("queries", nq), ("irrelevant", ni),
                        ("irrelevant_frac", round(ni / nq, 4)), ("entries", ne), ("masked", nm),
                        ("masked_frac", round(nm / ne, 4)), ("relevant_entries", re),
                        ("relevant_masked", rm), ("relevant_masked_frac", round(rm / re, 4))])


def threshold_problems(opt, raws, rels, name):
    """Reasons why a C port could take another branch than PyTorch at the threshold, or why
    the draw does not exercise the UARDA machinery (empty if none)."""
    probs = []
    t = float(opt.t_fixed)
    allraw = torch.cat([r.flatten() for r in raws]).double()
    near = (allraw - t).abs().min().item()
    if near <= GAP:
        probs.append("raw score %.2e from t" % near)
    if opt.clip == "scan" and U.NORM_PARTS[opt.raw_feature_norm][0] and allraw.abs().min() <= MS.KINK:
        probs.append("raw score near the LeakyReLU kink")
    if opt.irr == "neg":
        for r in raws:
            top2 = r.double().topk(2, dim=-2)[0]            # (..., 2, Q)
            irr = top2[..., 0, :] <= t
            gap = (top2[..., 0, :] - top2[..., 1, :])[irr]
            if gap.numel() and gap.min().item() <= GAP:
                probs.append("irr = neg: arg-max of an irrelevant query %.2e from a tie" % gap.min().item())
                break
    if opt.agg_func == "Max":
        for rel in rels:
            top2 = rel.double().topk(2, dim=-1)[0]
            gap = (top2[..., 0] - top2[..., 1]).min().item()
            if gap <= GAP:
                probs.append("Max aggregation: top two relevance values %.2e apart" % gap)
                break
    nq, ni, ne, nm = raw_stats(raws, t)
    if t == 0.0:
        if ni < MIN_IRR_A1 or ni / nq > IRR_BAND[1]:
            probs.append("%d of %d queries irrelevant" % (ni, nq))
    elif not IRR_BAND[0] <= ni / nq <= IRR_BAND[1]:
        probs.append("irrelevant share %.2f" % (ni / nq))
    if not MASK_BAND[0] <= nm / ne <= MASK_BAND[1] and t != 0.0:
        probs.append("masked share %.2f" % (nm / ne))
    if t == 0.0 and not 0 < nm < ne:
        probs.append("no masked entries")
    re, rm = masked_in_relevant(raws, t)
    if not 0 < rm < re or (opt.mask == "hard" and rm / re < MIN_RELEVANT_MASKED):
        probs.append("relevant queries: %d of %d entries masked" % (rm, re))
    return probs


def forward_details(opt, init_state, images, captions, lengths):
    img_enc, txt_enc = S.build_model(opt)
    S.load_scan_state(img_enc, txt_enc, init_state)
    details = {}
    with torch.no_grad():
        ie, ce, cl = S.forward_emb(img_enc, txt_enc, torch.from_numpy(images),
                                   torch.from_numpy(captions), torch.from_numpy(lengths))
        sims = U.xattn_scores(ie, ce, cl, opt, details=details)
    return sims, details


def run_step(opt, images, captions, lengths, init_state, double=False, via_gram=False):
    img_enc, txt_enc = S.build_model(opt)
    S.load_scan_state(img_enc, txt_enc, init_state)
    images = torch.from_numpy(images)
    if double:
        img_enc.double()
        txt_enc.double()
        images = images.double()
    return U.train_step(img_enc, txt_enc, images, torch.from_numpy(captions),
                        torch.from_numpy(lengths), opt, via_gram=via_gram)


def make_step(name, over, mode, log):
    base = MS.seed_of("uarda/" + name)
    for attempt in range(2000):
        seed = base + 7919 * attempt
        rng = np.random.RandomState(seed % (2 ** 32))
        images, captions, lengths = MS.make_inputs(rng)
        torch.manual_seed(seed)
        opt = step_opt(over, grad_clip=0.0)
        img_enc, txt_enc = S.build_model(opt)
        init_state = S.scan_state(img_enc, txt_enc)
        sims, details = forward_details(opt, init_state, images, captions, lengths)
        probs = threshold_problems(opt, details["raw"], details["rel"], name)
        if not probs:
            d = {"raw": details["raw"], "rel": details["rel"],
                 "raw_mask": [torch.ones_like(r, dtype=torch.bool) for r in details["raw"]],
                 "rel_mask": [torch.ones_like(r, dtype=torch.bool) for r in details["rel"]]}
            probs = MS.tie_problems(opt, MS.f32(sims), d, MS.image_ids(images))
        if not probs:
            res = run_step(opt, images, captions, lengths, init_state)      # unclipped dry run
            grads = torch.cat([g.flatten() for g in res["grads"].values()])
            nz = grads[grads != 0].abs()
            if nz.numel() and nz.min().item() <= MS.MIN_GRAD:
                probs.append("gradient element %.2e too close to 0" % nz.min().item())
            if float(res["loss"]) <= 0.05:
                probs.append("loss %.3g too small" % float(res["loss"]))
        if probs:
            if attempt % 50 == 0:
                log("  %s attempt %d rejected: %s" % (name, attempt, "; ".join(probs[:3])))
            continue
        norm = float(res["grad_norm"])
        opt.grad_clip = MS.round_sig(0.5 * norm) if mode == "clip" else MS.round_sig(2.0 * norm)
        res = run_step(opt, images, captions, lengths, init_state)
        res64 = run_step(opt, images, captions, lengths, init_state, double=True)
        errs = MS.precision_errors(res, res64)
        bad = ["%s %.1e" % (k, v) for k, v in errs.items() if v > MS.PREC_LIMITS[k]]
        if bad:
            log("  %s attempt %d rejected: float32 vs float64: %s" % (name, attempt, ", ".join(bad)))
            continue
        stats = stats_dict(details["raw"], float(opt.t_fixed))
        return opt, seed, attempt, (images, captions, lengths), init_state, res, stats
    raise RuntimeError("%s: no acceptable inputs after 2000 draws" % name)


def write_step(path, name, opt, seed, inputs, init_state, res, stats):
    images, captions, lengths = inputs
    t = OrderedDict()
    t["input.images"] = images
    t["input.captions"] = captions
    t["input.lengths"] = lengths
    for n, v in init_state.items():
        t[n] = MS.f32(v)
    t["out.img_emb"] = MS.f32(res["img_emb"])
    t["out.cap_emb"] = MS.f32(res["cap_emb"])
    t["out.sims"] = MS.f32(res["sims"])
    t["out.loss"] = MS.f32(res["loss"]).reshape(1)
    for n, g in res["grads"].items():
        t["grad." + n] = MS.f32(g)
    t["out.grad_norm"] = MS.f32(res["grad_norm"]).reshape(1)
    t["out.clip_coef"] = MS.f32(res["clip_coef"]).reshape(1)
    for n, p in res["params_after"].items():
        t["adam." + n] = MS.f32(p)
    meta = {
        "opt": opt_json(opt),
        "param_order": json.dumps(list(res["grads"].keys())),
        "duplicate_images": json.dumps([list(MS.DUPLICATE)]),
        "stats": json.dumps(stats),
        "seed": str(seed),
        "generator": GENERATOR % (torch.__version__, "float32"),
        "description": "%s: one training step of the UARDA reference (tools/uarda_reference.py: "
                       "SCAN encoders and loss, thresholded cross attention of attention.h with "
                       "the switches in opt) on a batch of %d; sims[i, j] = score(image i, caption "
                       "j); grad.* before clipping; adam.* after clip_grad_norm_ and one "
                       "torch.optim.Adam step; stats: queries with max_c S <= t and entries "
                       "S <= t over all pairs" % (name, MS.BATCH),
    }
    save_file(path, t, meta)
    return t, meta


# --------------------------------------------------------------------------------------
# Pair fixtures (float64, one pair per direction)

PAIR_DIMS = {"t2i": (5, 8), "i2t": (8, 5)}       # (c, q): t2i c = regions, q = words
PAIR_D = 8


def pair_opts(direction):
    """[(name, opt)] for the pair kernel: SCAN fixtures' lambdas per direction."""
    out = []
    for name, sw in configs():
        d = dict(sw, cross_attn=direction, lambda_lse=6.0)
        d.setdefault("lambda_softmax", 9.0 if direction == "t2i" else 4.0)
        out.append((name, U.make_opt(**d)))
    return out


def pair_config_json(name, opt):
    return OrderedDict([("name", name), ("clip", opt.clip), ("mask", opt.mask), ("logit", opt.logit),
                        ("irr", opt.irr), ("t", float(opt.t_fixed)),
                        ("raw_feature_norm", opt.raw_feature_norm), ("agg_func", opt.agg_func),
                        ("lambda_softmax", float(opt.lambda_softmax)),
                        ("lambda_lse", float(opt.lambda_lse))])


def pair_eval(ctx, qry, opt):
    """score, R and the gradients of the score w.r.t. S, G, qn (independent leaves)."""
    Sm = (ctx @ qry.t()).detach().requires_grad_(True)
    G = (ctx @ ctx.t()).detach().requires_grad_(True)
    qn = torch.norm(qry, 2, -1).detach().requires_grad_(True)
    score, R = U.pair_score(Sm, G, qn, opt)
    score.backward()
    return score.detach(), R.detach(), Sm.grad, G.grad, qn.grad, (Sm.detach(), G.detach(), qn.detach())


def pair_problems(ctx, qry, opts):
    Sm = (ctx @ qry.t())
    probs = []
    for name, opt in opts:
        t = float(opt.t_fixed)
        if (Sm - t).abs().min() <= GAP:
            probs.append("%s: S near t" % name)
        if opt.clip == "scan" and Sm.abs().min() <= MS.KINK:
            probs.append("%s: S near 0" % name)
        mx = Sm.max(dim=0)[0]
        ni = int((mx <= t).sum())
        nm = int((Sm <= t).sum())
        if not (2 if t > 0 else 1) <= ni <= Sm.shape[1] - 2:
            probs.append("%s: %d irrelevant queries" % (name, ni))
        if not 0 < nm < Sm.numel():
            probs.append("%s: masked %d" % (name, nm))
        if opt.irr == "neg":
            top2 = Sm.topk(2, dim=0)[0]
            gap = (top2[0] - top2[1])[top2[0] <= t]
            if gap.numel() and gap.min() <= GAP:
                probs.append("%s: arg-max tie" % name)
        if opt.agg_func == "Max":
            _, R = U.pair_score(Sm, ctx @ ctx.t(), torch.norm(qry, 2, -1), opt)
            top2 = R.topk(2)[0]
            if top2[0] - top2[1] <= GAP:
                probs.append("%s: Max tie" % name)
    return probs


def make_pairs(direction, log):
    c, q = PAIR_DIMS[direction]
    opts = pair_opts(direction)
    base = MS.seed_of("uarda/pairs_" + direction)
    for attempt in range(2000):
        seed = base + 7919 * attempt
        rng = np.random.RandomState(seed % (2 ** 32))
        ctx = rng.standard_normal((c, PAIR_D))
        ctx /= np.linalg.norm(ctx, axis=1, keepdims=True)
        qry = rng.standard_normal((q, PAIR_D))
        qry /= np.linalg.norm(qry, axis=1, keepdims=True)
        # one query pointing away from every context item: irrelevant even at t = 0
        away = -ctx.sum(0) + 0.5 * rng.standard_normal(PAIR_D)
        qry[rng.randint(q)] = away / np.linalg.norm(away)
        # norms away from 1, so that the kernel's use of G and qn is exercised in general
        ctx *= rng.uniform(0.8, 1.25, size=(c, 1))
        qry *= rng.uniform(0.8, 1.25, size=(q, 1))
        ctx_t, qry_t = torch.from_numpy(ctx), torch.from_numpy(qry)
        probs = pair_problems(ctx_t, qry_t, opts)
        if probs:
            continue
        t = OrderedDict()
        t["input.context"] = ctx
        t["input.query"] = qry
        first = True
        for name, opt in opts:
            score, R, gS, gG, gq, (Sm, G, qn) = pair_eval(ctx_t, qry_t, opt)
            if first:
                t["input.S"] = Sm.numpy()
                t["input.G"] = G.numpy()
                t["input.qn"] = qn.numpy()
                first = False
            t["out.score." + name] = score.numpy().reshape(1)
            t["out.R." + name] = R.numpy()
            t["grad.S." + name] = gS.numpy()
            t["grad.G." + name] = gG.numpy()
            t["grad.qn." + name] = gq.numpy()
        stats = [stats_dict([Sm], tt) for tt in sorted(set(float(o.t_fixed) for _, o in opts))]
        meta = {
            "direction": direction,
            "configs": json.dumps([pair_config_json(n, o) for n, o in opts]),
            "stats": json.dumps(stats),
            "seed": str(seed),
            "generator": GENERATOR % (torch.__version__, "float64"),
            "description": "one %s pair for the pair kernel (attention.h): input.S [c, q] = "
                           "S[c][q] = <context_c, query_q> (c = %s, q = %s), input.G [c, c] = "
                           "context Gram matrix, input.qn [q] = query norms (input.context / "
                           "input.query: the vectors they come from); per config: out.score, "
                           "out.R (relevance of every query), grad.{S,G,qn} = d score / d input "
                           "(S, G, qn independent); stats: for each threshold used, queries with "
                           "max_c S <= t and entries S <= t" % (
                               direction, "regions" if direction == "t2i" else "words",
                               "words" if direction == "t2i" else "regions"),
        }
        log("  pairs_%s: attempt %d" % (direction, attempt))
        return t, meta
    raise RuntimeError("pairs_%s: no acceptable draw" % direction)


# --------------------------------------------------------------------------------------
# Self-checks

def fd_check_step(path, log):
    """float64 central finite differences of the loss vs autograd, every parameter."""
    t, meta = load_file(path)
    opt = U.opt_from_json(meta["opt"])
    init = {k: torch.from_numpy(v) for k, v in t.items() if k.startswith(("img_enc.", "txt_enc."))}
    img_enc, txt_enc = S.build_model(opt)
    S.load_scan_state(img_enc, txt_enc, init)
    img_enc.double()
    txt_enc.double()
    images = torch.from_numpy(t["input.images"]).double()
    caps = torch.from_numpy(t["input.captions"])
    lens = torch.from_numpy(t["input.lengths"])
    named = S.scan_named_params(img_enc, txt_enc)
    U.forward_loss(img_enc, txt_enc, images, caps, lens, opt)[3].backward()
    h = 1e-6
    worst = worst32 = 0.0
    for n, p in named:
        ad = p.grad.detach().clone()
        fd = torch.zeros_like(ad)
        flat = p.data.view(-1)
        with torch.no_grad():
            for k in range(flat.numel()):
                orig = flat[k].item()
                flat[k] = orig + h
                lp = U.forward_loss(img_enc, txt_enc, images, caps, lens, opt)[3].item()
                flat[k] = orig - h
                lm = U.forward_loss(img_enc, txt_enc, images, caps, lens, opt)[3].item()
                flat[k] = orig
                fd.view(-1)[k] = (lp - lm) / (2 * h)
        worst = max(worst, (fd - ad).abs().max().item() / max(ad.abs().max().item(), 1e-12))
        g32 = torch.from_numpy(t["grad." + n]).double()
        worst32 = max(worst32, ((g32 - ad).norm() / max(ad.norm().item(), 1e-30)).item())
    log("  FD check %s: max |fd - autograd| / max|grad| = %.2e (float64); float32 fixture grads "
        "vs float64 autograd: worst relative L2 %.2e" % (os.path.basename(path), worst, worst32))
    return worst < 1e-6 and worst32 < 1e-4


def check_step_file(path):
    """Recompute a step file: the literal form must give the same bits, the Gram form per pair
    and float64 must agree within tolerance; an independent numpy clip/Adam check."""
    t, meta = load_file(path)
    opt = U.opt_from_json(meta["opt"])
    init = {k: torch.from_numpy(v) for k, v in t.items() if k.startswith(("img_enc.", "txt_enc."))}
    worst_exact = 0.0
    worst = {}
    for via_gram in (False, True):
        res = run_step(opt, t["input.images"], t["input.captions"], t["input.lengths"], init,
                       via_gram=via_gram)
        pairs = [("out.img_emb", res["img_emb"]), ("out.cap_emb", res["cap_emb"]),
                 ("out.sims", res["sims"]), ("out.loss", res["loss"].reshape(1)),
                 ("out.grad_norm", res["grad_norm"].reshape(1)),
                 ("out.clip_coef", res["clip_coef"].reshape(1))]
        pairs += [("grad." + n, g) for n, g in res["grads"].items()]
        pairs += [("adam." + n, p) for n, p in res["params_after"].items()]
        for key, v in pairs:
            a = t[key].astype(np.float64)
            b = MS.f32(v).astype(np.float64)
            if via_gram:
                kind = "gram_" + key.split(".")[0]
                if key.startswith("grad."):
                    d = np.linalg.norm(a - b) / max(np.linalg.norm(a), 1e-30)
                else:
                    d = np.abs(a - b).max() / max(1.0, np.abs(a).max())
                worst[kind] = max(worst.get(kind, 0.0), d)
            else:
                worst_exact = max(worst_exact, np.abs(a - b).max())
    names = json.loads(meta["param_order"])
    g = {n: t["grad." + n].astype(np.float64) for n in names}
    norm = np.sqrt(sum((v ** 2).sum() for v in g.values()))
    coef = min(1.0, opt.grad_clip / (norm + 1e-6)) if opt.grad_clip > 0 else 1.0
    worst["numpy_norm"] = abs(norm - t["out.grad_norm"][0]) / norm
    worst["numpy_coef"] = abs(coef - t["out.clip_coef"][0])
    adam = 0.0
    for n in names:
        gc = g[n] * coef
        p_new = t[n].astype(np.float64) - opt.learning_rate * gc / (np.abs(gc) + 1e-8)
        adam = max(adam, np.abs(p_new - t["adam." + n]).max())
    worst["numpy_adam"] = adam
    res64 = run_step(opt, t["input.images"], t["input.captions"], t["input.lengths"], init, double=True)
    res32 = run_step(opt, t["input.images"], t["input.captions"], t["input.lengths"], init)
    for k, v in MS.precision_errors(res32, res64).items():
        worst["f64_" + k] = v
    # the stats in the metadata, recomputed
    _, details = forward_details(opt, init, t["input.images"], t["input.captions"], t["input.lengths"])
    stats_ok = json.loads(meta["stats"]) == json.loads(json.dumps(stats_dict(details["raw"], float(opt.t_fixed))))
    stats_ok = stats_ok and not threshold_problems(opt, details["raw"], details["rel"], path)
    return worst_exact, worst, stats_ok, float(t["out.clip_coef"][0])


def check_scanexact(path, log):
    """The scanexact step must be SCAN's step (scan_reference.train_step) bit for bit."""
    t, meta = load_file(path)
    opt = U.opt_from_json(meta["opt"])
    scan_opt = S.make_opt(**{k: getattr(opt, k) for k in MS.OPT_KEYS})
    init = {k: torch.from_numpy(v) for k, v in t.items() if k.startswith(("img_enc.", "txt_enc."))}
    out = {}
    for batched in (False, True):
        img_enc, txt_enc = S.build_model(scan_opt)
        S.load_scan_state(img_enc, txt_enc, init)
        res = S.train_step(img_enc, txt_enc, torch.from_numpy(t["input.images"]),
                           torch.from_numpy(t["input.captions"]), torch.from_numpy(t["input.lengths"]),
                           scan_opt, batched=batched)
        vals = [("out.sims", res["sims"]), ("out.loss", res["loss"].reshape(1)),
                ("out.img_emb", res["img_emb"]), ("out.cap_emb", res["cap_emb"]),
                ("out.grad_norm", res["grad_norm"].reshape(1))]
        vals += [("grad." + n, g) for n, g in res["grads"].items()]
        vals += [("adam." + n, p) for n, p in res["params_after"].items()]
        out[batched] = max(np.abs(t[k].astype(np.float64) - MS.f32(v).astype(np.float64)).max()
                           for k, v in vals)
    log("  %s vs scan_reference.train_step: literal max abs diff %.2e, batched %.2e" % (
        os.path.basename(path), out[False], out[True]))
    return out[False] == 0.0 and out[True] < 1e-5


def numpy_pair_forward(Sm, G, qn, cj):
    """attention.h's formulas written out once more in numpy, loop by loop (float64)."""
    c, q = Sm.shape
    t = cj["t"]
    leaky, part = U.NORM_PARTS[cj["raw_feature_norm"]]
    if cj["clip"] == "uarda":
        Z = np.maximum(Sm - t, 0.0)
    else:
        Z = np.where(Sm > 0, Sm, 0.1 * Sm) if leaky else Sm.copy()
    P = np.empty_like(Z)
    for ci in range(c):
        z = Z[ci]
        if part == "l2":
            P[ci] = z / (np.sqrt((z * z).sum()) + 1e-8)
        elif part == "l1":
            P[ci] = z / (np.abs(z).sum() + 1e-8)
        elif part == "softmax":
            e = np.exp(z - z.max())
            P[ci] = e / e.sum()
        else:
            P[ci] = z
    R = np.empty(q)
    for k in range(q):
        col = Sm[:, k]
        relevant = cj["irr"] == "scan" or col.max() > t
        if not relevant:
            R[k] = 0.0 if cj["irr"] == "zero" else col.max() - t
            continue
        m = col > t if cj["mask"] == "hard" else np.ones(c, dtype=bool)
        logit = cj["lambda_softmax"] * (col if cj["logit"] == "raw" else P[:, k])
        e = np.where(m, np.exp(logit - logit[m].max()), 0.0)
        A = e / e.sum()
        num = (A * col).sum()
        an = np.sqrt(max(A @ G @ A, 0.0))
        R[k] = num / max(qn[k] * an, 1e-8)
    agg = cj["agg_func"]
    if agg == "LogSumExp":
        score = np.log(np.exp(cj["lambda_lse"] * R).sum()) / cj["lambda_lse"]
    elif agg == "Mean":
        score = R.mean()
    elif agg == "Max":
        score = R.max()
    else:
        score = R.sum()
    return score, R


def check_pairs(path, log):
    """Recompute every config; float64 finite differences of the score w.r.t. S, G, qn;
    structural facts (irrelevant R, zero gradients at masked entries); scanexact vs SCAN."""
    t, meta = load_file(path)
    direction = meta["direction"]
    cfgs = json.loads(meta["configs"])
    ctx = torch.from_numpy(t["input.context"])
    qry = torch.from_numpy(t["input.query"])
    ok = True
    worst_fd = worst_re = worst_np = 0.0
    probs = pair_problems(ctx, qry, pair_opts(direction))
    if probs or [pair_config_json(n, o) for n, o in pair_opts(direction)] != cfgs:
        log("FAIL %s: conditioning or configs: %s" % (path, "; ".join(probs)))
        ok = False
    for cj in cfgs:
        opt = U.make_opt(cross_attn=direction, clip=cj["clip"], mask=cj["mask"], logit=cj["logit"],
                         irr=cj["irr"], t_fixed=cj["t"], raw_feature_norm=cj["raw_feature_norm"],
                         agg_func=cj["agg_func"], lambda_softmax=cj["lambda_softmax"],
                         lambda_lse=cj["lambda_lse"])
        name = cj["name"]
        score, R, gS, gG, gq, (Sm, G, qn) = pair_eval(ctx, qry, opt)
        if not (np.array_equal(Sm.numpy(), t["input.S"]) and np.array_equal(G.numpy(), t["input.G"])
                and np.array_equal(qn.numpy(), t["input.qn"])):
            log("FAIL %s: inputs are not recomputed from the vectors" % path)
            ok = False
        for key, v in (("out.score.", score.reshape(1)), ("out.R.", R), ("grad.S.", gS),
                       ("grad.G.", gG), ("grad.qn.", gq)):
            worst_re = max(worst_re, np.abs(t[key + name] - v.numpy()).max())
        np_score, np_R = numpy_pair_forward(t["input.S"], t["input.G"], t["input.qn"], cj)
        worst_np = max(worst_np, abs(np_score - t["out.score." + name][0]),
                       np.abs(np_R - t["out.R." + name]).max())
        # finite differences, every input element
        h = 1e-6
        scale = max(gS.abs().max().item(), gG.abs().max().item(), gq.abs().max().item(), 1e-12)
        for key, x, ad in (("S", Sm, gS), ("G", G, gG), ("qn", qn, gq)):
            fd = torch.zeros_like(x)
            for k in range(x.numel()):
                xp = x.clone()
                xp.view(-1)[k] += h
                xm = x.clone()
                xm.view(-1)[k] -= h
                args_p = [xp if key == n else v for n, v in (("S", Sm), ("G", G), ("qn", qn))]
                args_m = [xm if key == n else v for n, v in (("S", Sm), ("G", G), ("qn", qn))]
                fd.view(-1)[k] = (U.pair_score(*args_p, opt)[0] - U.pair_score(*args_m, opt)[0]) / (2 * h)
            worst_fd = max(worst_fd, (fd - ad).abs().max().item() / scale)
        tt = cj["t"]
        mx, am = Sm.max(dim=0)
        irr = mx <= tt
        if cj["irr"] == "zero" and not (np.all(t["out.R." + name][irr.numpy()] == 0)
                                        and np.all(t["grad.qn." + name][irr.numpy()] == 0)
                                        and np.all(t["grad.S." + name][:, irr.numpy()] == 0)):
            log("FAIL %s %s: irrelevant queries not 0 / with a gradient" % (path, name))
            ok = False
        if cj["irr"] == "neg" and not np.array_equal(t["out.R." + name][irr.numpy()], (mx - tt)[irr].numpy()):
            log("FAIL %s %s: irrelevant queries not max S - t" % (path, name))
            ok = False
        if cj["mask"] == "hard" and cj["clip"] == "uarda":
            gs = t["grad.S." + name].copy()
            if cj["irr"] == "neg":                    # the arg-max of an irrelevant query
                for qi in np.where(irr.numpy())[0]:
                    gs[am[qi], qi] = 0
            if np.any(gs[Sm.numpy() <= tt] != 0):
                log("FAIL %s %s: masked entries with a gradient" % (path, name))
                ok = False
        if name == "scanexact":
            # scan_reference's func_attention on the vectors themselves
            so = S.make_opt(raw_feature_norm=cj["raw_feature_norm"], agg_func=cj["agg_func"],
                            lambda_softmax=cj["lambda_softmax"], lambda_lse=cj["lambda_lse"])
            weighted, _ = S.func_attention(qry[None], ctx[None], so.raw_feature_norm, so.lambda_softmax)
            rel = S.cosine_similarity(qry[None], weighted, dim=2)
            sc = S.aggregate(rel, so.agg_func, so.lambda_lse, dim=1)
            d = max(abs(sc.item() - t["out.score.scanexact"][0]),
                    np.abs(rel[0].numpy() - t["out.R.scanexact"]).max())
            log("  %s scanexact vs scan_reference.func_attention (literal): max diff %.1e" % (
                os.path.basename(path), d))
            ok = ok and d < 1e-14
    log("  %s: %d configs; recomputed max diff %.1e; independent numpy forward (score, R) max "
        "diff %.1e; float64 FD vs autograd (S, G, qn; all elements) max rel %.1e" % (
            os.path.basename(path), len(cfgs), worst_re, worst_np, worst_fd))
    return ok and worst_re == 0 and worst_np < 1e-13 and worst_fd < 1e-7


def self_check(out_dir, written, log):
    ok = True
    files = sorted(f for f in os.listdir(out_dir) if f.endswith(".safetensors"))
    total = 0
    for f in files:
        p = os.path.join(out_dir, f)
        total += os.path.getsize(p)
        t, meta = load_file(p)
        if f in written:
            wt, wmeta = written[f]
            same = (set(t) == set(wt) and meta == wmeta and all(
                t[k].shape == np.asarray(wt[k]).shape and t[k].dtype == np.asarray(wt[k]).dtype
                and np.array_equal(t[k], wt[k]) for k in t))
            if not same:
                log("FAIL reload %s differs from what was written" % f)
                ok = False
        want = np.float64 if f.startswith("pairs_") else np.float32
        for k, v in t.items():
            if v.dtype.kind == "f" and v.dtype != want:
                log("FAIL %s: %s is %s" % (f, k, v.dtype))
                ok = False
    log("reloaded %d files, %d bytes in all" % (len(files), total))
    expected = [n + ".safetensors" for n, _, _ in step_configs()]
    expected += ["pairs_%s.safetensors" % d for d in S.CROSS_ATTNS]
    missing = sorted(set(expected) - set(files))
    if missing:
        log("FAIL missing files: %s" % ", ".join(missing))
        ok = False

    worst_exact = 0.0
    worst = {}
    clipped = 0
    steps = [f for f in files if f.startswith("step_")]
    for f in steps:
        e, w, stats_ok, coef = check_step_file(os.path.join(out_dir, f))
        worst_exact = max(worst_exact, e)
        for k, v in w.items():
            worst[k] = max(worst.get(k, 0.0), v)
        clipped += coef < 1.0
        if not stats_ok:
            log("FAIL %s: stats metadata differs from the recomputation, or conditioning fails" % f)
            ok = False
    log("step files: %d (%d with clipping active); literal recomputation vs stored: max abs diff "
        "%.2e; worst deviations (gram_*: Gram form per pair vs stored, out = max abs / max(1, |out|),"
        " grad = relative L2, adam = max abs; numpy_*: independent clip/Adam; f64_*: float32 "
        "fixture vs float64 step): %s" % (len(steps), clipped, worst_exact,
                                          ", ".join("%s %.2e" % kv for kv in sorted(worst.items()))))
    if worst_exact != 0.0 or worst.get("gram_out", 1) > 5e-6 or worst.get("gram_grad", 1) > 1e-5 \
            or worst.get("gram_adam", 1) > 1e-6 or worst["numpy_norm"] > 1e-6 \
            or worst["numpy_coef"] > 1e-6 or worst["numpy_adam"] > 1e-6 \
            or any(worst["f64_" + k] > lim for k, lim in MS.PREC_LIMITS.items()):
        log("FAIL step recomputation")
        ok = False
    for d in S.CROSS_ATTNS:
        ok = check_scanexact(os.path.join(out_dir, "step_%s_scanexact.safetensors" % d), log) and ok
        ok = check_pairs(os.path.join(out_dir, "pairs_%s.safetensors" % d), log) and ok
    for f in ("step_t2i_fixed_Mean", "step_i2t_neg", "step_t2i_raw", "step_i2t_fixed_Max",
              "step_t2i_softmax", "step_i2t_a1"):
        ok = fd_check_step(os.path.join(out_dir, f + ".safetensors"), log) and ok
    return ok


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
            opt, seed, attempt, inputs, init_state, res, stats = make_step(name, over, mode, log)
            written[name + ".safetensors"] = write_step(
                os.path.join(args.out, name + ".safetensors"), name, opt, seed, inputs, init_state,
                res, stats)
            log("%s: attempt %d, loss %.4f grad_norm %.4f clip_coef %.4f; irrelevant %d/%d (%.1f%%), "
                "masked %d/%d (%.1f%%), in relevant queries %d/%d (%.1f%%)" % (
                    name, attempt, float(res["loss"]), float(res["grad_norm"]), float(res["clip_coef"]),
                    stats["irrelevant"], stats["queries"], 100 * stats["irrelevant_frac"],
                    stats["masked"], stats["entries"], 100 * stats["masked_frac"],
                    stats["relevant_masked"], stats["relevant_entries"],
                    100 * stats["relevant_masked_frac"]))
        for d in S.CROSS_ATTNS:
            t, meta = make_pairs(d, log)
            name = "pairs_%s.safetensors" % d
            save_file(os.path.join(args.out, name), t, meta)
            written[name] = (t, meta)
            for st in json.loads(meta["stats"]):
                log("%s t=%g: irrelevant %d/%d, masked %d/%d (in relevant queries %d/%d)" % (
                    name, st["t"], st["irrelevant"], st["queries"], st["masked"], st["entries"],
                    st["relevant_masked"], st["relevant_entries"]))
    ok = self_check(args.out, written, log)
    log("self-check: %s" % ("OK" if ok else "FAILED"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/python3
"""Write the NAAF parity fixtures under tests/fixtures/naaf/ (see tools/README.md, section
"NAAF reference and fixtures") and self-check them.

    /usr/bin/python3 tools/make_naaf_fixtures.py            # write + self-check
    /usr/bin/python3 tools/make_naaf_fixtures.py --check    # self-check existing files only

step_<t2i|i2t>.safetensors: one training step of tools/naaf_reference.py (NAAF's training form
at the fixed t = T, through SCAN's encoders, ContrastiveLoss, clip_grad_norm_ and one Adam
step; float32, one thread), with the layout of tests/fixtures/scan/step_*.safetensors, plus
out.sims_test: the test form at t_safe = T_SAFE on the same embeddings.  pairs_<t2i|i2t>: one
pair in float64 (S, G, H) with both forms' scores, word scores and gradients.

Inputs are re-drawn until: 20% to 60% of the words of matched pairs have their best region
below T; no raw score lies within 1e-3 of T or T_SAFE (or 1e-5 of 0, LeakyReLU's kink); the
arg-max of every query in the negative branch is 1e-3 clear of the runner-up; every smoothed
maximum s' is 1e-3 clear of 0 and the smoothing switches at least one query; the hinge loss
has no near ties or kinks; float32 agrees with float64.
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
import naaf_reference as N  # noqa: E402
import scan_reference as S  # noqa: E402
from safetensors_io import load_file, save_file  # noqa: E402

ROOT = os.path.dirname(TOOLS)
DEFAULT_OUT = os.path.join(ROOT, "tests", "fixtures", "naaf")

T = 0.3             # training form's threshold in the step files
T_SAFE = 0.2        # test form's threshold in the step files
T_PAIR = 0.25       # both forms' threshold in the pair files
LAMBDA = 20.0       # NAAF's lambda_softmax
GAP = MS.GAP
BELOW_BAND = (0.20, 0.60)   # share of the words of matched pairs whose best region is below T
NAAF_KEYS = ("model", "score", "score_form", "t_mode", "t_fixed")
OPT_KEYS = MS.OPT_KEYS + NAAF_KEYS
GENERATOR = "tools/make_naaf_fixtures.py (torch %s, %s, 1 thread)"


def step_opt(direction, grad_clip):
    opt = MS.step_opt(dict(cross_attn=direction, raw_feature_norm="clipped_l2norm", agg_func="Mean",
                           lambda_softmax=LAMBDA), grad_clip)
    opt.model, opt.score, opt.score_form, opt.t_mode, opt.t_fixed = "naaf", "naaf", "test", "fixed", T
    return opt


def opt_json(opt):
    return json.dumps(OrderedDict((k, getattr(opt, k)) for k in OPT_KEYS))


def pair_raws(img_emb, cap_emb, cap_lens, direction):
    """[(i, j, raw (Q, C), query vectors (Q, d))] for every pair, in the direction's roles."""
    out = []
    for j, n in enumerate(cap_lens):
        cap = cap_emb[j, :n]
        for i in range(img_emb.size(0)):
            if direction == "t2i":
                out.append((i, j, cap @ img_emb[i].t(), cap))
            else:
                out.append((i, j, img_emb[i] @ cap.t(), img_emb[i]))
    return out


def branch_problems(raw, qry, t_train, t_test, probs, counts):
    """The conditioning of one pair (raw (Q, C), the queries' vectors) at both thresholds."""
    r = raw.double()
    for t in (t_train, t_test):
        if (r - t).abs().min().item() <= GAP:
            probs.add("raw score within %.0e of t = %g" % (GAP, t))
    if r.abs().min().item() <= MS.KINK:
        probs.add("raw score near LeakyReLU's kink")
    shat = (r - t_train).max(-1)[0]
    if r.size(-1) > 1:
        top2 = r.topk(2, dim=-1)[0]
        gap = (top2[:, 0] - top2[:, 1])[shat < 0]
        if gap.numel() and gap.min().item() <= GAP:
            probs.add("arg-max of a negative query within %.0e of a tie" % GAP)
    shat_te = (r - t_test).max(-1)[0]
    smooth = torch.softmax(N.SMOOTH * (qry.double() @ qry.double().t()), dim=-1)
    sprime = smooth @ shat_te
    if sprime.abs().min().item() <= GAP:
        probs.add("smoothed maximum within %.0e of 0" % GAP)
    counts["flips"] += int(((sprime < 0) != (shat_te < 0)).sum())
    counts["negative"] += int((shat < 0).sum())
    counts["queries"] += shat.numel()


def forward_problems(opt, images, captions, lengths, init_state):
    img_enc, txt_enc = S.build_model(opt)
    S.load_scan_state(img_enc, txt_enc, init_state)
    with torch.no_grad():
        ie, ce, cl = S.forward_emb(img_enc, txt_enc, torch.from_numpy(images), torch.from_numpy(captions),
                                   torch.from_numpy(lengths))
        sims = N.xattn_scores(ie, ce, cl, opt, "train")
    probs, counts = set(), {"flips": 0, "negative": 0, "queries": 0}
    raws = []
    for i, j, raw, qry in pair_raws(ie, ce, cl, opt.cross_attn):
        branch_problems(raw, qry, T, T_SAFE, probs, counts)
        raws.append(raw)
    below = total = 0
    for c in range(len(cl)):
        wm = N.word_maxima(ie, ce, cl, c, c)
        below += int((wm < T).sum())
        total += wm.numel()
    share = below / total
    if not BELOW_BAND[0] <= share <= BELOW_BAND[1]:
        probs.add("%.2f of the words of matched pairs below t" % share)
    if counts["flips"] == 0:
        probs.add("the smoothing switches no query")
    if not 0 < counts["negative"] < counts["queries"]:
        probs.add("%d of %d queries negative" % (counts["negative"], counts["queries"]))
    details = {"raw": raws, "raw_mask": [torch.ones_like(r, dtype=torch.bool) for r in raws],
               "rel": [], "rel_mask": []}
    probs |= set(MS.tie_problems(opt, MS.f32(sims), details, MS.image_ids(images)))
    stats = OrderedDict([("t", T), ("t_safe", T_SAFE), ("matched_words", total), ("matched_words_below_t", below),
                         ("matched_below_share", round(share, 4)), ("queries", counts["queries"]),
                         ("negative_queries", counts["negative"]), ("smoothing_switches", counts["flips"])])
    return sorted(probs), stats


def run_step(opt, images, captions, lengths, init_state, double=False):
    img_enc, txt_enc = S.build_model(opt)
    S.load_scan_state(img_enc, txt_enc, init_state)
    images = torch.from_numpy(images)
    if double:
        img_enc.double()
        txt_enc.double()
        images = images.double()
    return N.train_step(img_enc, txt_enc, images, torch.from_numpy(captions), torch.from_numpy(lengths), opt)


def test_form_sims(res, lengths, opt):
    o = S.make_opt(**vars(opt))
    o.t_fixed = T_SAFE
    with torch.no_grad():
        return N.xattn_scores(res["img_emb"], res["cap_emb"], [int(n) for n in lengths], o, "test")


def make_step(direction, log):
    name = "step_" + direction
    base = MS.seed_of("naaf/" + name)
    for attempt in range(3000):
        seed = base + 7919 * attempt
        rng = np.random.RandomState(seed % (2 ** 32))
        images, captions, lengths = MS.make_inputs(rng)
        torch.manual_seed(seed)
        opt = step_opt(direction, grad_clip=0.0)
        img_enc, txt_enc = S.build_model(opt)
        init_state = S.scan_state(img_enc, txt_enc)
        probs, stats = forward_problems(opt, images, captions, lengths, init_state)
        if not probs:
            res = run_step(opt, images, captions, lengths, init_state)      # unclipped dry run
            grads = torch.cat([g.flatten() for g in res["grads"].values()])
            nz = grads[grads != 0].abs()
            if nz.numel() and nz.min().item() <= MS.MIN_GRAD:
                probs.append("gradient element %.2e too close to 0" % nz.min().item())
            if float(res["loss"]) <= 0.05:
                probs.append("loss %.3g too small" % float(res["loss"]))
        if probs:
            if attempt % 100 == 0:
                log("  %s attempt %d rejected: %s" % (name, attempt, "; ".join(probs[:3])))
            continue
        opt.grad_clip = MS.round_sig(0.5 * float(res["grad_norm"]))
        res = run_step(opt, images, captions, lengths, init_state)
        res64 = run_step(opt, images, captions, lengths, init_state, double=True)
        errs = MS.precision_errors(res, res64)
        bad = ["%s %.1e" % (k, v) for k, v in errs.items() if v > MS.PREC_LIMITS[k]]
        sims_test = test_form_sims(res, lengths, opt)
        sims_test64 = test_form_sims(res64, lengths, opt)
        if (sims_test.double() - sims_test64).abs().max().item() > 1e-6:
            bad.append("test-form sims")
        if bad:
            log("  %s attempt %d rejected: float32 vs float64: %s" % (name, attempt, ", ".join(bad)))
            continue
        log("%s: attempt %d, %s" % (name, attempt, json.dumps(stats)))
        return opt, seed, (images, captions, lengths), init_state, res, sims_test, stats
    raise RuntimeError("%s: no acceptable inputs after 3000 draws" % name)


def write_step(path, direction, opt, seed, inputs, init_state, res, sims_test, stats):
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
    t["out.sims_test"] = MS.f32(sims_test)
    t["out.loss"] = MS.f32(res["loss"]).reshape(1)
    for n, g in res["grads"].items():
        t["grad." + n] = MS.f32(g)
    t["out.grad_norm"] = MS.f32(res["grad_norm"]).reshape(1)
    t["out.clip_coef"] = MS.f32(res["clip_coef"]).reshape(1)
    for n, p in res["params_after"].items():
        t["adam." + n] = MS.f32(p)
    meta = {
        "opt": opt_json(opt),
        "t_safe": repr(T_SAFE),
        "param_order": json.dumps(list(res["grads"].keys())),
        "duplicate_images": json.dumps([list(MS.DUPLICATE)]),
        "stats": json.dumps(stats),
        "seed": str(seed),
        "generator": GENERATOR % (torch.__version__, "float32"),
        "description": "step_%s: one training step of the NAAF reference (tools/naaf_reference.py: SCAN "
                       "encoders and loss, NAAF's training-form score at t = %g, lambda %g) on a batch of %d; "
                       "sims[i, j] = score(image i, caption j); sims_test: NAAF's test form at t_safe = %g on "
                       "the same embeddings; grad.* before clipping; adam.* after clip_grad_norm_ and one "
                       "torch.optim.Adam step" % (direction, T, LAMBDA, MS.BATCH, T_SAFE),
    }
    save_file(path, t, meta)


# --------------------------------------------------------------------------------------
# Pair fixtures (float64, one pair per direction)

PAIR_DIMS = {"t2i": (5, 8), "i2t": (8, 5)}       # (c, q): t2i c = regions, q = words
PAIR_D = 8


def pair_vectors(rng, n):
    x = rng.standard_normal((n, PAIR_D)) * 0.5
    x[:, 0] += 0.6
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    x *= rng.uniform(0.8, 1.25, size=(n, 1))
    return torch.from_numpy(x)


def pair_eval(ctx, qry, form):
    Sm = (ctx @ qry.t()).detach().requires_grad_(True)
    G = (ctx @ ctx.t()).detach().requires_grad_(True)
    H = (qry @ qry.t()).detach()
    score, R = N.pair_score_gram(Sm, G, H, T_PAIR, LAMBDA, form)
    score.backward()
    return score.detach(), R.detach(), Sm.grad, G.grad, (Sm.detach(), G.detach(), H)


def make_pairs(direction, log):
    c, q = PAIR_DIMS[direction]
    base = MS.seed_of("naaf/pairs_" + direction)
    for attempt in range(5000):
        rng = np.random.RandomState((base + 104729 * attempt) % (2 ** 32))
        ctx, qry = pair_vectors(rng, c), pair_vectors(rng, q)
        raw = qry @ ctx.t()
        probs, counts = set(), {"flips": 0, "negative": 0, "queries": 0}
        branch_problems(raw, qry, T_PAIR, T_PAIR, probs, counts)
        empty = int(((raw > T_PAIR).sum(-1) == 0).sum())
        if not 2 <= counts["negative"] <= q - 2 or empty < 1 or counts["flips"] < 1:
            probs.add("branches: %d negative, %d empty, %d switched" % (counts["negative"], empty, counts["flips"]))
        if probs:
            continue
        out = OrderedDict()
        for form in N.FORMS:
            score, R, dS, dG, (Sm, G, H) = pair_eval(ctx, qry, form)
            # the Gram form equals the vector form
            R2, s2 = N.naaf_pair(qry, ctx, T_PAIR, LAMBDA, form)
            assert abs(float(score) - float(s2)) < 1e-12 and (R - R2).abs().max() < 1e-12
            out["out.score." + form] = score.reshape(1).numpy()
            out["out.R." + form] = R.numpy()
            out["grad.S." + form] = dS.numpy()
            out["grad.G." + form] = dG.numpy()
        t = OrderedDict([("input.S", Sm.numpy()), ("input.G", G.numpy()), ("input.H", H.numpy()),
                         ("input.context", ctx.numpy()), ("input.query", qry.numpy())])
        t.update(out)
        stats = OrderedDict([("negative_queries", counts["negative"]), ("empty_feature_part", empty),
                             ("smoothing_switches", counts["flips"])])
        log("pairs_%s: attempt %d, %s" % (direction, attempt, json.dumps(stats)))
        meta = {"direction": direction, "t": repr(T_PAIR), "lambda_softmax": repr(LAMBDA), "stats": json.dumps(stats),
                "generator": GENERATOR % (torch.__version__, "float64"),
                "description": "one %s pair (c = %d context items, q = %d queries, d = %d) in float64: S = "
                               "context . query^T, G = context Gram, H = query Gram; NAAF's score in both forms "
                               "at t = %g, lambda %g: out.score.<form>, out.R.<form>, grad.S.<form>, "
                               "grad.G.<form> (S and G independent leaves)" % (direction, c, q, PAIR_D, T_PAIR,
                                                                                 LAMBDA)}
        return t, meta
    raise RuntimeError("pairs_%s: no acceptable draw" % direction)


# --------------------------------------------------------------------------------------
# Self-check

def fd_check_pair(t, form, h=1e-6):
    """float64 central differences of the pair score against the stored autograd gradients"""
    Sm, G, H = (torch.from_numpy(t[k].copy()) for k in ("input.S", "input.G", "input.H"))
    worst = 0.0
    for name, x in (("S", Sm), ("G", G)):
        g = t["grad.%s.%s" % (name, form)]
        flat = x.view(-1)
        for k in range(flat.numel()):
            keep = float(flat[k])
            flat[k] = keep + h
            fp = float(N.pair_score_gram(Sm, G, H, T_PAIR, LAMBDA, form)[0])
            flat[k] = keep - h
            fm = float(N.pair_score_gram(Sm, G, H, T_PAIR, LAMBDA, form)[0])
            flat[k] = keep
            fd = (fp - fm) / (2 * h)
            err = abs(fd - g.reshape(-1)[k])
            worst = max(worst, err)
    if worst > 1e-6:
        raise AssertionError("pair %s: finite differences differ by %.2e" % (form, worst))
    return worst


def check_step_file(path):
    t, meta = load_file(path)
    opt = S.make_opt(**json.loads(meta["opt"]))
    for k in t:
        if t[k].dtype.kind == "f" and t[k].dtype != np.float32:
            raise AssertionError("%s: %s is not float32" % (path, k))
    init = OrderedDict((k, torch.from_numpy(v.copy())) for k, v in t.items()
                       if k.startswith("img_enc.") or k.startswith("txt_enc."))
    res = run_step(opt, t["input.images"], t["input.captions"], t["input.lengths"], init)
    for key, got in (("out.sims", res["sims"]), ("out.loss", res["loss"].reshape(1))):
        if not np.array_equal(MS.f32(got), t[key]):
            raise AssertionError("%s: %s is not reproduced" % (path, key))
    for n, g in res["grads"].items():
        if not np.array_equal(MS.f32(g), t["grad." + n]):
            raise AssertionError("%s: grad.%s is not reproduced" % (path, n))
    st = test_form_sims(res, t["input.lengths"], opt)
    if not np.array_equal(MS.f32(st), t["out.sims_test"]):
        raise AssertionError("%s: out.sims_test is not reproduced" % path)
    stats = json.loads(meta["stats"])
    if not BELOW_BAND[0] <= stats["matched_below_share"] <= BELOW_BAND[1]:
        raise AssertionError("%s: share of words below t %.2f" % (path, stats["matched_below_share"]))


def self_check(out_dir, log):
    for d in ("t2i", "i2t"):
        path = os.path.join(out_dir, "step_%s.safetensors" % d)
        check_step_file(path)
        log("self-check %s: reproduced bit for bit" % os.path.basename(path))
        t, _ = load_file(os.path.join(out_dir, "pairs_%s.safetensors" % d))
        for form in N.FORMS:
            w = fd_check_pair(t, form)
            log("self-check pairs_%s %s: finite differences within %.1e" % (d, form, w))
    log("self-check: OK")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=DEFAULT_OUT)
    ap.add_argument("--check", action="store_true", help="only self-check the existing files")
    a = ap.parse_args(argv)
    torch.set_num_threads(1)
    log = lambda m: print(m, flush=True)  # noqa: E731
    if not a.check:
        os.makedirs(a.out, exist_ok=True)
        for d in ("t2i", "i2t"):
            opt, seed, inputs, init, res, sims_test, stats = make_step(d, log)
            write_step(os.path.join(a.out, "step_%s.safetensors" % d), d, opt, seed, inputs, init, res, sims_test,
                       stats)
            t, meta = make_pairs(d, log)
            save_file(os.path.join(a.out, "pairs_%s.safetensors" % d), t, meta)
    self_check(a.out, log)


if __name__ == "__main__":
    main()

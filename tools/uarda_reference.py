"""A PyTorch reference of UARDA's thresholded cross attention on top of SCAN (spec
shared/spec/uarda.md 4.2-4.6), built from torch primitives and autograd.  It reuses the
encoders, the loss and the Adam step of tools/scan_reference.py and replaces only the cross
attention.  The formulas are exactly those of the comment at the top of
include/uarda/attention.h.  Both directions run one computation over a context set (c items)
attended by a query set (q items):

    t2i: context = the image's regions, query = the caption's words
    i2t: context = the caption's words, query = the image's regions

With S[c][q] = <context_c, query_q> and the threshold t (opt.t_fixed), all comparisons strict:

    relevant(q) = irr == scan ? 1 : max_c S[c][q] > t
    M[c][q]     = mask == hard ? S[c][q] > t : 1
    Z[c][q]     = clip == uarda ? relu(S[c][q] - t)
                  : (clipped_* norms ? LeakyReLU_0.1(S[c][q]) : S[c][q])
    P[c][.]     = the normalisation part of raw_feature_norm applied to Z[c][.] along the
                  query axis (l2: Z / (sqrt(sum Z^2) + 1e-8); l1: Z / (sum |Z| + 1e-8);
                  softmax; none for clipped / no_norm)
    logit       = lambda_softmax * (logit == raw ? S : P)
    A[.][q]     = softmax over the context axis of logit restricted to M (masked entries are
                  exactly 0: they are filled with -inf before the softmax)
    a_q         = sum_c A[c][q] context_c
    R_q         = relevant(q) ? <query_q, a_q> / max(|query_q| |a_q|, 1e-8)
                  : irr == zero ? 0 : max_c S[c][q] - t                     (irr == neg)
    score       = LogSumExp (literal) / Mean / Max / Sum over ALL q

The masks and relevance flags are computed without gradient (constants); irr == neg gets the
gradient of torch.max, i.e. into the single maximal context item (fixtures make it unique).
The SCAN setting clip = scan, mask = off, irr = scan reproduces scan_reference.py bit for bit.
irr = scan needs mask = off (spec 4.3, step 5): a fully masked query would have no weights.

Main entry points:
    make_opt(**overrides)               SCAN's options plus UARDA's switches (defaults = SCAN)
    func_attention(query, context, opt) thresholded attention: (attended, alpha (N, C, Q), info)
    relevance(query, context, opt)      R (N, Q) and info (relevant, mask, raw)
    xattn_score_t2i / xattn_score_i2t   literal per-caption loop, as SCAN's
    xattn_scores(..., via_gram=True)    the same per pair in the Gram form (pair_score)
    pair_score(S, G, qn, opt)           one pair in the Gram form of attention.h: (score, R)
    forward_loss, train_step            as scan_reference's, with UARDA's scores

Run with /usr/bin/python3 (Debian's torch 1.13).
"""

import argparse
import os
import sys
from collections import OrderedDict

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import scan_reference as S  # noqa: E402

EPS = S.EPS
CLIPS = ("scan", "uarda")
MASKS = ("off", "hard")
LOGITS = ("scanlike", "raw")
IRRS = ("scan", "zero", "neg")

# The UARDA keys added to SCAN's options; their defaults are SCAN's behaviour.
UARDA_DEFAULTS = OrderedDict([("clip", "scan"), ("mask", "off"), ("logit", "scanlike"),
                              ("irr", "scan"), ("t_fixed", 0.0), ("t_mode", "fixed")])

# raw_feature_norm -> (LeakyReLU first under clip = scan, normalisation part)
NORM_PARTS = {
    "softmax": (False, "softmax"),
    "l2norm": (False, "l2"),
    "clipped_l2norm": (True, "l2"),
    "l1norm": (False, "l1"),
    "clipped_l1norm": (True, "l1"),
    "clipped": (True, "none"),
    "no_norm": (False, "none"),
}


def make_opt(**overrides):
    """argparse.Namespace with SCAN's defaults plus UARDA's switches, updated with overrides."""
    d = OrderedDict(S.SCAN_DEFAULTS)
    d.update(UARDA_DEFAULTS)
    d.update(overrides)
    return argparse.Namespace(**d)


def check_switches(opt):
    for key, allowed in (("clip", CLIPS), ("mask", MASKS), ("logit", LOGITS), ("irr", IRRS),
                         ("raw_feature_norm", tuple(NORM_PARTS)), ("agg_func", S.AGG_FUNCS)):
        v = getattr(opt, key)
        if v not in allowed:
            raise ValueError("unknown %s %r (expected one of %s)" % (key, v, ", ".join(allowed)))
    if getattr(opt, "t_mode", "fixed") != "fixed":
        raise ValueError("t_mode %r: the reference only knows a fixed threshold" % (opt.t_mode,))
    if opt.irr == "scan" and opt.mask != "off":
        raise ValueError("irr = scan needs mask = off (a fully masked query has no weights)")


# --------------------------------------------------------------------------------------
# Elementary pieces

def l2norm_safe(x, dim, eps=EPS):
    """x / (sqrt(sum_dim x^2) + eps), bit-identical to scan_reference.l2norm, except that a
    row of zeros (every S <= t under clip = uarda) gets a finite gradient (1/eps times the
    upstream one, which relu's zero derivative then removes) instead of 0/0."""
    ss = x.pow(2).sum(dim=dim, keepdim=True)
    zero = ss == 0
    n = torch.where(zero, torch.zeros_like(ss), torch.where(zero, torch.ones_like(ss), ss).sqrt())
    return x / (n + eps)


def normalise(z, part, dim):
    """The normalisation part of a raw_feature_norm along `dim`."""
    if part == "l2":
        return l2norm_safe(z, dim)
    if part == "l1":
        return S.l1norm(z, dim)
    if part == "softmax":
        return torch.softmax(z, dim=dim)
    return z


def clip_scores(raw, opt):
    """Z: relu(S - t) under clip = uarda, else SCAN's (LeakyReLU for the clipped_* norms)."""
    if opt.clip == "uarda":
        return torch.relu(raw - float(opt.t_fixed))
    if NORM_PARTS[opt.raw_feature_norm][0]:
        return S.leaky_clip(raw)
    return raw


def attention_core(raw, opt):
    """raw (..., C, Q) = S[c][q].  Returns (alpha (..., Q, C), info) with info = dict of
    relevant (..., Q) bool, mask (..., C, Q) bool (all True for mask = off), irr_value
    (..., Q) (with gradient; None unless irr = neg).  Columns of irrelevant queries hold a
    plain softmax over every context item: finite, and replaced by the constant later."""
    check_switches(opt)
    t = float(opt.t_fixed)
    with torch.no_grad():
        if opt.irr == "scan":
            relevant = torch.ones(raw.shape[:-2] + raw.shape[-1:], dtype=torch.bool)
        else:
            relevant = raw.max(dim=-2)[0] > t
        mask = raw > t if opt.mask == "hard" else torch.ones_like(raw, dtype=torch.bool)
    z = clip_scores(raw, opt)
    p = normalise(z, NORM_PARTS[opt.raw_feature_norm][1], dim=-1)      # along the query axis
    src = raw if opt.logit == "raw" else p
    logits = src.transpose(-1, -2) * opt.lambda_softmax                # (..., Q, C)
    if opt.mask == "hard":
        allowed = mask.transpose(-1, -2) | ~relevant.unsqueeze(-1)
        logits = logits.masked_fill(~allowed, float("-inf"))
    alpha = torch.softmax(logits, dim=-1)                               # over the context
    irr_value = None
    if opt.irr == "neg":
        irr_value = raw.max(dim=-2)[0] - t
    return alpha, {"relevant": relevant, "mask": mask, "irr_value": irr_value}


def finish_relevance(cos, info, opt):
    """R = cos for relevant queries, the irr constant for the others."""
    if opt.irr == "scan":
        return cos
    if opt.irr == "zero":
        return torch.where(info["relevant"], cos, torch.zeros_like(cos))
    return torch.where(info["relevant"], cos, info["irr_value"])


# --------------------------------------------------------------------------------------
# Literal form (attended vectors formed), as SCAN's func_attention

def func_attention(query, context, opt):
    """query (N, Q, d), context (N, C, d) -> (attended (N, Q, d), alpha (N, C, Q), info);
    info also holds raw (N, C, Q) = S."""
    raw = torch.bmm(context, query.transpose(1, 2))                     # (N, C, Q)
    alpha, info = attention_core(raw, opt)
    weighted = torch.bmm(alpha, context)                                # (N, Q, d)
    info["raw"] = raw
    return weighted, alpha.transpose(1, 2), info


def relevance(query, context, opt):
    """R (N, Q) of every query item, and the info dict of func_attention."""
    weighted, _, info = func_attention(query, context, opt)
    cos = S.cosine_similarity(query, weighted, dim=2)
    return finish_relevance(cos, info, opt), info


def _record(details, info, rel):
    if details is not None:
        details.setdefault("raw", []).append(info["raw"].detach())
        details.setdefault("rel", []).append(rel.detach())
        details.setdefault("relevant", []).append(info["relevant"])
        details.setdefault("mask", []).append(info["mask"])


def xattn_score_t2i(images, captions, cap_lens, opt, details=None):
    """Per caption j: its words (queries) attend over the regions of every image.
    Returns sims (n_image, n_caption).  details (dict) collects raw (N, R, L_j), rel, flags."""
    n_image, n_caption = images.size(0), captions.size(0)
    sims = []
    for j in range(n_caption):
        n_word = int(cap_lens[j])
        cap_j = captions[j, :n_word, :].unsqueeze(0).repeat(n_image, 1, 1)
        rel, info = relevance(cap_j, images, opt)                       # (n_image, n_word)
        _record(details, info, rel)
        sims.append(S.aggregate(rel, opt.agg_func, opt.lambda_lse, dim=1))
    return torch.stack(sims, dim=1)


def xattn_score_i2t(images, captions, cap_lens, opt, details=None):
    """Per caption j: every region (query) of every image attends over its words.
    Returns sims (n_image, n_caption).  details: raw is (N, L_j, R) = S[word][region]."""
    n_image, n_caption = images.size(0), captions.size(0)
    sims = []
    for j in range(n_caption):
        n_word = int(cap_lens[j])
        cap_j = captions[j, :n_word, :].unsqueeze(0).repeat(n_image, 1, 1)
        rel, info = relevance(images, cap_j, opt)                       # (n_image, n_region)
        _record(details, info, rel)
        sims.append(S.aggregate(rel, opt.agg_func, opt.lambda_lse, dim=1))
    return torch.stack(sims, dim=1)


# --------------------------------------------------------------------------------------
# Gram form, one pair (the C kernel's form: S, G = C C^T, query norms)

def pair_score(Smat, G, qn, opt):
    """Smat [c, q] = S[c][q], G [c, c] the Gram matrix of the context vectors, qn [q] the
    query norms.  num_q = sum_c A S, |a_q| = sqrt(A^T G A).  Returns (score (0-dim), R [q])."""
    alpha, info = attention_core(Smat, opt)                             # (q, c)
    num = (alpha * Smat.t()).sum(-1)
    sq = (torch.matmul(alpha, G) * alpha).sum(-1)
    an = sq.clamp(min=0).sqrt()
    cos = num / (qn * an).clamp(min=EPS)
    rel = finish_relevance(cos, info, opt)
    return S.aggregate(rel, opt.agg_func, opt.lambda_lse, dim=0), rel


def xattn_scores(img_emb, cap_emb, cap_lens, opt, via_gram=False, details=None):
    """sims (n_image, n_caption) in the direction opt.cross_attn; via_gram loops over every
    pair and uses pair_score (an independent check of the literal form)."""
    if opt.cross_attn not in S.CROSS_ATTNS:
        raise ValueError("unknown cross_attn %r (expected t2i or i2t)" % (opt.cross_attn,))
    if not via_gram:
        fn = xattn_score_t2i if opt.cross_attn == "t2i" else xattn_score_i2t
        return fn(img_emb, cap_emb, cap_lens, opt, details=details)
    n_image, n_caption = img_emb.size(0), cap_emb.size(0)
    cols = []
    for j in range(n_caption):
        words = cap_emb[j, :int(cap_lens[j])]
        col = []
        for i in range(n_image):
            regions = img_emb[i]
            ctx, qry = (regions, words) if opt.cross_attn == "t2i" else (words, regions)
            score, _ = pair_score(ctx @ qry.t(), ctx @ ctx.t(), torch.norm(qry, 2, -1), opt)
            col.append(score)
        cols.append(torch.stack(col))
    return torch.stack(cols, dim=1)


# --------------------------------------------------------------------------------------
# Loss and training step (scan_reference's, with UARDA's scores)

def forward_loss(img_enc, txt_enc, images, captions, lengths, opt, via_gram=False):
    img_emb, cap_emb, cap_lens = S.forward_emb(img_enc, txt_enc, images, captions, lengths)
    sims = xattn_scores(img_emb, cap_emb, cap_lens, opt, via_gram=via_gram)
    loss = S.ContrastiveLoss(opt.margin, opt.max_violation)(sims)
    return img_emb, cap_emb, sims, loss


def train_step(img_enc, txt_enc, images, captions, lengths, opt, via_gram=False):
    """scan_reference.train_step with UARDA's scores: forward, ContrastiveLoss, backward,
    clip_grad_norm_ (if grad_clip > 0), one torch.optim.Adam(lr) step.  Same result dict."""
    named = S.scan_named_params(img_enc, txt_enc)
    params = [p for _, p in named]
    optimizer = torch.optim.Adam(params, lr=opt.learning_rate)
    img_emb, cap_emb, sims, loss = forward_loss(img_enc, txt_enc, images, captions, lengths,
                                                opt, via_gram=via_gram)
    optimizer.zero_grad()
    loss.backward()
    grads = OrderedDict((n, p.grad.detach().clone()) for n, p in named)
    if opt.grad_clip > 0:
        grad_norm = torch.nn.utils.clip_grad_norm_(params, opt.grad_clip)
        clip_coef = torch.clamp(opt.grad_clip / (grad_norm + 1e-6), max=1.0)
    else:
        grad_norm = S.total_grad_norm(params)
        clip_coef = torch.ones_like(grad_norm)
    optimizer.step()
    return {
        "img_emb": img_emb.detach(), "cap_emb": cap_emb.detach(), "sims": sims.detach(),
        "loss": loss.detach(), "grads": grads, "grad_norm": grad_norm.detach(),
        "clip_coef": clip_coef.detach(),
        "params_after": OrderedDict((n, p.detach().clone()) for n, p in named),
    }


def opt_from_json(text):
    import json
    return make_opt(**json.loads(text))

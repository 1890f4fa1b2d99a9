"""A PyTorch reference of NAAF's released pair score (CrossmodalGroup/NAAF, as described in
shared/spec/uarda.md sections 2.2-2.5), written from the spec's formulas with torch primitives
and autograd.  It is the source of the fixtures in tests/fixtures/naaf/ (written by
tools/make_naaf_fixtures.py).  The encoders, ContrastiveLoss and the Adam step are those of
scan_reference.py.

Run with /usr/bin/python3 (Debian's torch).

The score of one (image, caption) pair, t2i (NAAF's direction; words are the queries, regions
the context), at threshold t with inverse temperature lam (NAAF: 20):

    s_ij    = u_i . v_j
    s^_i    = max_j (s_ij - t)
    neg_i   = s^_i * [off_i],  off_i = s^_i < 0            (training form)
                               off_i = s'_i < 0,  s'_i = sum_l softmax_l(5 u_i . u_l) s^_l  (test form)
    w_ij    = e_ij / (sum_j e_ij + 1e-8),  e_ij = exp(lam * fill(s_ij - t)),  fill(x) = x if x > 0 else -1e9
    pf_i    = u_i . a_i / max(|a_i|, 1e-8),  a_i = sum_j w_ij v_j      (0 when no region exceeds t)
    r_ij    = LeakyReLU_0.1(s_ij) / (sqrt(sum_i' LeakyReLU_0.1(s_i'j)^2) + 1e-8)   (over the words)
    pr_i    = sum_j softmax_j(lam r_ij) s_ij
    S(I, T) = mean_i (neg_i + pf_i + pr_i)

i2t is uarda's mirror (NAAF releases t2i only): regions are the queries, words the context, the
same formulas with the roles of u and v swapped (the smoothing at test runs over the image's
regions).  The switches off_i are constants (no gradient); torch.max routes the negative
branch's gradient to its arg-max.

Main entry points:
    naaf_pair(query, context, t, lam, form)     word (query) scores and the pair score, batched
                                                over leading dimensions
    pair_score_gram(S, G, H, t, lam, form)      the same from S = context . query^T, the context
                                                Gram matrix G and the query Gram matrix H (the
                                                C kernel's inputs), for the float64 pair fixtures
    xattn_scores(img_emb, cap_emb, cap_lens, opt, form)    sims[i, j] = S(image i, caption j)
    train_step(img_enc, txt_enc, images, captions, lengths, opt)   forward (training form),
                                                ContrastiveLoss, backward, clip, one Adam step
"""

import os
import sys
from collections import OrderedDict

import torch
import torch.nn.functional as F

TOOLS = os.path.dirname(os.path.abspath(__file__))
if TOOLS not in sys.path:
    sys.path.insert(0, TOOLS)
import scan_reference as S  # noqa: E402

EPS = 1e-8
SMOOTH = 5.0       # the intra-text smoothing temperature of NAAF's test form
FORMS = ("train", "test")


def negative_switch(shat, qgram, form):
    """off (bool, no gradient): where the negative branch applies.  shat (..., Q),
    qgram (..., Q, Q) the queries' Gram matrix (test form only)."""
    with torch.no_grad():
        if form == "train":
            return shat < 0
        if form != "test":
            raise ValueError("unknown form %r" % (form,))
        smooth = torch.softmax(SMOOTH * qgram, dim=-1)                # [q, l]
        sprime = (smooth * shat.unsqueeze(-2)).sum(-1)                # sum_l smooth[q, l] shat[l]
        return sprime < 0


def feature_weights(raw, t, lam):
    """raw (..., Q, C) = query . context: NAAF's masked softmax over the context, literally
    (-1e9 fill of the entries with raw - t <= 0, exp, then l1norm with + 1e-8)."""
    x = raw - t
    filled = x.masked_fill(x <= 0, -1e9)
    e = torch.exp(filled * lam)
    return e / (e.abs().sum(-1, keepdim=True) + EPS)


def relevance_part(raw, lam):
    """raw (..., Q, C): LeakyReLU(0.1), l2-normalised over the queries (+ 1e-8 on the norm),
    softmax over the context at lam; the softmax-weighted sum of raw."""
    z = F.leaky_relu(raw, 0.1)
    r = z / (torch.sqrt((z * z).sum(-2, keepdim=True)) + EPS)
    w = torch.softmax(lam * r, dim=-1)
    return (w * raw).sum(-1)


def naaf_pair(query, context, t, lam, form):
    """query (..., Q, d), context (..., C, d) -> (word scores (..., Q), pair score (...))."""
    raw = query @ context.transpose(-1, -2)                            # (..., Q, C)
    shat = (raw - t).max(dim=-1)[0]                                    # (..., Q)
    qgram = query @ query.transpose(-1, -2) if form == "test" else None
    off = negative_switch(shat, qgram, form)
    neg = shat * off.to(raw.dtype)
    w = feature_weights(raw, t, lam)
    a = w @ context                                                    # (..., Q, d)
    pf = (query * a).sum(-1) / torch.norm(a, 2, dim=-1).clamp(min=EPS)
    pr = relevance_part(raw, lam)
    R = neg + pf + pr
    return R, R.mean(-1)


def pair_score_gram(Smat, G, H, t, lam, form):
    """One pair from the C kernel's inputs: Smat [C, Q] (context . query), G [C, C] the
    context Gram matrix, H [Q, Q] the query Gram matrix (test form).  |a| = sqrt(w G w^T).
    Returns (score, R [Q])."""
    raw = Smat.t()                                                     # [Q, C]
    shat = (raw - t).max(dim=-1)[0]
    off = negative_switch(shat, H, form)
    neg = shat * off.to(raw.dtype)
    w = feature_weights(raw, t, lam)                                   # [Q, C]
    num = (w * raw).sum(-1)
    an2 = ((w @ G) * w).sum(-1)
    pos = an2 > 0      # sqrt's gradient at 0 would be 0 * inf: a = 0 has pf = 0 and no gradient
    an = torch.where(pos, torch.sqrt(torch.where(pos, an2, torch.ones_like(an2))), torch.zeros_like(an2))
    pf = num / an.clamp(min=EPS)
    pr = relevance_part(raw, lam)
    R = neg + pf + pr
    return R.mean(), R


def xattn_scores(img_emb, cap_emb, cap_lens, opt, form="train"):
    """sims[i, j] = S(image i, caption j), caption by caption over all images, at
    t = opt.t_fixed and lam = opt.lambda_softmax, in opt.cross_attn's direction."""
    n_img = img_emb.size(0)
    t, lam = float(opt.t_fixed), float(opt.lambda_softmax)
    cols = []
    for j, n in enumerate(cap_lens):
        cap = cap_emb[j, :n].unsqueeze(0).expand(n_img, n, cap_emb.size(-1))
        if opt.cross_attn == "t2i":
            _, s = naaf_pair(cap, img_emb, t, lam, form)
        elif opt.cross_attn == "i2t":
            _, s = naaf_pair(img_emb, cap, t, lam, form)
        else:
            raise ValueError("unknown cross_attn %r" % (opt.cross_attn,))
        cols.append(s)
    return torch.stack(cols, 1)


def word_maxima(img_emb, cap_emb, cap_lens, i, j):
    """max over the regions of image i of u . v for every word of caption j (the relevance
    statistics behind the threshold)."""
    n = cap_lens[j]
    return (cap_emb[j, :n] @ img_emb[i].t()).max(dim=-1)[0]


def forward_loss(img_enc, txt_enc, images, captions, lengths, opt, form="train"):
    img_emb, cap_emb, cap_lens = S.forward_emb(img_enc, txt_enc, images, captions, lengths)
    sims = xattn_scores(img_emb, cap_emb, cap_lens, opt, form)
    loss = S.ContrastiveLoss(opt.margin, opt.max_violation)(sims)
    return img_emb, cap_emb, sims, loss


def train_step(img_enc, txt_enc, images, captions, lengths, opt):
    """scan_reference.train_step with NAAF's training-form scores at the fixed t: forward,
    ContrastiveLoss, backward, clip_grad_norm_ (if grad_clip > 0), one torch.optim.Adam(lr)
    step.  The same result dict."""
    named = S.scan_named_params(img_enc, txt_enc)
    params = [p for _, p in named]
    optimizer = torch.optim.Adam(params, lr=opt.learning_rate)
    img_emb, cap_emb, sims, loss = forward_loss(img_enc, txt_enc, images, captions, lengths, opt)
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

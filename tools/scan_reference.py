"""A small PyTorch reference of SCAN (Stacked Cross Attention), written from the
formulas of shared/spec/scan.md (sections 2 and 3) with torch modules and
autograd.  It is the source of the fixtures in tests/fixtures/scan/ and can be
imported by benchmarks (all functions work at full SCAN dims).

Run with /usr/bin/python3 (Debian's torch).  Nothing here sets threads or
seeds; callers do (the fixture maker uses torch.set_num_threads(1)).

Main entry points:
    make_opt(**overrides)              SCAN's option namespace with its defaults (spec 2.1)
    build_model(opt)                   (EncoderImagePrecomp, EncoderText)
    scan_named_params(img_enc, txt_enc) parameters in SCAN's optimizer order (spec 3.1)
    xattn_score_t2i / xattn_score_i2t  literal per-caption loop, as SCAN computes it
    xattn_score_t2i_batched / _i2t_batched   all pairs at once (optionally in caption chunks)
    ContrastiveLoss                    VSE++ hinge loss, sum over the batch
    train_step(...)                    forward, loss, backward, clip, one Adam step
    load_model_from_safetensors(path)  rebuild a model from a converted checkpoint
"""

import argparse
import json
import math
from collections import OrderedDict

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

EPS = 1e-8
RAW_FEATURE_NORMS = ("softmax", "l2norm", "clipped_l2norm", "l1norm", "clipped_l1norm",
                     "clipped", "no_norm")
AGG_FUNCS = ("LogSumExp", "Mean", "Max", "Sum")
CROSS_ATTNS = ("t2i", "i2t")

# SCAN's train.py defaults (spec 2.1); vocab_size is added at run time.
SCAN_DEFAULTS = OrderedDict([
    ("data_path", "./data/"), ("data_name", "precomp"), ("vocab_path", "./vocab/"),
    ("margin", 0.2), ("num_epochs", 30), ("batch_size", 128), ("word_dim", 300),
    ("embed_size", 1024), ("grad_clip", 2.0), ("num_layers", 1), ("learning_rate", 2e-4),
    ("lr_update", 15), ("workers", 10), ("log_step", 10), ("val_step", 500),
    ("logger_name", "./runs/runX/log"), ("model_name", "./runs/runX/checkpoint"),
    ("resume", ""), ("max_violation", False), ("img_dim", 2048), ("no_imgnorm", False),
    ("no_txtnorm", False), ("raw_feature_norm", "clipped_l2norm"), ("agg_func", "LogSumExp"),
    ("cross_attn", "t2i"), ("precomp_enc_type", "basic"), ("bi_gru", False),
    ("lambda_lse", 6.0), ("lambda_softmax", 9.0),
])


def make_opt(**overrides):
    """argparse.Namespace with SCAN's defaults, updated with `overrides`."""
    d = OrderedDict(SCAN_DEFAULTS)
    d.update(overrides)
    return argparse.Namespace(**d)


# --------------------------------------------------------------------------------------
# Elementary functions (spec 2.4)

def l2norm(x, dim, eps=EPS):
    """x / (sqrt(sum_dim x^2) + eps): eps added after the square root."""
    return x / (x.pow(2).sum(dim=dim, keepdim=True).sqrt() + eps)


def l1norm(x, dim, eps=EPS):
    """x / (sum_dim |x| + eps) (SCAN's intended l1 normalisation)."""
    return x / (x.abs().sum(dim=dim, keepdim=True) + eps)


def leaky_clip(x):
    """SCAN's "clipped": LeakyReLU with slope 0.1."""
    return F.leaky_relu(x, negative_slope=0.1)


def cosine_similarity(x1, x2, dim, eps=EPS):
    """sum(x1*x2) / max(|x1| * |x2|, eps): the clamp is on the product of the norms.
    (SCAN squeezes the result, which breaks a batch of one image; we do not.)"""
    w12 = (x1 * x2).sum(dim)
    w1 = torch.norm(x1, 2, dim)
    w2 = torch.norm(x2, 2, dim)
    return w12 / (w1 * w2).clamp(min=eps)


def normalize_raw_scores(attn, raw_feature_norm, dim, mask=None):
    """Raw-feature normalisation of the raw scores along the query axis `dim` (spec 2.5
    step 2).  `mask` (broadcastable to attn, True = valid) excludes padded query items:
    they get -inf before a softmax and 0 before the other forms."""
    if mask is not None:
        fill = float("-inf") if raw_feature_norm == "softmax" else 0.0
        attn = attn.masked_fill(~mask, fill)
    if raw_feature_norm == "softmax":
        return torch.softmax(attn, dim=dim)
    if raw_feature_norm == "l2norm":
        return l2norm(attn, dim)
    if raw_feature_norm == "clipped_l2norm":
        return l2norm(leaky_clip(attn), dim)
    if raw_feature_norm == "l1norm":
        return l1norm(attn, dim)
    if raw_feature_norm == "clipped_l1norm":
        return l1norm(leaky_clip(attn), dim)
    if raw_feature_norm == "clipped":
        return leaky_clip(attn)
    if raw_feature_norm == "no_norm":
        return attn
    raise ValueError("unknown raw_feature_norm %r (expected one of %s)"
                     % (raw_feature_norm, ", ".join(RAW_FEATURE_NORMS)))


def aggregate(rel, agg_func, lambda_lse, dim, mask=None):
    """Aggregate the relevance values along `dim` (spec 2.8).  LogSumExp is literal (no max
    subtraction).  `mask` (True = valid) restricts the aggregation to valid items."""
    if agg_func == "LogSumExp":
        e = torch.exp(rel * lambda_lse)
        if mask is not None:
            e = torch.where(mask, e, torch.zeros_like(e))
        return torch.log(e.sum(dim)) / lambda_lse
    if agg_func == "Max":
        if mask is not None:
            rel = rel.masked_fill(~mask, float("-inf"))
        return rel.max(dim)[0]
    if agg_func == "Sum":
        if mask is not None:
            rel = torch.where(mask, rel, torch.zeros_like(rel))
        return rel.sum(dim)
    if agg_func == "Mean":
        if mask is None:
            return rel.mean(dim)
        rel = torch.where(mask, rel, torch.zeros_like(rel))
        count = mask.to(rel.dtype).sum(dim)
        return rel.sum(dim) / count
    raise ValueError("unknown agg_func %r (expected one of %s)" % (agg_func, ", ".join(AGG_FUNCS)))


# --------------------------------------------------------------------------------------
# Encoders (spec 2.2, 2.3)

class EncoderImagePrecomp(nn.Module):
    """v = W x + b on every region, then l2norm over the embedding unless no_imgnorm.
    precomp_enc_type 'basic': Xavier-uniform W, b = 0.  'weight_norm': W = g V / |V|_F
    (one scalar g), PyTorch's default Linear init."""

    def __init__(self, img_dim, embed_size, no_imgnorm=False, precomp_enc_type="basic"):
        super().__init__()
        self.embed_size = embed_size
        self.no_imgnorm = no_imgnorm
        if precomp_enc_type == "basic":
            self.fc = nn.Linear(img_dim, embed_size)
            r = math.sqrt(6.0) / math.sqrt(img_dim + embed_size)
            with torch.no_grad():
                self.fc.weight.uniform_(-r, r)
                self.fc.bias.fill_(0)
        elif precomp_enc_type == "weight_norm":
            self.fc = nn.utils.weight_norm(nn.Linear(img_dim, embed_size), dim=None)
        else:
            raise ValueError("unknown precomp_enc_type %r" % (precomp_enc_type,))

    def forward(self, images):
        features = self.fc(images)
        if not self.no_imgnorm:
            features = l2norm(features, dim=-1)
        return features


class EncoderText(nn.Module):
    """Embedding U(-0.1, 0.1) -> packed GRU (zero initial state) -> mean of the two
    directions when bidirectional -> l2norm per word unless no_txtnorm.  Output padded to
    the longest length with zeros at padded positions."""

    def __init__(self, vocab_size, word_dim, embed_size, num_layers=1, use_bi_gru=False,
                 no_txtnorm=False):
        super().__init__()
        self.embed_size = embed_size
        self.no_txtnorm = no_txtnorm
        self.use_bi_gru = use_bi_gru
        self.embed = nn.Embedding(vocab_size, word_dim)
        self.rnn = nn.GRU(word_dim, embed_size, num_layers, batch_first=True,
                          bidirectional=use_bi_gru)
        with torch.no_grad():
            self.embed.weight.uniform_(-0.1, 0.1)

    def forward(self, captions, lengths):
        x = self.embed(captions)
        lengths = torch.as_tensor(lengths, dtype=torch.int64).cpu()
        packed = pack_padded_sequence(x, lengths, batch_first=True)
        out, _ = self.rnn(packed)
        cap_emb, cap_len = pad_packed_sequence(out, batch_first=True)
        if self.use_bi_gru:
            h = self.embed_size
            cap_emb = (cap_emb[:, :, :h] + cap_emb[:, :, h:]) / 2
        if not self.no_txtnorm:
            cap_emb = l2norm(cap_emb, dim=-1)
        return cap_emb, cap_len


def build_model(opt):
    """(img_enc, txt_enc) for a SCAN option namespace (uses the global torch RNG)."""
    img_enc = EncoderImagePrecomp(opt.img_dim, opt.embed_size, no_imgnorm=opt.no_imgnorm,
                                  precomp_enc_type=getattr(opt, "precomp_enc_type", "basic"))
    txt_enc = EncoderText(opt.vocab_size, opt.word_dim, opt.embed_size, opt.num_layers,
                          use_bi_gru=opt.bi_gru, no_txtnorm=opt.no_txtnorm)
    return img_enc, txt_enc


def scan_named_params(img_enc, txt_enc):
    """[(prefixed name, parameter)] in SCAN's optimizer order: text encoder parameters
    (embed, then the GRU in registration order), then the image encoder's fc."""
    out = [("txt_enc." + n, p) for n, p in txt_enc.named_parameters()]
    out += [("img_enc.fc." + n, p) for n, p in img_enc.fc.named_parameters()]
    return out


def scan_state(img_enc, txt_enc):
    """Prefixed state dict (img_enc. / txt_enc.), tensors detached and cloned."""
    st = OrderedDict()
    for n, t in img_enc.state_dict().items():
        st["img_enc." + n] = t.detach().clone()
    for n, t in txt_enc.state_dict().items():
        st["txt_enc." + n] = t.detach().clone()
    return st


def load_scan_state(img_enc, txt_enc, tensors):
    """Load prefixed tensors (name -> torch tensor or numpy array) strictly."""
    img, txt = OrderedDict(), OrderedDict()
    for name, t in tensors.items():
        t = torch.as_tensor(t)
        if name.startswith("img_enc."):
            img[name[len("img_enc."):]] = t
        elif name.startswith("txt_enc."):
            txt[name[len("txt_enc."):]] = t
    img_enc.load_state_dict(img, strict=True)
    txt_enc.load_state_dict(txt, strict=True)


# --------------------------------------------------------------------------------------
# Cross attention (spec 2.5 - 2.7), literal form

def func_attention(query, context, raw_feature_norm, smooth):
    """query (N, Q, d), context (N, S, d) -> (attended (N, Q, d), attention (N, S, Q)).
    Raw scores A[s, q] = <context_s, query_q>, normalised along q, then a softmax of
    smooth * A along s; the attended vector of query item q is sum_s alpha[s, q] context_s."""
    attn = torch.bmm(context, query.transpose(1, 2))                 # (N, S, Q)
    attn = normalize_raw_scores(attn, raw_feature_norm, dim=2)      # along the query axis
    alpha = torch.softmax(attn.transpose(1, 2) * smooth, dim=2)     # (N, Q, S), along sources
    weighted = torch.bmm(alpha, context)                            # (N, Q, d)
    return weighted, alpha.transpose(1, 2)


def xattn_score_t2i(images, captions, cap_lens, opt):
    """Literal SCAN t2i: loop over captions; the words of caption j (its first cap_lens[j]
    rows) attend over the regions of every image.  Returns sims (n_image, n_caption)."""
    n_image, n_caption = images.size(0), captions.size(0)
    sims = []
    for j in range(n_caption):
        n_word = int(cap_lens[j])
        cap_j = captions[j, :n_word, :].unsqueeze(0).repeat(n_image, 1, 1)
        weighted, _ = func_attention(cap_j, images, opt.raw_feature_norm, opt.lambda_softmax)
        rel = cosine_similarity(cap_j, weighted, dim=2)              # (n_image, n_word)
        sims.append(aggregate(rel, opt.agg_func, opt.lambda_lse, dim=1))
    return torch.stack(sims, dim=1)


def xattn_score_i2t(images, captions, cap_lens, opt):
    """Literal SCAN i2t: loop over captions; every region of every image attends over the
    words of caption j.  Returns sims (n_image, n_caption)."""
    n_image, n_caption = images.size(0), captions.size(0)
    sims = []
    for j in range(n_caption):
        n_word = int(cap_lens[j])
        cap_j = captions[j, :n_word, :].unsqueeze(0).repeat(n_image, 1, 1)
        weighted, _ = func_attention(images, cap_j, opt.raw_feature_norm, opt.lambda_softmax)
        rel = cosine_similarity(images, weighted, dim=2)             # (n_image, n_region)
        sims.append(aggregate(rel, opt.agg_func, opt.lambda_lse, dim=1))
    return torch.stack(sims, dim=1)


# --------------------------------------------------------------------------------------
# Cross attention, all pairs at once

def _word_mask(captions, cap_lens):
    lens = torch.as_tensor([int(n) for n in cap_lens], dtype=torch.int64,
                           device=captions.device)
    return torch.arange(captions.size(1), device=captions.device)[None, :] < lens[:, None]


def _t2i_block(images, cap, mask, opt, via_gram, details):
    # images (Ni, R, d); cap (C, L, d); mask (C, L)
    ni, n_reg, d = images.shape
    c, n_word, _ = cap.shape
    # one GEMM for all raw scores <v_r, e_w>
    raw = torch.matmul(images.reshape(ni * n_reg, d), cap.reshape(c * n_word, d).t())
    raw = raw.view(ni, n_reg, c, n_word).permute(0, 2, 1, 3)             # (Ni, C, R, L)
    mq = mask[None, :, None, :]
    normed = normalize_raw_scores(raw, opt.raw_feature_norm, dim=3, mask=mq)
    alpha = torch.softmax(normed * opt.lambda_softmax, dim=2)             # over regions
    cap_norm = torch.norm(cap, 2, -1)[None]                               # (1, C, L)
    if via_gram:
        num = (alpha * raw).sum(2)                                        # (Ni, C, L)
        gram = torch.matmul(images, images.transpose(1, 2))               # (Ni, R, R)
        sq = (torch.matmul(gram[:, None], alpha) * alpha).sum(2)
        att_norm = sq.clamp(min=0).sqrt()
    else:
        att = torch.bmm(alpha.permute(0, 1, 3, 2).reshape(ni, c * n_word, n_reg), images)
        att = att.view(ni, c, n_word, d)                                  # (Ni, C, L, d)
        num = (cap[None] * att).sum(-1)
        att_norm = torch.norm(att, 2, -1)
    rel = num / (cap_norm * att_norm).clamp(min=EPS)                      # (Ni, C, L)
    if details is not None:
        details.setdefault("raw", []).append(raw.detach())
        details.setdefault("rel", []).append(rel.detach())
        details.setdefault("rel_mask", []).append(mask[None].expand_as(rel))
        details.setdefault("raw_mask", []).append(mq.expand_as(raw))
    return aggregate(rel, opt.agg_func, opt.lambda_lse, dim=2, mask=mask[None])


def _i2t_block(images, cap, mask, opt, via_gram, details):
    ni, n_reg, d = images.shape
    c, n_word, _ = cap.shape
    raw = torch.matmul(cap.reshape(c * n_word, d), images.reshape(ni * n_reg, d).t())
    raw = raw.view(c, n_word, ni, n_reg).permute(2, 0, 1, 3)             # (Ni, C, L, R)
    pad = ~mask[None, :, :, None]
    # Padded words are dropped by the softmax below; give them harmless scores first so
    # that no 0/0 (l2norm of a zero row) reaches the backward pass.
    normed = normalize_raw_scores(raw.masked_fill(pad, 1.0), opt.raw_feature_norm, dim=3)
    logits = (normed * opt.lambda_softmax).masked_fill(pad, float("-inf"))
    alpha = torch.softmax(logits, dim=2)                                  # over words
    img_norm = torch.norm(images, 2, -1)[:, None]                         # (Ni, 1, R)
    if via_gram:
        num = (alpha * raw).sum(2)                                        # (Ni, C, R)
        gram = torch.matmul(cap, cap.transpose(1, 2))                     # (C, L, L)
        sq = (torch.matmul(gram[None], alpha) * alpha).sum(2)
        att_norm = sq.clamp(min=0).sqrt()
    else:
        att = torch.bmm(alpha.permute(1, 0, 3, 2).reshape(c, ni * n_reg, n_word), cap)
        att = att.view(c, ni, n_reg, d).permute(1, 0, 2, 3)               # (Ni, C, R, d)
        num = (images[:, None] * att).sum(-1)
        att_norm = torch.norm(att, 2, -1)
    rel = num / (img_norm * att_norm).clamp(min=EPS)                      # (Ni, C, R)
    if details is not None:
        details.setdefault("raw", []).append(raw.detach())
        details.setdefault("rel", []).append(rel.detach())
        details.setdefault("rel_mask", []).append(torch.ones_like(rel, dtype=torch.bool))
        details.setdefault("raw_mask", []).append(mask[None, :, :, None].expand_as(raw))
    return aggregate(rel, opt.agg_func, opt.lambda_lse, dim=2)


def _batched(block, images, captions, cap_lens, opt, caption_chunk, via_gram, details):
    mask = _word_mask(captions, cap_lens)
    n_caption = captions.size(0)
    chunk = n_caption if not caption_chunk else int(caption_chunk)
    cols = []
    for c0 in range(0, n_caption, max(chunk, 1)):
        c1 = min(n_caption, c0 + chunk)
        cols.append(block(images, captions[c0:c1], mask[c0:c1], opt, via_gram, details))
    return torch.cat(cols, dim=1)


def xattn_score_t2i_batched(images, captions, cap_lens, opt, caption_chunk=None,
                            via_gram=False, details=None):
    """All (image, caption) pairs at once; same math as xattn_score_t2i.  Padded words are
    masked explicitly, so captions may hold anything beyond cap_lens.  caption_chunk bounds
    memory (the attended context is Ni x chunk x L x d).  via_gram computes the cosine from
    sum_r alpha A and alpha^T G alpha (spec 7.5) without forming the attended vectors.
    details (a dict) receives the raw scores and relevance values (for tie checks)."""
    return _batched(_t2i_block, images, captions, cap_lens, opt, caption_chunk, via_gram, details)


def xattn_score_i2t_batched(images, captions, cap_lens, opt, caption_chunk=None,
                            via_gram=False, details=None):
    """All pairs at once; same math as xattn_score_i2t (see xattn_score_t2i_batched)."""
    return _batched(_i2t_block, images, captions, cap_lens, opt, caption_chunk, via_gram, details)


def xattn_scores(img_emb, cap_emb, cap_lens, opt, batched=False, **kw):
    """sims (n_image, n_caption) in the direction opt.cross_attn."""
    if opt.cross_attn == "t2i":
        fn = xattn_score_t2i_batched if batched else xattn_score_t2i
    elif opt.cross_attn == "i2t":
        fn = xattn_score_i2t_batched if batched else xattn_score_i2t
    else:
        raise ValueError("unknown cross_attn %r (expected t2i or i2t)" % (opt.cross_attn,))
    return fn(img_emb, cap_emb, cap_lens, opt, **kw)


# --------------------------------------------------------------------------------------
# Loss (spec 2.9)

class ContrastiveLoss(nn.Module):
    """Hinge loss on a square score matrix S (S[i, j] = score(image i, caption j)):
    c_s[i, j] = [margin + S[i, j] - S[i, i]]_+, c_im[i, j] = [margin + S[i, j] - S[j, j]]_+,
    diagonals zeroed; sum of row/column maxima (max_violation) or of all entries."""

    def __init__(self, margin=0.0, max_violation=False):
        super().__init__()
        self.margin = margin
        self.max_violation = max_violation

    def forward(self, scores):
        diagonal = scores.diag().view(-1, 1)
        cost_s = (self.margin + scores - diagonal).clamp(min=0)
        cost_im = (self.margin + scores - diagonal.t()).clamp(min=0)
        eye = torch.eye(scores.size(0), dtype=torch.bool, device=scores.device)
        cost_s = cost_s.masked_fill(eye, 0)
        cost_im = cost_im.masked_fill(eye, 0)
        if self.max_violation:
            cost_s = cost_s.max(1)[0]
            cost_im = cost_im.max(0)[0]
        return cost_s.sum() + cost_im.sum()


# --------------------------------------------------------------------------------------
# Training step (spec 3.1 - 3.4)

def forward_emb(img_enc, txt_enc, images, captions, lengths):
    img_emb = img_enc(images)
    cap_emb, cap_lens = txt_enc(captions, lengths)
    return img_emb, cap_emb, [int(n) for n in cap_lens]


def forward_loss(img_enc, txt_enc, images, captions, lengths, opt, batched=False):
    img_emb, cap_emb, cap_lens = forward_emb(img_enc, txt_enc, images, captions, lengths)
    sims = xattn_scores(img_emb, cap_emb, cap_lens, opt, batched=batched)
    loss = ContrastiveLoss(opt.margin, opt.max_violation)(sims)
    return img_emb, cap_emb, sims, loss


def total_grad_norm(params):
    """torch's clip_grad_norm_ total norm: the 2-norm of the per-parameter 2-norms."""
    grads = [p.grad.detach() for p in params if p.grad is not None]
    return torch.norm(torch.stack([torch.norm(g, 2.0) for g in grads]), 2.0)


def train_step(img_enc, txt_enc, images, captions, lengths, opt, batched=False):
    """One SCAN iteration on a full batch: forward, ContrastiveLoss, backward, gradient
    clipping (if grad_clip > 0), one step of torch.optim.Adam(lr=learning_rate).
    Modifies the encoders' parameters.  Returns a dict with img_emb, cap_emb, sims, loss,
    grads (OrderedDict name -> gradient before clipping, SCAN order), grad_norm,
    clip_coef (factor applied), params_after (OrderedDict)."""
    named = scan_named_params(img_enc, txt_enc)
    params = [p for _, p in named]
    optimizer = torch.optim.Adam(params, lr=opt.learning_rate)
    img_emb, cap_emb, sims, loss = forward_loss(img_enc, txt_enc, images, captions, lengths,
                                                opt, batched=batched)
    optimizer.zero_grad()
    loss.backward()
    grads = OrderedDict((n, p.grad.detach().clone()) for n, p in named)
    if opt.grad_clip > 0:
        grad_norm = torch.nn.utils.clip_grad_norm_(params, opt.grad_clip)
        clip_coef = torch.clamp(opt.grad_clip / (grad_norm + 1e-6), max=1.0)
    else:
        grad_norm = total_grad_norm(params)
        clip_coef = torch.ones_like(grad_norm)
    optimizer.step()
    return {
        "img_emb": img_emb.detach(), "cap_emb": cap_emb.detach(), "sims": sims.detach(),
        "loss": loss.detach(), "grads": grads, "grad_norm": grad_norm.detach(),
        "clip_coef": clip_coef.detach(),
        "params_after": OrderedDict((n, p.detach().clone()) for n, p in named),
    }


# --------------------------------------------------------------------------------------
# Converted checkpoints

def opt_from_json(text):
    d = json.loads(text)
    return make_opt(**d)


def load_model_from_safetensors(path):
    """(img_enc, txt_enc, opt) from a safetensors checkpoint with "opt" metadata."""
    import os
    import sys
    here = os.path.dirname(os.path.abspath(__file__))
    if here not in sys.path:
        sys.path.insert(0, here)
    from safetensors_io import load_file
    tensors, meta = load_file(path)
    if "opt" not in meta:
        raise ValueError("%s: no \"opt\" in __metadata__" % path)
    opt = opt_from_json(meta["opt"])
    img_enc, txt_enc = build_model(opt)
    load_scan_state(img_enc, txt_enc, {k: torch.from_numpy(v) for k, v in tensors.items()})
    return img_enc, txt_enc, opt

"""PyTorch references for `uarda bench --vs-torch` (issue 5): the same benchmarks as
`uarda bench train` and `uarda bench eval`, each in two variants,

    scan        structured like SCAN's code: the cross attention is a loop over captions
                (scan_reference.xattn_score_t2i / _i2t, uarda_reference's for UARDA); for the
                evaluation also SCAN's evaluation.py structure: encode_data in batches of 128
                captions with their images (every image encoded once per caption), float64
                numpy embeddings, images[::5], shard_xattn in 128 x 128 shards, computed in
                float64, and SCAN's i2t / t2i recall loops;
    vectorized  all pairs at once in float32 (scan_reference.xattn_score_t2i_batched /
                _i2t_batched, with the Gram-matrix cosine by default; for UARDA the same
                computation with the thresholded attention of uarda_reference), each image
                encoded once, recalls computed with tensor operations.

    train   one training batch at the given dims: forward, ContrastiveLoss, backward,
            clip_grad_norm_, one torch.optim.Adam step (the optimizer persists across steps;
            every step starts from the initial weights, so that all do the same work)
    eval    encoding + similarity + recalls of n_images x n_captions (caption j belongs to
            image j // (n_captions / n_images))
    info    torch's version, thread count and the BLAS it loaded
    selfcheck  the vectorized UARDA form against the literal loop on small random inputs

Inputs are random (features U(0, 1), token ids uniform, lengths mean_len - 3 .. mean_len + 3
clipped to [3, mean_len + 3], sorted as SCAN's collate_fn sorts them), as `uarda bench` makes
them.  Every measurement prints one JSON line on stdout: the median in ms over --repeats timed
runs after one warm-up run.  --max-seconds bounds the scan-style evaluation: it stops after the
caption shard that passes the limit and extrapolates the similarity time linearly from the
captions done ("extrapolated_from": that number of captions).

Run with /usr/bin/python3 (Debian's torch).  OMP_NUM_THREADS and OPENBLAS_NUM_THREADS are set
to --threads before torch is imported, and torch.set_num_threads(--threads) after.
"""

import argparse
import json
import os
import statistics
import sys
import time


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("what", choices=["train", "eval", "info", "selfcheck"])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--variants", default="scan,vectorized", help="comma-separated: scan, vectorized")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--regions", type=int, default=36)
    p.add_argument("--img-dim", type=int, default=2048)
    p.add_argument("--embed-size", type=int, default=1024)
    p.add_argument("--word-dim", type=int, default=300)
    p.add_argument("--vocab-size", type=int, default=8481)
    p.add_argument("--mean-len", type=int, default=14)
    p.add_argument("--num-layers", type=int, default=1)
    p.add_argument("--bi-gru", type=int, default=1)
    p.add_argument("--max-violation", type=int, default=1)
    p.add_argument("--margin", type=float, default=0.2)
    p.add_argument("--no-imgnorm", type=int, default=0)
    p.add_argument("--no-txtnorm", type=int, default=0)
    p.add_argument("--raw-feature-norm", default="clipped_l2norm")
    p.add_argument("--agg-func", default="Mean")
    p.add_argument("--cross-attn", default="t2i", choices=["t2i", "i2t"])
    p.add_argument("--lambda-softmax", type=float, default=9.0)
    p.add_argument("--lambda-lse", type=float, default=6.0)
    p.add_argument("--grad-clip", type=float, default=2.0)
    p.add_argument("--learning-rate", type=float, default=2e-4)
    # UARDA's attention switches (SCAN when all are at their defaults)
    p.add_argument("--clip", default="scan", choices=["scan", "uarda"])
    p.add_argument("--mask", default="off", choices=["off", "hard"])
    p.add_argument("--logit", default="scanlike", choices=["scanlike", "raw"])
    p.add_argument("--irr", default="scan", choices=["scan", "zero", "neg"])
    p.add_argument("--threshold", type=float, default=0.0, help="the fixed relevance threshold t")
    p.add_argument("--images", type=int, default=1000)
    p.add_argument("--captions", type=int, default=5000)
    p.add_argument("--max-seconds", type=float, default=0.0,
                   help="scan-style eval: stop the similarity after this many seconds and "
                        "extrapolate (0: no limit)")
    p.add_argument("--via-gram", type=int, default=1,
                   help="vectorized: cosine through the Gram matrix (1) or the attended vectors (0)")
    p.add_argument("--caption-chunk", type=int, default=50,
                   help="vectorized eval: captions per block (all images at once)")
    p.add_argument("--seed", type=int, default=7)
    return p.parse_args(argv)


ARGS = parse_args(sys.argv[1:])
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = str(max(1, ARGS.threads))

import numpy as np  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import scan_reference as S  # noqa: E402
import uarda_reference as U  # noqa: E402

torch.set_num_threads(max(1, ARGS.threads))


def emit(obj):
    sys.stdout.write(json.dumps(obj, sort_keys=True) + "\n")
    sys.stdout.flush()


def log(msg):
    sys.stderr.write("bench_torch: %s\n" % msg)
    sys.stderr.flush()


# --------------------------------------------------------------------------------------
# Environment

def blas_info():
    """The BLAS libraries torch has mapped (after one matmul) and OpenBLAS's own config."""
    a = torch.randn(256, 256)
    (a @ a).sum().item()
    libs = set()
    with open("/proc/self/maps") as f:
        for line in f:
            path = line.split()[-1]
            if "blas" in path or "lapack" in path or "mkl" in path:
                libs.add(path)
    config = None
    for path in sorted(libs):
        try:
            import ctypes
            lib = ctypes.CDLL(path)
            lib.openblas_get_config.restype = ctypes.c_char_p
            lib.openblas_get_corename.restype = ctypes.c_char_p
            config = "%s (core %s)" % (lib.openblas_get_config().decode(),
                                       lib.openblas_get_corename().decode())
            break
        except (OSError, AttributeError):
            continue
    libblas = "/usr/lib/x86_64-linux-gnu/libblas.so.3"
    return {
        "blas_libs": sorted(libs),
        "blas_config": config,
        "libblas_so_3": os.path.realpath(libblas) if os.path.exists(libblas) else None,
        "openblas": bool(config and "OpenBLAS" in config),
    }


def info_line():
    d = {"bench": "info", "torch": torch.__version__, "threads": torch.get_num_threads(),
         "python": sys.version.split()[0]}
    d.update(blas_info())
    return d


# --------------------------------------------------------------------------------------
# Inputs and options

def make_opt(a, **extra):
    opt = U.make_opt(
        margin=a.margin, word_dim=a.word_dim, embed_size=a.embed_size, grad_clip=a.grad_clip,
        num_layers=a.num_layers, learning_rate=a.learning_rate,
        max_violation=bool(a.max_violation), img_dim=a.img_dim, no_imgnorm=bool(a.no_imgnorm),
        no_txtnorm=bool(a.no_txtnorm), raw_feature_norm=a.raw_feature_norm,
        agg_func=a.agg_func, cross_attn=a.cross_attn, bi_gru=bool(a.bi_gru),
        lambda_lse=a.lambda_lse, lambda_softmax=a.lambda_softmax, vocab_size=a.vocab_size,
        clip=a.clip, mask=a.mask, logit=a.logit, irr=a.irr, t_fixed=a.threshold,
        t_mode="fixed")
    for k, v in extra.items():
        setattr(opt, k, v)
    U.check_switches(opt)
    return opt


def is_uarda(opt):
    return not (opt.clip == "scan" and opt.mask == "off" and opt.irr == "scan")


def random_lengths(gen, n, mean_len):
    max_len = mean_len + 3
    lens = mean_len - 3 + torch.randint(0, 7, (n,), generator=gen)
    return lens.clamp(min=3, max=max_len)


def random_tokens(gen, lengths, vocab_size):
    """[n, max(lengths)]: <start>=1, random ids >= 4, <end>=2, padding 0."""
    n, T = lengths.numel(), int(lengths.max())
    tok = torch.randint(4, vocab_size, (n, T), generator=gen)
    pos = torch.arange(T)[None, :]
    L = lengths[:, None]
    tok = torch.where(pos == 0, torch.ones_like(tok), tok)
    tok = torch.where(pos == L - 1, torch.full_like(tok, 2), tok)
    tok = torch.where(pos >= L, torch.zeros_like(tok), tok)
    return tok


# --------------------------------------------------------------------------------------
# UARDA's thresholded attention for all pairs at once (Gram form; uarda_reference's formulas)

def _uarda_core(raw, opt, query_valid=None, context_valid=None):
    """raw (..., C, Q) = S[c][q]; query_valid (..., 1, Q) / context_valid (..., C, 1) mark the
    real items (True).  Returns alpha (..., Q, C), relevant (..., Q), the irr_value (or None)."""
    t = float(opt.t_fixed)
    with torch.no_grad():
        rawm = raw if context_valid is None else raw.masked_fill(~context_valid, float("-inf"))
        if opt.irr == "scan":
            relevant = torch.ones(raw.shape[:-2] + raw.shape[-1:], dtype=torch.bool)
        else:
            relevant = rawm.max(dim=-2)[0] > t
        allowed = torch.ones_like(raw, dtype=torch.bool)
        if opt.mask == "hard":
            allowed = (rawm > t) | ~relevant.unsqueeze(-2)
        if context_valid is not None:
            allowed = allowed & context_valid
    z = U.clip_scores(raw, opt)
    part = U.NORM_PARTS[opt.raw_feature_norm][1]
    if query_valid is not None:
        z = z.masked_fill(~query_valid, float("-inf") if part == "softmax" else 0.0)
    if context_valid is not None:
        z = z.masked_fill(~context_valid, 1.0)          # harmless: masked out of the softmax
    p = U.normalise(z, part, dim=-1)
    src = raw if opt.logit == "raw" else p
    logits = (src * opt.lambda_softmax).masked_fill(~allowed, float("-inf"))
    alpha = torch.softmax(logits.transpose(-1, -2), dim=-1)     # (..., Q, C)
    irr_value = None
    if opt.irr == "neg":
        irr_value = (raw if context_valid is None else
                     raw.masked_fill(~context_valid, float("-inf"))).max(dim=-2)[0] - t
    return alpha, relevant, irr_value


def _uarda_finish(raw, alpha, gram, qn, relevant, irr_value, opt):
    num = (alpha * raw.transpose(-1, -2)).sum(-1)                # (..., Q)
    sq = (torch.matmul(alpha, gram) * alpha).sum(-1)
    cos = num / (qn * sq.clamp(min=0).sqrt()).clamp(min=S.EPS)
    if opt.irr == "scan":
        return cos
    if opt.irr == "zero":
        return torch.where(relevant, cos, torch.zeros_like(cos))
    return torch.where(relevant, cos, irr_value)


def uarda_t2i_block(images, cap, mask, opt, via_gram=True, details=None):
    ni, n_reg, d = images.shape
    c, n_word, _ = cap.shape
    raw = torch.matmul(images.reshape(ni * n_reg, d), cap.reshape(c * n_word, d).t())
    raw = raw.view(ni, n_reg, c, n_word).permute(0, 2, 1, 3)            # (Ni, C, R, L)
    alpha, relevant, irr_value = _uarda_core(raw, opt, query_valid=mask[None, :, None, :])
    relevant = relevant & mask[None]
    gram = torch.matmul(images, images.transpose(1, 2))[:, None]         # (Ni, 1, R, R)
    qn = torch.norm(cap, 2, -1)[None]                                     # (1, C, L)
    rel = _uarda_finish(raw, alpha, gram, qn, relevant, irr_value, opt)   # (Ni, C, L)
    return S.aggregate(rel, opt.agg_func, opt.lambda_lse, dim=2, mask=mask[None])


def uarda_i2t_block(images, cap, mask, opt, via_gram=True, details=None):
    ni, n_reg, d = images.shape
    c, n_word, _ = cap.shape
    raw = torch.matmul(cap.reshape(c * n_word, d), images.reshape(ni * n_reg, d).t())
    raw = raw.view(c, n_word, ni, n_reg).permute(2, 0, 1, 3)            # (Ni, C, L, R)
    alpha, relevant, irr_value = _uarda_core(raw, opt, context_valid=mask[None, :, :, None])
    gram = torch.matmul(cap, cap.transpose(1, 2))[None]                  # (1, C, L, L)
    qn = torch.norm(images, 2, -1)[:, None]                               # (Ni, 1, R)
    rel = _uarda_finish(raw, alpha, gram, qn, relevant, irr_value, opt)   # (Ni, C, R)
    return S.aggregate(rel, opt.agg_func, opt.lambda_lse, dim=2)


def vectorized_scores(img_emb, cap_emb, cap_lens, opt, via_gram, caption_chunk=None):
    """sims (n_image, n_caption), all pairs at once (in caption chunks)."""
    if is_uarda(opt):
        block = uarda_t2i_block if opt.cross_attn == "t2i" else uarda_i2t_block
        return S._batched(block, img_emb, cap_emb, cap_lens, opt, caption_chunk, True, None)
    fn = S.xattn_score_t2i_batched if opt.cross_attn == "t2i" else S.xattn_score_i2t_batched
    return fn(img_emb, cap_emb, cap_lens, opt, caption_chunk=caption_chunk, via_gram=via_gram)


def literal_scores(img_emb, cap_emb, cap_lens, opt):
    """SCAN's per-caption loop (uarda_reference's for a thresholded model)."""
    if is_uarda(opt):
        fn = U.xattn_score_t2i if opt.cross_attn == "t2i" else U.xattn_score_i2t
    else:
        fn = S.xattn_score_t2i if opt.cross_attn == "t2i" else S.xattn_score_i2t
    return fn(img_emb, cap_emb, cap_lens, opt)


# --------------------------------------------------------------------------------------
# Training step

def bench_train(a, variant):
    gen = torch.Generator().manual_seed(a.seed)
    torch.manual_seed(a.seed)
    opt = make_opt(a)
    img_enc, txt_enc = S.build_model(opt)
    B = a.batch_size
    images = torch.rand(B, a.regions, a.img_dim, generator=gen)
    lengths = torch.sort(random_lengths(gen, B, a.mean_len), descending=True)[0]
    tokens = random_tokens(gen, lengths, a.vocab_size)
    lens = [int(n) for n in lengths]
    params = [p for _, p in S.scan_named_params(img_enc, txt_enc)]
    optimizer = torch.optim.Adam(params, lr=opt.learning_rate)
    # every step starts from the initial weights (Adam's moments go on), as in `uarda bench`:
    # the timed steps do the same work, which a thresholded model's would not once they move
    initial = [p.detach().clone() for p in params]

    def reset():
        with torch.no_grad():
            for p, p0 in zip(params, initial):
                p.copy_(p0)

    def step():
        img_emb, cap_emb, cap_lens = S.forward_emb(img_enc, txt_enc, images, tokens, lens)
        if variant == "scan":
            sims = literal_scores(img_emb, cap_emb, cap_lens, opt)
        else:
            sims = vectorized_scores(img_emb, cap_emb, cap_lens, opt, bool(a.via_gram))
        loss = S.ContrastiveLoss(opt.margin, opt.max_violation)(sims)
        optimizer.zero_grad()
        loss.backward()
        if opt.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(params, opt.grad_clip)
        optimizer.step()
        return float(loss)

    times = []
    for k in range(a.repeats + 1):
        reset()
        t = time.perf_counter()
        loss = step()
        el = time.perf_counter() - t
        log("train %s %s: %s %.1f ms (loss %.4f)" % (variant, opt.cross_attn,
                                                    "warm-up" if k == 0 else "run %d" % k,
                                                    1e3 * el, loss))
        if k > 0:
            times.append(el)
    return {"ms": 1e3 * statistics.median(times), "times_ms": [1e3 * t for t in times],
            "mean_len": float(lengths.float().mean()), "dtype": "float32",
            "via_gram": bool(a.via_gram) if variant == "vectorized" else None}


# --------------------------------------------------------------------------------------
# Evaluation

def eval_inputs(a, gen):
    images = torch.rand(a.images, a.regions, a.img_dim, generator=gen)
    lengths = random_lengths(gen, a.captions, a.mean_len)
    tokens = random_tokens(gen, lengths, a.vocab_size)
    return images, lengths, tokens


def scan_i2t(npts, sims, im_div):
    """SCAN's evaluation.i2t (ranks of the best of the image's captions), numpy loop."""
    ranks = np.zeros(npts)
    for index in range(npts):
        inds = np.argsort(sims[index])[::-1]
        rank = 1e20
        for i in range(im_div * index, im_div * index + im_div, 1):
            tmp = np.where(inds == i)[0][0]
            if tmp < rank:
                rank = tmp
        ranks[index] = rank
    return recall_numbers(ranks)


def scan_t2i(npts, sims, im_div):
    """SCAN's evaluation.t2i, numpy loop."""
    ranks = np.zeros(im_div * npts)
    sims = sims.T
    for index in range(npts):
        for i in range(im_div):
            inds = np.argsort(sims[im_div * index + i])[::-1]
            ranks[im_div * index + i] = np.where(inds == index)[0][0]
    return recall_numbers(ranks)


def recall_numbers(ranks):
    r1 = 100.0 * len(np.where(ranks < 1)[0]) / len(ranks)
    r5 = 100.0 * len(np.where(ranks < 5)[0]) / len(ranks)
    r10 = 100.0 * len(np.where(ranks < 10)[0]) / len(ranks)
    return r1, r5, r10, np.floor(np.median(ranks)) + 1, ranks.mean() + 1


def vectorized_recalls(sims, im_div):
    """The same numbers with tensor operations (ranks = items scored strictly higher)."""
    n_img, n_cap = sims.shape
    own = torch.arange(n_cap) // im_div
    pos = sims[own, torch.arange(n_cap)]                                  # (n_cap,)
    t2i = (sims > pos[None, :]).sum(0)                                    # rank of the image
    i2t_each = (sims[own] > pos[:, None]).sum(1)                          # rank in its image's row
    i2t = i2t_each.view(n_img, im_div).min(1)[0]
    return recall_numbers(i2t.numpy().astype(np.float64)), recall_numbers(t2i.numpy().astype(np.float64))


def encode_captions_sorted(txt_enc, tokens, lengths, ids):
    """SCAN's collate_fn: a batch sorted by length, descending; returns (cap_emb, lens, order)."""
    order = sorted(ids, key=lambda j: -int(lengths[j]))
    lens = [int(lengths[j]) for j in order]
    toks = tokens[order, :max(lens)]
    cap_emb, _ = txt_enc(toks, lens)
    return cap_emb, lens, order


def eval_scan_style(a, opt, img_enc, txt_enc, images, lengths, tokens, im_div, max_seconds):
    """SCAN's evaluation.py: encode_data, images[::im_div], shard_xattn (float64), i2t, t2i."""
    n_cap, E, R = a.captions, a.embed_size, a.regions
    t0 = time.perf_counter()
    img_embs = np.zeros((n_cap, R, E))                                   # float64, as SCAN
    cap_embs = np.zeros((n_cap, int(lengths.max()), E))
    cap_lens = [0] * n_cap
    with torch.no_grad():
        for b0 in range(0, n_cap, 128):
            cap_emb, lens, order = encode_captions_sorted(txt_enc, tokens, lengths,
                                                          list(range(b0, min(n_cap, b0 + 128))))
            img_emb = img_enc(images[[j // im_div for j in order]])
            for k, j in enumerate(order):
                img_embs[j] = img_emb[k].numpy()
                cap_embs[j, :lens[k]] = cap_emb[k, :lens[k]].numpy()
                cap_lens[j] = lens[k]
    img_embs = img_embs[::im_div]
    t_enc = time.perf_counter() - t0
    # shard_xattn_t2i / _i2t with shard_size 128; caption shards outer so that a bounded run
    # covers every image for the captions it did (the work per pair is the same)
    shard = 128
    n_img = img_embs.shape[0]
    d = np.zeros((n_img, n_cap))
    t1 = time.perf_counter()
    done = 0
    with torch.no_grad():
        for c0 in range(0, n_cap, shard):
            c1 = min(n_cap, c0 + shard)
            for i0 in range(0, n_img, shard):
                i1 = min(n_img, i0 + shard)
                im = torch.from_numpy(img_embs[i0:i1])
                s = torch.from_numpy(cap_embs[c0:c1])
                d[i0:i1, c0:c1] = literal_scores(im, s, cap_lens[c0:c1], opt).numpy()
            done = c1
            if max_seconds > 0 and time.perf_counter() - t1 > max_seconds and done < n_cap:
                break
    t_sim = time.perf_counter() - t1
    t2 = time.perf_counter()
    r_i2t = scan_i2t(n_img, d, im_div)
    r_t2i = scan_t2i(n_img, d, im_div)
    t_rec = time.perf_counter() - t2
    sim_full = t_sim * n_cap / done
    total = t_enc + sim_full + t_rec
    out = {"encode_s": t_enc, "similarity_s": sim_full, "recall_s": t_rec, "dtype": "float64"}
    if done < n_cap:
        out["extrapolated_from"] = done
        out["similarity_measured_s"] = t_sim
    return total, out, (r_i2t, r_t2i)


def eval_vectorized(a, opt, img_enc, txt_enc, images, lengths, tokens, im_div):
    n_cap = a.captions
    t0 = time.perf_counter()
    with torch.no_grad():
        img_emb = torch.cat([img_enc(images[i:i + 128]) for i in range(0, a.images, 128)])
        T = int(lengths.max())
        cap_emb = torch.zeros(n_cap, T, a.embed_size)
        for b0 in range(0, n_cap, 128):
            emb, lens, order = encode_captions_sorted(txt_enc, tokens, lengths,
                                                      list(range(b0, min(n_cap, b0 + 128))))
            cap_emb[order, :emb.size(1)] = emb
        t_enc = time.perf_counter() - t0
        t1 = time.perf_counter()
        sims = vectorized_scores(img_emb, cap_emb, [int(n) for n in lengths], opt,
                                 bool(a.via_gram), caption_chunk=a.caption_chunk)
        t_sim = time.perf_counter() - t1
        t2 = time.perf_counter()
        recalls = vectorized_recalls(sims, im_div)
        t_rec = time.perf_counter() - t2
    total = t_enc + t_sim + t_rec
    return total, {"encode_s": t_enc, "similarity_s": t_sim, "recall_s": t_rec,
                   "dtype": "float32", "via_gram": bool(a.via_gram) or is_uarda(opt),
                   "caption_chunk": a.caption_chunk}, recalls


def bench_eval(a, variant):
    if a.captions % a.images:
        raise SystemExit("bench_torch: --captions must be a multiple of --images")
    im_div = a.captions // a.images
    gen = torch.Generator().manual_seed(a.seed)
    torch.manual_seed(a.seed)
    opt = make_opt(a)
    img_enc, txt_enc = S.build_model(opt)
    images, lengths, tokens = eval_inputs(a, gen)

    def run(sub):
        n_img = sub
        n_c = sub * im_div
        b = argparse.Namespace(**vars(a))
        b.images, b.captions = n_img, n_c
        args = (b, opt, img_enc, txt_enc, images[:n_img], lengths[:n_c], tokens[:n_c], im_div)
        if variant == "scan":
            return eval_scan_style(*args, max_seconds=a.max_seconds)
        return eval_vectorized(*args)

    # warm-up on a small slice (the full scan-style run takes minutes)
    t = time.perf_counter()
    run(min(a.images, 16))
    log("eval %s %s: warm-up %.1f ms" % (variant, opt.cross_attn, 1e3 * (time.perf_counter() - t)))
    times, parts = [], []
    for k in range(a.repeats):
        total, part, rec = run(a.images)
        log("eval %s %s: run %d %.1f ms %s" % (variant, opt.cross_attn, k + 1, 1e3 * total,
                                              json.dumps({x: round(y, 3) if isinstance(y, float) else y
                                                          for x, y in part.items()})))
        times.append(total)
        parts.append(part)
    mid = sorted(range(len(times)), key=lambda i: times[i])[len(times) // 2]
    out = {"ms": 1e3 * statistics.median(times), "times_ms": [1e3 * t for t in times],
           "mean_len": float(lengths.float().mean())}
    out.update(parts[mid])
    if "extrapolated_from" in out:
        out["note"] = "extrapolated from %d captions" % out["extrapolated_from"]
    return out


# --------------------------------------------------------------------------------------
# Self-check of the vectorized UARDA form

def selfcheck(a):
    torch.manual_seed(3)
    worst = 0.0
    for direction in ("t2i", "i2t"):
        for sw in (dict(clip="uarda", mask="hard", irr="zero"), dict(clip="uarda", mask="hard", irr="neg"),
                   dict(clip="uarda", mask="off", irr="zero"), dict(clip="scan", mask="off", irr="zero"),
                   dict(clip="uarda", mask="hard", irr="zero", logit="raw"),
                   dict(clip="scan", mask="off", irr="scan")):
            for agg in ("Mean", "LogSumExp", "Max", "Sum"):
                opt = make_opt(a, cross_attn=direction, agg_func=agg, t_fixed=0.1, embed_size=16,
                               **sw)
                ni, nc, R, E = 5, 7, 6, 16
                img = S.l2norm(torch.randn(ni, R, E, dtype=torch.float64), -1)
                lens = [9, 8, 8, 6, 4, 3, 2]
                cap = S.l2norm(torch.randn(nc, 9, E, dtype=torch.float64), -1)
                for j, n in enumerate(lens):
                    cap[j, n:] = 0
                lit = literal_scores(img, cap, lens, opt)
                vec = vectorized_scores(img, cap, lens, opt, True, caption_chunk=3)
                diff = float((lit - vec).abs().max())
                worst = max(worst, diff)
                if not diff < 1e-9:
                    log("selfcheck FAILED: %s %s %s: max |diff| %.3g" % (direction, agg, sw, diff))
                    return 1
    emit({"bench": "selfcheck", "ok": True, "max_abs_diff": worst})
    return 0


def main():
    a = ARGS
    info = info_line()
    if a.what == "info":
        emit(info)
        return 0
    if a.what == "selfcheck":
        return selfcheck(a)
    if not info["openblas"]:
        log("warning: torch is not using OpenBLAS (%s): its times are not comparable"
            % (info["libblas_so_3"],))
    emit(info)
    variants = [v for v in a.variants.split(",") if v]
    for v in variants:
        if v not in ("scan", "vectorized"):
            raise SystemExit("bench_torch: unknown variant %r" % v)
        res = bench_train(a, v) if a.what == "train" else bench_eval(a, v)
        res.update({"bench": a.what, "variant": v, "threads": torch.get_num_threads(),
                    "repeats": a.repeats, "cross_attn": a.cross_attn,
                    "model": "uarda" if is_uarda(make_opt(a)) else "scan"})
        emit(res)
    return 0


if __name__ == "__main__":
    sys.exit(main())

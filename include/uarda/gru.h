/* GRU layer (PyTorch nn.GRU semantics, batch_first, packed variable lengths), forward and
 * backward.
 *
 * Per step, with x the input and h the previous hidden state (0 at the first step):
 *   r  = sigmoid(W_ir x + b_ir + W_hr h + b_hr)
 *   z  = sigmoid(W_iz x + b_iz + W_hz h + b_hz)
 *   n  = tanh(W_in x + b_in + r * (W_hn h + b_hn))
 *   h' = (1 - z) * n + z * h
 * Weight rows are stacked [r; z; n] (weight_ih: [3H, in], weight_hh: [3H, H]).
 *
 * Parameters live in one flat float buffer in PyTorch's registration order: for each layer l,
 * weight_ih_l{l}, weight_hh_l{l}, bias_ih_l{l}, bias_hh_l{l}, then (bidirectional) the same
 * four with suffix "_reverse". Layer l > 0 takes the [dirs*H] concatenation of the layer below.
 *
 * Sequences are rows of a padded [B, T, in] batch with lengths[b] in [1, T], sorted descending
 * (as SCAN's collate guarantees). The forward direction runs t = 0..len-1, the reverse direction
 * t = len-1..0 (from the true end, never from padding). Outputs at padded positions are 0. */
#ifndef UARDA_GRU_H
#define UARDA_GRU_H

#include <stddef.h>
#include <stdint.h>
#include "uarda/error.h"
#include "uarda/rng.h"

typedef struct ua_gru_shape {
    int input_size;
    int hidden;
    int num_layers;
    int bidir;          /* 0 or 1 */
} ua_gru_shape;

/* 0 when the shape is valid (all sizes >= 1, bidir 0/1), else -1 with a message */
int    ua_gru_check_shape(const ua_gru_shape *s, ua_err *err);
/* total number of floats of the flat parameter buffer */
size_t ua_gru_param_count(const ua_gru_shape *s);
/* number of parameter tensors: 4 * num_layers * dirs */
int    ua_gru_n_tensors(const ua_gru_shape *s);
/* The k-th parameter tensor (0 <= k < ua_gru_n_tensors) in registration order: its PyTorch name
 * (e.g. "weight_hh_l0_reverse", written to name[cap] when name is not NULL), ndim (2 for
 * weights, 1 for biases), shape and offset (in floats) in the flat buffer. Any output pointer
 * may be NULL. Returns 0, or -1 when k is out of range or the name does not fit. */
int    ua_gru_tensor(const ua_gru_shape *s, int k, char *name, size_t cap, int *ndim,
                     int64_t shape[2], size_t *offset);

/* PyTorch's default init: every weight and bias ~ U(-1/sqrt(H), 1/sqrt(H)), drawn in buffer
 * order from rng. */
void ua_gru_init(const ua_gru_shape *s, float *params, ua_rng *rng);

/* Activations kept between forward and backward, and all scratch; sized for max_batch rows of
 * max_len steps. forward/backward never allocate. */
typedef struct ua_gru_work ua_gru_work;
ua_gru_work *ua_gru_work_new(const ua_gru_shape *s, int max_batch, int max_len, ua_err *err);
void         ua_gru_work_free(ua_gru_work *w);

/* x: [B, T, input_size] row-major; lengths[b] in [1, T], non-increasing in b.
 * out: [B, T, dirs*H]; forward direction in channels [0, H), reverse in [H, 2H); exactly 0 at
 * t >= lengths[b]. Keeps the activations in w for ua_gru_backward. Returns 0 or -1. */
int ua_gru_forward(const ua_gru_shape *s, const float *params, const float *x,
                   const int *lengths, int B, int T, float *out, ua_gru_work *w, ua_err *err);

/* d_out: [B, T, dirs*H] (values at padded positions are ignored). Accumulates (+=) into
 * d_params (layout of params) and writes d_x [B, T, input_size] (0 at padded positions; may be
 * NULL to skip that work). Uses the activations of the last ua_gru_forward on w, which must
 * have had the same params, x, lengths, B and T (lengths, B and T are checked). */
int ua_gru_backward(const ua_gru_shape *s, const float *params, const float *x,
                    const int *lengths, int B, int T, const float *d_out, float *d_params,
                    float *d_x, ua_gru_work *w, ua_err *err);

#endif

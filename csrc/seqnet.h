/*
 * seqnet.h -- the public C API of seqnet's kernels.
 *
 * Every function exists for float32 (suffix _f32) and float64 (suffix _f64);
 * both are generated from one source by including a template file twice.
 *
 * Conventions shared by every kernel:
 *   - All arrays are C-contiguous, row-major.  Dimension letters: T steps,
 *     B batch, I inputs, H hidden units, G gate width (4H LSTM, 3H GRU,
 *     H Elman).
 *   - Sequences in a batch are sorted by length, longest first:
 *     lengths[0] >= lengths[1] >= ... >= lengths[B-1] >= 1, lengths[0] <= T.
 *     At step s the active rows are therefore the prefix b < n_s.  A row
 *     past its length does no work; its outputs there are written as zero
 *     and its final state is the state at its last valid step.
 *   - reverse != 0 runs each sequence backwards within its own length:
 *     step s of row b reads time t = lengths[b] - 1 - s, so its "final"
 *     state is the state after time 0.  Outputs stay indexed by time.
 *   - Weights are stored input-major: W is (I, G), U is (H, G), so the
 *     input projection is x . W.  Gate blocks are contiguous columns in the
 *     fixed order below (PyTorch's weight_ih is W transposed).
 *       LSTM  i f g o : c = f*c_prev + i*g,  h = o*tanh(c)
 *             Graves peepholes p = (p_i, p_f, p_o), each (H):
 *             i and f see c_prev, o sees c.
 *       GRU   r z n   : n = tanh(a_n + r*(h_prev . U_n + bh)),
 *                       h = (1-z)*n + z*h_prev  (reset after the matmul,
 *                       as PyTorch and cuDNN do; bh is PyTorch's b_hn).
 *       Elman         : h = act(x . W + h_prev . U + b), act one of
 *                       tanh, relu, softsign.
 *   - Parameter gradients (dW, dU, db, dp, dbh) ACCUMULATE (+=): the caller
 *     zeroes them once per batch.  Activation gradients (dx, dh0, dc0) are
 *     OVERWRITTEN.  Optional pointers may be NULL where a comment says so.
 *   - Workspaces are owned by the caller and sized by the matching
 *     *_workspace_size function (bytes).  Kernels never allocate.
 *   - A layer's input is dense, x (T, B, I), or token codes, codes (T, B)
 *     with every valid code in [0, I): x.W of a code is row `code` of W
 *     (the values a one-hot row's GEMM would give, without reading the
 *     other rows), and the backward adds dgates rows to rows of dW.
 *   - n_threads <= 0 means the OpenMP default.  Results are bit-identical
 *     for every thread count: threads only split disjoint outputs.
 *   - Return value: SN_OK or a negative error code; outputs are unspecified
 *     after an error.
 */
#ifndef SEQNET_H
#define SEQNET_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum sn_status {
    SN_OK = 0,
    SN_EDIM = -1,      /* a dimension is < 1 (or < 0 where 0 is allowed) */
    SN_ELENGTHS = -2,  /* lengths not in [1, T] or not non-increasing */
    SN_EARG = -3,      /* a required pointer is NULL or an enum is unknown */
    SN_EWORKSPACE = -4, /* workspace smaller than *_workspace_size */
    SN_ELABEL = -5,    /* a class label outside [0, K) */
    SN_ECODE = -6      /* a token code outside [0, I) */
};

/* Enumerations end with their count; sn_*_name gives each value's name
 * (NULL past the end), so that no other language retypes them. */
enum sn_activation { SN_TANH = 0, SN_RELU = 1, SN_SOFTSIGN = 2,
                     SN_N_ACTIVATIONS = 3 };
const char *sn_activation_name(int activation);

/* ---- recurrent cells (lstm.c, gru.c, elman.c; layer.c) ----
 * What a cell kind is, read from its own table in its own file. */
enum sn_cell_kind { SN_CELL_LSTM = 0, SN_CELL_GRU = 1, SN_CELL_ELMAN = 2,
                    SN_N_CELLS = 3 };
typedef struct {
    const char *name;
    int n_gates;      /* G = n_gates * H */
    int has_c;        /* carries a cell state c: c, c0, c_n, dc0 */
    int has_hn;       /* GRU: keeps hn = h_prev . U_n + bh for backward */
    int has_bh;       /* GRU: a recurrent bias bh (H) */
    int peepholes;    /* may take Graves peepholes p (3H) */
    int activation;   /* reads sn_layer.activation (else tanh) */
    int gates_in_h;   /* its gates are h itself: no gates array */
    int forget_gate;  /* the gate block whose bias starts at forget_bias
                         (the LSTM's f), or -1 */
} sn_cell_info;
/* NULL for an unknown kind. */
const sn_cell_info *sn_cell_info_of(int cell);

/* Element-wise functions of sn_activate (act.c). */
enum sn_function {
    SN_FN_EXP = 0, SN_FN_SIGMOID = 1, SN_FN_TANH = 2, SN_FN_SOFTSIGN = 3,
    SN_N_FUNCTIONS = 4
};
const char *sn_function_name(int kind);

enum sn_isa { SN_ISA_REF = 0, SN_ISA_AVX2 = 1, SN_ISA_AVX512 = 2,
              SN_N_ISAS = 3 };

/* ---- configuration and CPU dispatch (cpu.c) ---- */

/* Bit i set when ISA path i is usable on this CPU and OS. */
int sn_isa_available(void);
/* The path in use: the best available, unless SEQNET_ISA or sn_set_isa
 * chose another.  sn_set_isa returns SN_EARG for an unavailable path. */
int sn_isa_current(void);
int sn_set_isa(int isa);
const char *sn_isa_name(int isa);
int sn_has_openmp(void);
int sn_max_threads(void);
/* Bytes of one core's level-2 cache (CPUID; 256 KiB when unknown). */
size_t sn_l2_bytes(void);
/* One core's float32 FMA throughput in GFLOP/s (2 flops per lane of an
 * FMA) on the path sn_isa_current() names: independent FMA chains in
 * registers (16 zmm for avx512, 12 ymm for avx2; for ref, the baseline
 * compiler's multiplies and adds) run on the calling thread for about
 * `seconds`, the fastest of a few blocks.  The benchmarks' %peak; 0 when
 * seconds is not in (0, 10]. */
double sn_fma_peak_gflops(double seconds);
/* Parallel regions fall back to one thread for a while after a thread of
 * theirs finished late, as when other processes hold the cores (team.c);
 * 0 turns that off (SEQNET_ADAPTIVE_THREADS=0 in the environment does at
 * load), 1 on again.  On by default.  Speed only: never a result's bits. */
void sn_set_adaptive_threads(int on);

/* ---- GEMM (gemm.c) ----
 * C (M, N) = beta*C + op(A) . op(B), op(A) (M, K), op(B) (K, N).
 * trans_a != 0: A is stored (K, M) with row stride lda, else (M, K).
 * trans_b != 0: B is stored (N, K) with row stride ldb, else (K, N).
 * C is never read when beta == 0.  K == 0 gives C = beta*C. */
size_t sn_gemm_workspace_size(int n_threads);
int sn_gemm_f32(float *C, int64_t ldc,
                const float *A, int64_t lda, const float *Bm, int64_t ldb,
                float beta, int trans_a, int trans_b,
                int64_t M, int64_t N, int64_t K,
                void *workspace, size_t workspace_size, int n_threads);
int sn_gemm_f64(double *C, int64_t ldc,
                const double *A, int64_t lda, const double *Bm, int64_t ldb,
                double beta, int trans_a, int trans_b,
                int64_t M, int64_t N, int64_t K,
                void *workspace, size_t workspace_size, int n_threads);

/* One recurrent layer: its cell, its parameters and their sizes.  The
 * arrays are of the entry point's real type (float for _f32, double for
 * _f64): W (I, G), U (H, G), b (G); p (3H) peepholes or NULL (cells with
 * info->peepholes); bh (H) for cells with info->has_bh, else NULL.
 * activation is an sn_activation, read by cells with info->activation. */
typedef struct {
    int cell, activation;
    int64_t I, H;
    const void *W, *U, *b, *p, *bh;
} sn_layer;

/* What a layer's forward writes and its backward reads (the tape), arrays
 * of the entry point's real type, NULL where the cell has none:
 * h (T, B, H); c (T, B, H) with has_c; gates (T, B, G) post-activation,
 * unless gates_in_h; hn (T, B, H) with has_hn; h_n, c_n (B, H) the final
 * states (c_n with has_c). */
typedef struct {
    void *h, *c, *gates, *hn, *h_n, *c_n;
} sn_tape;

/* A layer's parameter gradients, shaped as its parameters. */
typedef struct {
    void *W, *U, *b, *p, *bh;
} sn_layer_grads;

#define SN_DECLARE_LAYER(R, S)                                                 \
/* forward: the tape written (zero past each length; keep 0 -- inference,   \
 *   no backward to follow -- leaves gates and hn unspecified, and the       \
 *   forward may skip writing them).  Input x (T, B, I), or codes (T, B)     \
 *   with x NULL; h0, c0 (B, H) the initial states (c0 with has_c).         \
 * backward: dx (T, B, I) or NULL (always NULL with codes), dh0, dc0 (B, H)  \
 *   written; the gradients accumulated.  dh (T, B, H) upstream gradient of  \
 *   every output or NULL (zero), dh_n, dc_n (B, H) of the final states or   \
 *   NULL; the tape as the forward wrote it. */                              \
size_t sn_layer_workspace_size_##S(const sn_layer *layer, int64_t T,          \
                                   int64_t B, int n_threads);                 \
int sn_layer_forward_##S(const sn_tape *tape, const sn_layer *layer,          \
                         const R *x, const int64_t *codes, const R *h0,       \
                         const R *c0, const int64_t *lengths, int64_t T,      \
                         int64_t B, int reverse, int keep, void *workspace,   \
                         size_t workspace_size, int n_threads);              \
int sn_layer_backward_##S(R *dx, R *dh0, R *dc0, const sn_layer_grads *grads, \
                          const R *dh, const R *dh_n, const R *dc_n,          \
                          const sn_layer *layer, const R *x,                  \
                          const int64_t *codes, const R *h0, const R *c0,     \
                          const sn_tape *tape, const int64_t *lengths,        \
                          int64_t T, int64_t B, int reverse, void *workspace, \
                          size_t workspace_size, int n_threads);

#define SN_DECLARE_EMBED(R, S)                                                 \
/* A learned embedding table E (V, D) (embed.c).  forward: out (T, B, D)    \
 *   written, row codes[t, b] of E at every valid (t, b), zero elsewhere.   \
 * backward: dE accumulated, dout[t, b] added to row codes[t, b], in the    \
 *   order t, then b.  codes (T, B), every valid one in [0, V). */          \
int sn_embed_forward_##S(R *out, const R *E, const int64_t *codes,            \
                         const int64_t *lengths, int64_t T, int64_t B,        \
                         int64_t V, int64_t D);                               \
int sn_embed_backward_##S(R *dE, const R *dout, const int64_t *codes,         \
                          const int64_t *lengths, int64_t T, int64_t B,       \
                          int64_t V, int64_t D);

#define SN_DECLARE_STACK(R, S)                                                 \
/* Stateful stepping (stack.c): one step of a stack of unidirectional      \
 * layers for B independent streams, and generation.                       \
 * Layer l's state is columns [off_l, off_l + H_l) of h and c, (B, sum H):  \
 * read, then overwritten with the state after the step (c only for cells  \
 * with has_c).  stack_step: x (B, I_0), or codes (B) with x NULL, in; top \
 * (B, H_last) written.                                                     \
 * generate: layer 0 reads codes (I_0 = K); the dense head V (H_last, K),  \
 * cb (K) gives the next code's distribution softmax(z / temperature)      \
 * (temperature <= 0: argmax).  The n_prime codes of prime are fed first,   \
 * then n codes are drawn into out, each fed back as the next input; the    \
 * first drawn code follows the last prime code, or `start` without one.    \
 * Draw i uses sn_uniform(seed, stream, first + i), so that a long sample   \
 * made in pieces (each starting from the last code drawn) draws what one  \
 * call would.  B = 1. */                      \
size_t sn_stack_workspace_size_##S(const sn_layer *layers, int n_layers,      \
                                   int64_t B, int64_t K);                      \
int sn_stack_step_##S(R *top, R *h, R *c, const R *x, const int64_t *codes,   \
                      const sn_layer *layers, int n_layers, int64_t B,        \
                      void *workspace, size_t workspace_size);                \
int sn_generate_##S(int64_t *out, R *h, R *c, const sn_layer *layers,         \
                    int n_layers, const R *V, const R *cb, int64_t K,          \
                    const int64_t *prime, int64_t n_prime, int64_t start,      \
                    int64_t n, double temperature, uint64_t seed,              \
                    uint64_t stream, uint64_t first, void *workspace,          \
                    size_t workspace_size);                                    \
/* Encoder-decoder decoding (stack.c): B samples, each from its initial    \
 * states h0, c0 (B, sum H) (c0 read only for cells with has_c).  Code 0 is \
 * the start input and the end output; layer 0 reads codes (I_0 = K) or,   \
 * E (K, I_0) not NULL, their rows of E.  A step's log-probabilities are    \
 * log softmax(h_top . V + cb), V (H_last, K), in double.  Greedy takes the \
 * most probable code (the lowest among ties) until code 0 or max_len     \
 * codes.  width > 1 also runs beam search: each step keeps the width best \
 * extensions of the live hypotheses by summed log-probability (ties: the  \
 * better-ranked parent, then the lower code); one by code 0 finishes and   \
 * leaves the beam; at max_len the live ones finish.  A hypothesis scores  \
 * its summed log-probability per step taken (the end step included); the  \
 * result is the best of the finished ones and the greedy one (ties: greedy \
 * first, then the earlier, then the better ranked).  out (B, max_len)     \
 * codes, lengths (B) their counts (code 0 excluded), scores (B) written.  \
 * Greedy steps all samples at once (GEMMs split over threads); beam      \
 * search splits samples over threads: the same bits for any thread count. */\
size_t sn_decode_workspace_size_##S(const sn_layer *layers, int n_layers,     \
                                    int64_t K, int64_t B, int64_t max_len,     \
                                    int64_t width, int n_threads);             \
int sn_decode_##S(int64_t *out, int64_t *lengths, double *scores,             \
                  const R *h0, const R *c0, const sn_layer *layers,            \
                  int n_layers, const R *E, const R *V, const R *cb,          \
                  int64_t K, int64_t B, int64_t max_len, int64_t width,        \
                  void *workspace, size_t workspace_size, int n_threads);

#define SN_DECLARE_TRAINING(R, S)                                              \
/* y = f(x) element-wise with the kernels' own exp, sigmoid, tanh or        \
 * softsign (act.c), n elements; f an sn_function. */                       \
int sn_activate_##S(R *y, const R *x, int64_t n, int kind);                 \
/* Output layers (loss.c): z = X . V + c over N rows, X (N, H), V (H, K),      \
 * c (K).  Row i counts with weight w[i] (w NULL: 1); a zero weight skips it.  \
 *                                                                             \
 * softmax_xent: P (N, K) written: softmax(z) when y is NULL (inference),      \
 *   else the loss gradient w_i*(softmax(z_i) - onehot(y_i)).  With y (N),     \
 *   *loss = sum_i w_i * -log softmax(z_i)[y_i]; dX (N, H) written when not    \
 *   NULL; dV, dc accumulated.                                                 \
 * linear_mse: Z (N, K) written: z when y is NULL, else the loss gradient      \
 *   2*w_i*(z_i - y_i)/K.  With y (N, K), *loss = sum_i w_i*mean_k (z-y)^2;     \
 *   dX written when not NULL; dV, dc accumulated. */                          \
int sn_softmax_xent_##S(double *loss, R *P, R *dX, R *dV, R *dc,              \
                        const R *X, const R *V, const R *c, const int64_t *y,  \
                        const R *w, int64_t N, int64_t H, int64_t K,           \
                        void *workspace, size_t workspace_size,                \
                        int n_threads);                                        \
int sn_linear_mse_##S(double *loss, R *Z, R *dX, R *dV, R *dc,                 \
                      const R *X, const R *V, const R *c, const R *y,          \
                      const R *w, int64_t N, int64_t H, int64_t K,             \
                      void *workspace, size_t workspace_size, int n_threads);  \
/* One optimiser update of the flat parameter buffer (optim.c), n elements.   \
 * In order: *grad_norm = ||grad||_2 (before anything else); grad clipped to  \
 * [-clip_value, clip_value], then scaled to norm <= clip_norm (each when     \
 * > 0); then l1*sign(param) + l2*param added where decay[i] != 0; then the   \
 * update.  grad is modified.  state holds 2n values, zero before the first   \
 * step; step counts updates from 1 (Adam's bias correction). */              \
int sn_optim_step_##S(R *param, R *grad, R *state, double *grad_norm,         \
                      const uint8_t *decay, int64_t n,                         \
                      const sn_optim_config *cfg, int64_t step,                \
                      int n_threads);                                          \
/* Inverted dropout (random.c): a[i] *= keep_i / (1 - rate), keep_i true     \
 * with probability 1 - rate, a pure function of (seed, stream, i): applying  \
 * the same call to the gradient replays the mask. */                         \
int sn_dropout_##S(R *a, int64_t n, double rate, uint64_t seed,               \
                   uint64_t stream, int n_threads);                            \
/* *finite = 1 if none of the n values of x is NaN or infinite, else 0       \
 * (finite.c). */                                                             \
int sn_all_finite_##S(int *finite, const R *x, int64_t n);                  \
/* Per group g of the flat buffer (elements [bounds[g], bounds[g+1])), the    \
 * training dashboard's sums (monitor.c): sums (n_groups, 2) accumulated      \
 * with sum param^2 and sum (param - prev)^2; prev (n) then overwritten with  \
 * param; bounds (n_groups + 1) non-decreasing, from 0 to at most n. */       \
int sn_update_stats_##S(double *sums, R *prev, const R *param,               \
                        const int64_t *bounds, int64_t n_groups, int64_t n);

enum sn_optimizer {
    SN_SGD = 0, SN_MOMENTUM = 1, SN_NESTEROV = 2,
    SN_ADAGRAD = 3, SN_RMSPROP = 4, SN_ADAM = 5, SN_N_OPTIMIZERS = 6
};
const char *sn_optimizer_name(int optimizer);

typedef struct {
    int kind;                 /* an sn_optimizer */
    double learning_rate;
    double momentum;          /* momentum, nesterov */
    double beta1, beta2;      /* adam */
    double rho;               /* rmsprop decay */
    double epsilon;           /* adagrad, rmsprop, adam */
    double l1, l2;
    double clip_value, clip_norm;  /* <= 0: off */
} sn_optim_config;

/* A uniform double in [0, 1) from a counter-based generator (random.c). */
double sn_uniform(uint64_t seed, uint64_t stream, uint64_t i);

SN_DECLARE_LAYER(float, f32)
SN_DECLARE_LAYER(double, f64)
SN_DECLARE_EMBED(float, f32)
SN_DECLARE_EMBED(double, f64)
SN_DECLARE_STACK(float, f32)
SN_DECLARE_STACK(double, f64)
SN_DECLARE_TRAINING(float, f32)
SN_DECLARE_TRAINING(double, f64)

#ifdef __cplusplus
}
#endif
#endif

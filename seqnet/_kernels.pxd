# Declarations of the C API in csrc/seqnet.h; see there for shapes and maths.
from libc.stdint cimport int64_t, uint8_t, uint64_t

cdef extern from "seqnet.h" nogil:
    enum:
        SN_OK
        SN_EDIM
        SN_ELENGTHS
        SN_EARG
        SN_EWORKSPACE
        SN_ELABEL
        SN_ECODE

    ctypedef struct sn_optim_config:
        int kind
        double learning_rate
        double momentum
        double beta1
        double beta2
        double rho
        double epsilon
        double l1
        double l2
        double clip_value
        double clip_norm

    double sn_uniform(uint64_t seed, uint64_t stream, uint64_t i)

    ctypedef struct sn_cell_info:
        const char *name
        int n_gates
        int has_c
        int has_hn
        int has_bh
        int peepholes
        int activation
        int gates_in_h
        int forget_gate

    enum:
        SN_N_CELLS
        SN_N_ACTIVATIONS
        SN_N_OPTIMIZERS
        SN_N_FUNCTIONS
        SN_N_ISAS

    const sn_cell_info *sn_cell_info_of(int cell)
    const char *sn_activation_name(int activation)
    const char *sn_optimizer_name(int optimizer)
    const char *sn_function_name(int kind)

    ctypedef struct sn_layer:
        int cell
        int activation
        int64_t I
        int64_t H
        const void *W
        const void *U
        const void *b
        const void *p
        const void *bh

    ctypedef struct sn_tape:
        void *h
        void *c
        void *gates
        void *hn
        void *h_n
        void *c_n

    ctypedef struct sn_layer_grads:
        void *W
        void *U
        void *b
        void *p
        void *bh

    size_t sn_layer_workspace_size_f32(const sn_layer *layer, int64_t T, int64_t B, int n_threads)
    size_t sn_layer_workspace_size_f64(const sn_layer *layer, int64_t T, int64_t B, int n_threads)
    int sn_layer_forward_f32(const sn_tape *tape, const sn_layer *layer, const float *x,
                             const int64_t *codes, const float *h0, const float *c0,
                             const int64_t *lengths, int64_t T, int64_t B, int reverse,
                             int keep, void *workspace, size_t workspace_size, int n_threads)
    int sn_layer_forward_f64(const sn_tape *tape, const sn_layer *layer, const double *x,
                             const int64_t *codes, const double *h0, const double *c0,
                             const int64_t *lengths, int64_t T, int64_t B, int reverse,
                             int keep, void *workspace, size_t workspace_size, int n_threads)
    int sn_layer_backward_f32(float *dx, float *dh0, float *dc0, const sn_layer_grads *grads,
                              const float *dh, const float *dh_n, const float *dc_n,
                              const sn_layer *layer, const float *x, const int64_t *codes,
                              const float *h0, const float *c0, const sn_tape *tape,
                              const int64_t *lengths, int64_t T, int64_t B, int reverse,
                              void *workspace, size_t workspace_size, int n_threads)
    int sn_layer_backward_f64(double *dx, double *dh0, double *dc0, const sn_layer_grads *grads,
                              const double *dh, const double *dh_n, const double *dc_n,
                              const sn_layer *layer, const double *x, const int64_t *codes,
                              const double *h0, const double *c0, const sn_tape *tape,
                              const int64_t *lengths, int64_t T, int64_t B, int reverse,
                              void *workspace, size_t workspace_size, int n_threads)

    int sn_embed_forward_f32(float *out, const float *E, const int64_t *codes,
                             const int64_t *lengths, int64_t T, int64_t B,
                             int64_t V, int64_t D)
    int sn_embed_forward_f64(double *out, const double *E, const int64_t *codes,
                             const int64_t *lengths, int64_t T, int64_t B,
                             int64_t V, int64_t D)
    int sn_embed_backward_f32(float *dE, const float *dout, const int64_t *codes,
                              const int64_t *lengths, int64_t T, int64_t B,
                              int64_t V, int64_t D)
    int sn_embed_backward_f64(double *dE, const double *dout, const int64_t *codes,
                              const int64_t *lengths, int64_t T, int64_t B,
                              int64_t V, int64_t D)

    size_t sn_stack_workspace_size_f32(const sn_layer *layers, int n_layers, int64_t B, int64_t K)
    size_t sn_stack_workspace_size_f64(const sn_layer *layers, int n_layers, int64_t B, int64_t K)
    int sn_stack_step_f32(float *top, float *h, float *c, const float *x, const int64_t *codes,
                          const sn_layer *layers, int n_layers, int64_t B,
                          void *workspace, size_t workspace_size)
    int sn_stack_step_f64(double *top, double *h, double *c, const double *x, const int64_t *codes,
                          const sn_layer *layers, int n_layers, int64_t B,
                          void *workspace, size_t workspace_size)
    int sn_generate_f32(int64_t *out, float *h, float *c, const sn_layer *layers,
                        int n_layers, const float *V, const float *cb, int64_t K,
                        const int64_t *prime, int64_t n_prime, int64_t start, int64_t n,
                        double temperature, uint64_t seed, uint64_t stream,
                        uint64_t first, void *workspace, size_t workspace_size)
    int sn_generate_f64(int64_t *out, double *h, double *c, const sn_layer *layers,
                        int n_layers, const double *V, const double *cb, int64_t K,
                        const int64_t *prime, int64_t n_prime, int64_t start, int64_t n,
                        double temperature, uint64_t seed, uint64_t stream,
                        uint64_t first, void *workspace, size_t workspace_size)
    size_t sn_decode_workspace_size_f32(const sn_layer *layers, int n_layers, int64_t K,
                                        int64_t B, int64_t max_len, int64_t width,
                                        int n_threads)
    size_t sn_decode_workspace_size_f64(const sn_layer *layers, int n_layers, int64_t K,
                                        int64_t B, int64_t max_len, int64_t width,
                                        int n_threads)
    int sn_decode_f32(int64_t *out, int64_t *lengths, double *scores, const float *h0,
                      const float *c0, const sn_layer *layers, int n_layers, const float *E,
                      const float *V, const float *cb, int64_t K, int64_t B, int64_t max_len,
                      int64_t width, void *workspace, size_t workspace_size, int n_threads)
    int sn_decode_f64(int64_t *out, int64_t *lengths, double *scores, const double *h0,
                      const double *c0, const sn_layer *layers, int n_layers, const double *E,
                      const double *V, const double *cb, int64_t K, int64_t B, int64_t max_len,
                      int64_t width, void *workspace, size_t workspace_size, int n_threads)

    int sn_isa_available()
    int sn_isa_current()
    int sn_set_isa(int isa)
    const char *sn_isa_name(int isa)
    int sn_has_openmp()
    int sn_max_threads()
    double sn_fma_peak_gflops(double seconds)
    void sn_set_adaptive_threads(int on)

    size_t sn_gemm_workspace_size(int n_threads)
    int sn_gemm_f32(float *C, int64_t ldc, const float *A, int64_t lda,
                    const float *Bm, int64_t ldb, float beta, int trans_a,
                    int trans_b, int64_t M, int64_t N, int64_t K,
                    void *workspace, size_t workspace_size, int n_threads)
    int sn_gemm_f64(double *C, int64_t ldc, const double *A, int64_t lda,
                    const double *Bm, int64_t ldb, double beta, int trans_a,
                    int trans_b, int64_t M, int64_t N, int64_t K,
                    void *workspace, size_t workspace_size, int n_threads)

    int sn_softmax_xent_f32(double *loss, float *P, float *dX, float *dV, float *dc,
                            const float *X, const float *V, const float *c,
                            const int64_t *y, const float *w, int64_t N, int64_t H,
                            int64_t K, void *workspace, size_t workspace_size, int n_threads)
    int sn_softmax_xent_f64(double *loss, double *P, double *dX, double *dV, double *dc,
                            const double *X, const double *V, const double *c,
                            const int64_t *y, const double *w, int64_t N, int64_t H,
                            int64_t K, void *workspace, size_t workspace_size, int n_threads)
    int sn_linear_mse_f32(double *loss, float *Z, float *dX, float *dV, float *dc,
                          const float *X, const float *V, const float *c,
                          const float *y, const float *w, int64_t N, int64_t H,
                          int64_t K, void *workspace, size_t workspace_size, int n_threads)
    int sn_linear_mse_f64(double *loss, double *Z, double *dX, double *dV, double *dc,
                          const double *X, const double *V, const double *c,
                          const double *y, const double *w, int64_t N, int64_t H,
                          int64_t K, void *workspace, size_t workspace_size, int n_threads)
    int sn_optim_step_f32(float *param, float *grad, float *state, double *grad_norm,
                          const uint8_t *decay, int64_t n, const sn_optim_config *cfg,
                          int64_t step, int n_threads)
    int sn_optim_step_f64(double *param, double *grad, double *state, double *grad_norm,
                          const uint8_t *decay, int64_t n, const sn_optim_config *cfg,
                          int64_t step, int n_threads)
    int sn_dropout_f32(float *a, int64_t n, double rate, uint64_t seed,
                       uint64_t stream, int n_threads)
    int sn_dropout_f64(double *a, int64_t n, double rate, uint64_t seed,
                       uint64_t stream, int n_threads)
    int sn_all_finite_f32(int *finite, const float *x, int64_t n)
    int sn_all_finite_f64(int *finite, const double *x, int64_t n)
    int sn_update_stats_f32(double *sums, float *prev, const float *param,
                            const int64_t *bounds, int64_t n_groups, int64_t n)
    int sn_update_stats_f64(double *sums, double *prev, const double *param,
                            const int64_t *bounds, int64_t n_groups, int64_t n)

    int sn_activate_f32(float *y, const float *x, int64_t n, int kind)
    int sn_activate_f64(double *y, const double *x, int64_t n, int kind)

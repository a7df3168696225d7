// Softmax cross-entropy with optional label smoothing, one work-item per sample (K is small:
// 10 classes). Stable log-sum-exp: every exponent is of (logit − max), so 1e4 logits stay finite.

// loss[n] = Σ_k t_k·(lse − l_k) with t = (1−ε)·onehot(label) + ε/K; correct[n] = argmax == label
// (first maximum wins); dlogits[n][k] = (softmax_k − t_k)/N unless has_grad == 0.
// A label outside 0..K−1 gives a NaN loss (the data reader should have refused it).
__kernel void rn_softmax_ce_fwd(__global float *loss, __global int *correct,
                                __global float *dlogits, __global const float *logits,
                                __global const int *labels, const int N, const int K,
                                const float eps, const int has_grad)
{
    const int n = get_global_id(0);
    if (n >= N) return;
    __global const float *l = logits + (size_t)n * K;
    const int label = labels[n];
    float m = l[0];
    int arg = 0;
    for (int k = 1; k < K; k++)
        if (l[k] > m) {
            m = l[k];
            arg = k;
        }
    float s = 0.0f, lsum = 0.0f;
    for (int k = 0; k < K; k++) {
        s += exp(l[k] - m);
        lsum += l[k] - m;
    }
    const float lse = log(s); // log-sum-exp of (l − m)
    const int ok = label >= 0 && label < K;
    const float ly = ok ? l[label] - m : 0.0f;
    // Σ_k t_k (lse − l_k) = (1−ε)(lse − l_y) + (ε/K)·(K·lse − Σ_k l_k), all shifted by m
    const float li = (1.0f - eps) * (lse - ly) + (eps / K) * (K * lse - lsum);
    loss[n] = ok ? li : NAN;
    correct[n] = (ok && arg == label) ? 1 : 0;
    if (!has_grad) return;
    const float inv_s = 1.0f / s, inv_n = 1.0f / N;
    for (int k = 0; k < K; k++) {
        const float t = (k == label ? 1.0f - eps : 0.0f) + eps / K;
        dlogits[(size_t)n * K + k] = (exp(l[k] - m) * inv_s - t) * inv_n;
    }
}

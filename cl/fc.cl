// Bias pieces of the fully connected head; the products themselves are CLBlast GEMMs.

// y[n][o] += b[o] for y[N][O]
__kernel void rn_fc_fwd(__global float *y, __global const float *b, const int N, const int O)
{
    const int i = get_global_id(0);
    if (i >= N * O) return;
    y[i] += b[i % O];
}

// db[o] = Σ_n dy[n][o] for dy[N][O]; one work-item per output, summed in a fixed order.
__kernel void rn_fc_bwd(__global float *db, __global const float *dy, const int N, const int O)
{
    const int o = get_global_id(0);
    if (o >= O) return;
    float s = 0.0f;
    for (int n = 0; n < N; n++) s += dy[(size_t)n * O + o];
    db[o] = s;
}

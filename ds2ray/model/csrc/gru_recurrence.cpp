// The GRU time loop of ds2ray.model.fused_gru in C++: the same arithmetic as its Python loop
// (one GEMM per step for the recurrent projection, then the gate math), with the per-step gate math
// fused into one pass over memory instead of ~20 small ATen calls, and no Python per step.
//
// Legend: D directions (1, or 2 = forward and backward), B batch, T steps, H hidden, G = 3H gates
// (r, z, n). The layer's tensors keep the layer's own layout, so nothing is stacked, reversed,
// transposed or concatenated around the loop:
//   gi:      (B, T, D G) input projections x @ [W_ih_0; W_ih_1]^T, *without* b_ih
//   lengths: (B,) int64 valid steps per item
//   b_ih, b_hh: (D, G); w_hh: (D, G, H)
//   out:     (B, T, D H) every hidden state, directions side by side (what torch.cat would give)
// Direction 1 reads each item backwards *within its length*: at loop step t it takes frame
// len - 1 - t (frames at and past len, the padding, come after, in place), exactly what running it
// over ``reverse_padded(x)`` and reversing its output back does. Valid frames never see padding.
// The saved state stays in loop order, (D, T+1, B, H) etc., so each step's rows are contiguous and
// the recurrent weight gradient is one GEMM over (T B) rows without a copy. Both biases are added
// in the gate pass, not copied into GEMM outputs first.
#include <ATen/Parallel.h>
#include <torch/extension.h>

#include <algorithm>
#include <cmath>
#include <vector>

namespace {

// Rows (batch items) per parallel chunk: small batches stay on one thread.
constexpr int64_t kRowGrain = 8;

// Arguments are clamped where float32 results saturate anyway (sigmoid(+-30) and tanh(+-15) round to
// their limits or to values far below what training resolves), so the vectorised expf/tanhf of a
// -ffast-math build (which assumes finite results) never see an overflowing input.
inline float sigmoid(float x) { return 1.0f / (1.0f + std::exp(-std::min(30.0f, std::max(-30.0f, x)))); }
inline float tanh_(float x) { return std::tanh(std::min(15.0f, std::max(-15.0f, x))); }

// The frame direction d reads at loop step t for an item of ``len`` valid frames.
inline int64_t frame(int64_t d, int64_t t, int64_t len) { return (d == 1 && t < len) ? len - 1 - t : t; }

// One hidden unit j of one step: the gates from the input projection gi (without b_ih), the
// recurrent projection gh (without b_hh), the biases and the previous state; ``torch.nn.GRU``'s
// equations (linear_before_reset). Shared by the training and the inference loops.
struct Gates {
  float r, z, hn, n, h;  // reset, update, W_hn h + b_hn, candidate, new state
};
__attribute__((always_inline)) inline Gates gates(const float* __restrict__ gi, const float* __restrict__ bi,
                                                  const float* __restrict__ gh, const float* __restrict__ bh,
                                                  float h_prev, int64_t j, int64_t H) {
  Gates g;
  g.r = sigmoid(gi[j] + bi[j] + (gh[j] + bh[j]));
  g.z = sigmoid(gi[H + j] + bi[H + j] + (gh[H + j] + bh[H + j]));
  g.hn = gh[2 * H + j] + bh[2 * H + j];
  g.n = tanh_(gi[2 * H + j] + bi[2 * H + j] + g.r * g.hn);
  g.h = g.n + g.z * (h_prev - g.n);  // (1 - z) n + z h
  return g;
}

void check_inputs(const torch::Tensor& gi, const torch::Tensor& lengths, const torch::Tensor& b_ih,
                  const torch::Tensor& w_hh, const torch::Tensor& b_hh) {
  TORCH_CHECK(gi.dim() == 3 && gi.is_contiguous() && gi.scalar_type() == torch::kFloat32 && gi.device().is_cpu(),
              "gru_recurrence: gi must be a contiguous float32 CPU tensor (B, T, D 3H)");
  TORCH_CHECK(w_hh.dim() == 3 && w_hh.size(0) >= 1 && w_hh.size(0) <= 2 && w_hh.size(1) == 3 * w_hh.size(2) &&
                  gi.size(2) == w_hh.size(0) * w_hh.size(1) && w_hh.is_contiguous(),
              "gru_recurrence: w_hh must be a contiguous (D, 3H, H), D = 1 or 2, matching gi");
  for (const auto* bias : {&b_ih, &b_hh}) {
    TORCH_CHECK(bias->dim() == 2 && bias->size(0) == w_hh.size(0) && bias->size(1) == w_hh.size(1) &&
                    bias->is_contiguous(),
                "gru_recurrence: b_ih and b_hh must be contiguous (D, 3H)");
  }
  TORCH_CHECK(lengths.dim() == 1 && lengths.size(0) == gi.size(0) && lengths.scalar_type() == torch::kInt64 &&
                  lengths.is_contiguous(),
              "gru_recurrence: lengths must be a contiguous int64 (B,)");
}

std::vector<int64_t> clamped_lengths(const torch::Tensor& lengths, int64_t T) {
  std::vector<int64_t> out(lengths.size(0));
  const int64_t* p = lengths.data_ptr<int64_t>();
  for (size_t b = 0; b < out.size(); ++b) out[b] = std::min(T, std::max<int64_t>(0, p[b]));
  return out;
}

}  // namespace

std::vector<torch::Tensor> gru_forward(torch::Tensor gi, torch::Tensor lengths, torch::Tensor b_ih,
                                       torch::Tensor w_hh, torch::Tensor b_hh) {
  check_inputs(gi, lengths, b_ih, w_hh, b_hh);
  const int64_t B = gi.size(0), T = gi.size(1), D = w_hh.size(0), G = w_hh.size(1), H = G / 3;
  const auto lens = clamped_lengths(lengths, T);
  auto opts = gi.options();
  auto out = torch::empty({B, T, D * H}, opts);
  auto hs = torch::empty({D, T + 1, B, H}, opts);  // loop order; hs[d][0] = 0
  auto rz = torch::empty({D, T, B, 2 * H}, opts);
  auto n = torch::empty({D, T, B, H}, opts);
  auto gh_n = torch::empty({D, T, B, H}, opts);
  auto gh = torch::empty({B, G}, opts);
  const float* gi_p = gi.data_ptr<float>();
  const float* bih_p = b_ih.data_ptr<float>();
  const float* bhh_p = b_hh.data_ptr<float>();
  float* out_p = out.data_ptr<float>();
  float* hs_p = hs.data_ptr<float>();
  float* rz_p = rz.data_ptr<float>();
  float* n_p = n.data_ptr<float>();
  float* ghn_p = gh_n.data_ptr<float>();
  const float* gh_p = gh.data_ptr<float>();
  // One direction at a time: its W_hh (3H x H floats: 768 KB at H = 256) stays in the core's L2
  // cache over the whole time loop, where both directions together would not fit.
  for (int64_t d = 0; d < D; ++d) {
    hs[d][0].zero_();
    auto w_t = w_hh[d].t();  // (H, G)
    const float* __restrict__ bi = bih_p + d * G;
    const float* __restrict__ bh = bhh_p + d * G;
    for (int64_t t = 0; t < T; ++t) {
      at::mm_out(gh, hs[d][t], w_t);  // (B, G); b_hh added below
      at::parallel_for(0, B, kRowGrain, [&](int64_t begin, int64_t end) {
        for (int64_t b = begin; b < end; ++b) {
          const int64_t f = b * T + frame(d, t, lens[b]);  // (b, frame) in the layer's (B, T, .) tensors
          const int64_t row = (d * T + t) * B + b;         // (d, t, b) in rz, n, gh_n: (D, T, B, .)
          const int64_t state = (d * (T + 1) + t) * B + b;  // (d, t, b) in hs: (D, T+1, B, H)
          const float* __restrict__ gi_row = gi_p + f * D * G + d * G;
          const float* __restrict__ gh_row = gh_p + b * G;
          const float* __restrict__ h_row = hs_p + state * H;
          float* __restrict__ h_next = hs_p + (state + B) * H;
          float* __restrict__ out_row = out_p + f * D * H + d * H;
          float* __restrict__ rz_row = rz_p + row * 2 * H;
          float* __restrict__ n_row = n_p + row * H;
          float* __restrict__ ghn_row = ghn_p + row * H;
#pragma omp simd
          for (int64_t j = 0; j < H; ++j) {
            const Gates g = gates(gi_row, bi, gh_row, bh, h_row[j], j, H);
            rz_row[j] = g.r;
            rz_row[H + j] = g.z;
            ghn_row[j] = g.hn;
            n_row[j] = g.n;
            h_next[j] = g.h;
            out_row[j] = g.h;
          }
        }
      });
    }
  }
  return {out, hs, rz, n, gh_n};
}

std::vector<torch::Tensor> gru_backward(torch::Tensor grad_out, torch::Tensor lengths, torch::Tensor w_hh,
                                        torch::Tensor hs, torch::Tensor rz, torch::Tensor n, torch::Tensor gh_n) {
  grad_out = grad_out.contiguous();
  const int64_t B = grad_out.size(0), T = grad_out.size(1), D = w_hh.size(0), H = w_hh.size(2), G = 3 * H;
  TORCH_CHECK(grad_out.dim() == 3 && grad_out.scalar_type() == torch::kFloat32 && grad_out.size(2) == D * H,
              "gru_recurrence: grad_out must be float32 (B, T, D H)");
  const auto lens = clamped_lengths(lengths, T);
  auto opts = grad_out.options();
  auto grad_gi = torch::empty({B, T, D * G}, opts);  // d loss / d gi: the layer's layout
  auto grad_gh = torch::empty({D, T, B, G}, opts);   // d loss / d (W_hh h + b_hh): loop order
  auto dh = torch::zeros({B, H}, opts);
  auto dhz = torch::empty({B, H}, opts);
  const float* go_p = grad_out.data_ptr<float>();
  const float* hs_p = hs.data_ptr<float>();
  const float* rz_p = rz.data_ptr<float>();
  const float* n_p = n.data_ptr<float>();
  const float* ghn_p = gh_n.data_ptr<float>();
  float* pre_p = grad_gi.data_ptr<float>();
  float* rec_p = grad_gh.data_ptr<float>();
  float* dh_p = dh.data_ptr<float>();
  float* dhz_p = dhz.data_ptr<float>();
  for (int64_t d = 0; d < D; ++d) {  // one direction at a time, as in the forward
    dh.zero_();
    auto w = w_hh[d];  // (G, H)
    for (int64_t t = T - 1; t >= 0; --t) {
      at::parallel_for(0, B, kRowGrain, [&](int64_t begin, int64_t end) {
        for (int64_t b = begin; b < end; ++b) {
          const int64_t f = b * T + frame(d, t, lens[b]);
          const int64_t row = (d * T + t) * B + b;
          const float* __restrict__ go = go_p + f * D * H + d * H;
          const float* __restrict__ h_prev = hs_p + ((d * (T + 1) + t) * B + b) * H;  // hs[d][t]: the state before step t
          const float* __restrict__ rzr = rz_p + row * 2 * H;
          const float* __restrict__ nr = n_p + row * H;
          const float* __restrict__ ghn = ghn_p + row * H;
          float* __restrict__ pre = pre_p + f * D * G + d * G;
          float* __restrict__ rec = rec_p + row * G;
          const float* __restrict__ dhr = dh_p + b * H;
          float* __restrict__ dhzr = dhz_p + b * H;
#pragma omp simd
          for (int64_t j = 0; j < H; ++j) {
            const float g = dhr[j] + go[j];
            const float r = rzr[j], z = rzr[H + j], nv = nr[j];
            const float dn_pre = g * (1.0f - z) * (1.0f - nv * nv);
            const float dr_pre = dn_pre * ghn[j] * (r * (1.0f - r));
            const float dz_pre = g * (h_prev[j] - nv) * (z * (1.0f - z));
            pre[j] = dr_pre;
            pre[H + j] = dz_pre;
            pre[2 * H + j] = dn_pre;
            rec[j] = dr_pre;
            rec[H + j] = dz_pre;
            rec[2 * H + j] = dn_pre * r;
            dhzr[j] = g * z;
          }
        }
      });
      at::addmm_out(dh, dhz, grad_gh[d][t], w);  // (B, G) @ (G, H) + dh * z
    }
  }
  return {grad_gi, grad_gh};
}

// ---- inference: no autograd state -------------------------------------------------------------
// The forward alone (no grad): nothing is saved for a backward, padded steps are skipped (their
// outputs are zero; no valid frame ever reads them), and a small batch does its recurrent
// projection with the matrix-vector loop below instead of a GEMM call per step. At batch 1 a
// (1 x 256) @ (256 x 768) GEMM through ATen costs ~18 us, mostly call, dispatch and transposed-
// operand overhead; the loop reads W_hh once from L2 in a blocked layout, in a few us.

namespace {

// Gate pre-activations handled per block: kBlock accumulators stay in vector registers.
constexpr int64_t kBlock = 64;

// w (G, H) row-major -> packed (G / kBlock, H, kBlock): block jb, column k holds W[jb*kBlock + j][k]
// for j < kBlock, so the loop below streams the matrix once, front to back.
void pack_blocks(const float* w, float* packed, int64_t G, int64_t H) {
  for (int64_t jb = 0; jb < G / kBlock; ++jb)
    for (int64_t k = 0; k < H; ++k)
      for (int64_t j = 0; j < kBlock; ++j) packed[(jb * H + k) * kBlock + j] = w[(jb * kBlock + j) * H + k];
}

// gh[0:G] = packed W @ h (no bias).
inline void matvec_blocks(const float* __restrict__ packed, const float* __restrict__ h, float* __restrict__ gh,
                          int64_t G, int64_t H) {
  for (int64_t jb = 0; jb < G / kBlock; ++jb) {
    float acc[kBlock] = {0.0f};
    const float* __restrict__ w = packed + jb * H * kBlock;
    for (int64_t k = 0; k < H; ++k) {
      const float hk = h[k];
#pragma omp simd
      for (int64_t j = 0; j < kBlock; ++j) acc[j] += hk * w[k * kBlock + j];
    }
#pragma omp simd
    for (int64_t j = 0; j < kBlock; ++j) gh[jb * kBlock + j] = acc[j];
  }
}

}  // namespace

// W_hh (D, G, H) in the blocked layout of the matrix-vector loop, (D, G H); G must be a multiple of
// kBlock (otherwise an empty tensor: gru_infer then always takes the GEMM).
torch::Tensor gru_pack(torch::Tensor w_hh) {
  TORCH_CHECK(w_hh.dim() == 3 && w_hh.scalar_type() == torch::kFloat32 && w_hh.device().is_cpu(),
              "gru_pack: w_hh must be a float32 CPU tensor (D, 3H, H)");
  w_hh = w_hh.contiguous();
  const int64_t D = w_hh.size(0), G = w_hh.size(1), H = w_hh.size(2);
  if (G % kBlock != 0) return torch::empty({0}, w_hh.options());
  auto packed = torch::empty({D, G * H}, w_hh.options());
  for (int64_t d = 0; d < D; ++d)
    pack_blocks(w_hh.data_ptr<float>() + d * G * H, packed.data_ptr<float>() + d * G * H, G, H);
  return packed;
}

// ``packed``: gru_pack(w_hh). Batches of up to ``matvec_max_batch`` items run the matrix-vector loop
// per item, larger ones one GEMM per step.
torch::Tensor gru_infer(torch::Tensor gi, torch::Tensor lengths, torch::Tensor b_ih, torch::Tensor w_hh,
                        torch::Tensor b_hh, torch::Tensor packed, int64_t matvec_max_batch) {
  check_inputs(gi, lengths, b_ih, w_hh, b_hh);
  const int64_t B = gi.size(0), T = gi.size(1), D = w_hh.size(0), G = w_hh.size(1), H = G / 3;
  const auto lens = clamped_lengths(lengths, T);
  const bool matvec = B <= matvec_max_batch && packed.numel() > 0;
  TORCH_CHECK(!matvec || (packed.is_contiguous() && packed.scalar_type() == torch::kFloat32 &&
                          packed.numel() == D * G * H),
              "gru_infer: packed must be gru_pack(w_hh)");
  auto opts = gi.options();
  auto out = torch::zeros({B, T, D * H}, opts);
  auto h = torch::zeros({D, B, H}, opts);  // each direction its own state and scratch: they may run at once
  auto gh = torch::empty({D, B, G}, opts);
  const float* gi_p = gi.data_ptr<float>();
  const float* bih_p = b_ih.data_ptr<float>();
  const float* bhh_p = b_hh.data_ptr<float>();
  float* out_p = out.data_ptr<float>();
  const int64_t steps = lens.empty() ? 0 : *std::max_element(lens.begin(), lens.end());
  // The directions are independent: with two or more threads (a lone clip given both cores) each runs
  // on its own, its W_hh in its own core's L2; with one, one after the other.
  at::parallel_for(0, D, 1, [&](int64_t d_begin, int64_t d_end) {
    for (int64_t d = d_begin; d < d_end; ++d) {
      const float* w_packed = matvec ? packed.data_ptr<float>() + d * G * H : nullptr;
      torch::Tensor w_t, h_d = h[d], gh_d = gh[d];
      if (!matvec) w_t = w_hh[d].t().contiguous();  // (H, G)
      float* h_p = h_d.data_ptr<float>();
      float* gh_p = gh_d.data_ptr<float>();
      const float* __restrict__ bi = bih_p + d * G;
      const float* __restrict__ bh = bhh_p + d * G;
      for (int64_t t = 0; t < steps; ++t) {
        if (!matvec) at::mm_out(gh_d, h_d, w_t);
        for (int64_t b = 0; b < B; ++b) {
          if (t >= lens[b]) continue;  // this item has ended: its state is never read again
          float* __restrict__ h_row = h_p + b * H;
          float* __restrict__ gh_row = gh_p + b * G;
          if (matvec) matvec_blocks(w_packed, h_row, gh_row, G, H);
          const int64_t f = b * T + frame(d, t, lens[b]);
          const float* __restrict__ gi_row = gi_p + f * D * G + d * G;
          float* __restrict__ out_row = out_p + f * D * H + d * H;
#pragma omp simd
          for (int64_t j = 0; j < H; ++j) {
            const float hv = gates(gi_row, bi, gh_row, bh, h_row[j], j, H).h;
            h_row[j] = hv;
            out_row[j] = hv;
          }
        }
      }
    }
  });
  return out;
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("gru_forward", &gru_forward, "GRU recurrence forward (ds2ray.model.fused_gru)");
  m.def("gru_backward", &gru_backward, "GRU recurrence backward (ds2ray.model.fused_gru)");
  m.def("gru_pack", &gru_pack, "W_hh in the blocked layout of gru_infer's matrix-vector loop");
  m.def("gru_infer", &gru_infer, "GRU recurrence forward without autograd state (ds2ray.model.fused_gru)");
}

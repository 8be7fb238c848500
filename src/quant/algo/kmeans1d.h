// Weighted one-dimensional k-means: the codebook search behind SqueezeLLM's non-uniform quantization.
//
// Objective: given values x_i with weights w_i >= 0 and k centroids c_1..c_k, minimise
//     sum_i w_i * min_j (x_i - c_j)^2.
// In 1-D every optimal clustering is a partition of the sorted values into contiguous runs (if two
// clusters interleaved, swapping the crossing points would lower the cost), and for a fixed run the best
// centroid is its weighted mean. So the exact optimum is a shortest-path over "k contiguous segments",
// solved by dynamic programming; assignment to the nearest centroid by value then reproduces the
// optimal partition (ties aside), so weights only enter through the centroids.
//
// Weights: nullptr means all ones. If all weights are zero the clustering falls back to unweighted (all
// ones), since every codebook would otherwise be optimal. A segment whose own weight is zero (weights
// elsewhere non-zero) costs nothing, and its centroid is the unweighted mean of its points.
//
// Codebook::objective is always evaluated the same way for both methods, in double, as
//     sum_i w_i (x_i - c[assign_nearest(x_i)])^2
// with the returned float centroids and the weights actually used (all ones in the fallback), so the
// objectives of the two methods are directly comparable.
#pragma once
#include <cstdint>
#include <vector>

namespace sqz::quant {

struct Codebook {
  std::vector<float> centroids;  // ascending, exactly k entries (may repeat when there are < k distinct values)
  double objective = 0;
};

// Exact optimum. Sort (radix, by the float's bits), merge equal values, prefix sums (double, values
// centred on their weighted mean to avoid cancellation) of w, w x, w x^2 so that a segment's cost
// sum w x^2 - (sum w x)^2 / sum w  is O(1); then D_t(j) = min_i D_{t-1}(i) + cost(i, j) layer by layer.
// The cost is Monge (quadrangle inequality), so the optimal split i*(j) is non-decreasing in j and in t;
// each layer is solved by divide and conquer over every 16th j and SIMD lanes for the j in between, with
// both monotonicities bounding every scan (kmeans1d_dp.h): O(k m log m) worst case, about 20 evaluations
// per value and layer in practice, eight at a time with AVX-512. With m <= k the distinct values
// themselves are the centroids (objective 0), padded by repeating the largest.
// Requires 1 <= k <= 256, finite x, finite w >= 0. n == 0 gives k zero centroids. Thread-safe: each
// thread keeps its own scratch buffers between calls.
Codebook kmeans1d_exact(const float* x, const float* w, int64_t n, int k);

// Weighted Lloyd iterations from a greedy k-means++ start, the method of SqueezeLLM's reference code
// (sklearn KMeans with sample_weight): first centre drawn with probability ~ w, each next one the best of
// 2 + floor(ln k) candidates drawn ~ w * D^2. Iterates assignment/update until the assignment stops
// changing or max_iter; an empty cluster is moved to the point with the largest w * D^2. Deterministic
// for a given seed (own mt19937_64 stream, no library distributions). Same preconditions as exact.
Codebook kmeans1d_lloyd(const float* x, const float* w, int64_t n, int k, uint64_t seed, int max_iter = 100);

// Index of the nearest of the k ascending centroids: the first t with x <= (c_t + c_{t+1}) / 2, the
// midpoint computed in double (exact for floats of similar magnitude), so a value exactly between two
// centroids goes to the lower one, and among equal centroids the lowest index is used. k <= 256. The
// array version checks that the centroids are ascending.
uint8_t assign_nearest(const float* centroids, int k, float x);
void assign_nearest(const float* centroids, int k, const float* x, int64_t n, uint8_t* idx);
inline uint8_t assign_nearest(const std::vector<float>& centroids, float x) {
  return assign_nearest(centroids.data(), (int)centroids.size(), x);
}

// sum_i w_i (x_i - nearest centroid)^2 in double (w == nullptr: all ones); centroids ascending.
double kmeans1d_objective(const float* centroids, int k, const float* x, const float* w, int64_t n);

}  // namespace sqz::quant

#include "testing/gradcheck.h"

#include <cmath>

namespace onestep::testing {

namespace {

int64_t storage_offset(const Tensor& t, int64_t index) {
  int64_t offset = 0;
  for (int64_t d = t.dim() - 1; d >= 0; --d) {
    offset += (index % t.size(d)) * t.strides()[d];
    index /= t.size(d);
  }
  return offset;
}

// <f(inputs), cotangent> with nothing recorded.
double scalarised(const OpFunction& f, const std::vector<Tensor>& inputs, const Tensor& cotangent) {
  NoGradGuard no_grad;
  return sum(f(inputs) * cotangent).item();
}

bool close(double analytic, double numeric, const GradcheckOptions& o) {
  return std::abs(analytic - numeric) <= o.atol + o.rtol * std::abs(numeric);
}

}  // namespace

double get_element(const Tensor& t, int64_t index) {
  return static_cast<const double*>(t.raw_data())[storage_offset(t, index)];
}

void set_element(const Tensor& t, int64_t index, double value) {
  static_cast<double*>(t.raw_data())[storage_offset(t, index)] = value;
}

double max_abs_diff(const Tensor& a, const Tensor& b) {
  NoGradGuard no_grad;
  if (a.numel() == 0) return 0.0;
  return amax(abs(a.to(DType::f64) - b.to(DType::f64))).item();
}

Tensor with_layout(const Tensor& t, Layout layout) {
  NoGradGuard no_grad;
  if (layout == Layout::contiguous || t.dim() == 0) return t.detach().clone();
  if (layout == Layout::strided) {
    // A buffer twice as long in every dim; the view takes every other element.
    Shape big = t.shape();
    for (auto& s : big) s *= 2;
    Tensor buffer = full(big, std::nan(""), t.dtype(), t.device());
    Tensor view = buffer;
    for (int64_t d = 0; d < t.dim(); ++d) view = view.slice(d, 0, big[d], 2);
    view.copy_(t);
    return view;
  }
  std::vector<int64_t> reverse(t.dim());
  for (int64_t d = 0; d < t.dim(); ++d) reverse[d] = t.dim() - 1 - d;
  return t.detach().permute(reverse).contiguous().permute(reverse);
}

std::string gradcheck(const OpFunction& f, const std::vector<Tensor>& inputs,
                      const GradcheckOptions& o) {
  Rng gen(o.seed);
  std::vector<size_t> checked;
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!inputs[i].defined() || !inputs[i].requires_grad()) continue;
    if (inputs[i].dtype() != DType::f64) return fmt::format("input {} is not f64", i);
    checked.push_back(i);
  }
  if (checked.empty()) return "no input requires grad";

  for (size_t i : checked) inputs[i].zero_grad();
  const Tensor output = f(inputs);
  if (!output.requires_grad()) return "the output does not require grad";
  // Non-uniform so that errors in individual elements cannot cancel.
  const Tensor cotangent = randn(output.shape(), gen, DType::f64);
  output.backward(cotangent);

  std::vector<Tensor> analytic;
  for (size_t i : checked) {
    const Tensor g = inputs[i].grad();
    if (!g.defined()) return fmt::format("input {}: no gradient was accumulated", i);
    if (g.shape() != inputs[i].shape())
      return fmt::format("input {}: gradient shape {} != input shape {}", i, shape_str(g.shape()),
                         shape_str(inputs[i].shape()));
    analytic.push_back(g.clone());
  }

  // The functional API must agree with .grad.
  {
    std::vector<Tensor> wrt;
    for (size_t i : checked) wrt.push_back(inputs[i]);
    const std::vector<Tensor> functional = autograd::grad({f(inputs)}, wrt, {cotangent});
    for (size_t k = 0; k < checked.size(); ++k)
      if (max_abs_diff(functional[k], analytic[k]) > 1e-12)
        return fmt::format("input {}: autograd::grad differs from .grad by {}", checked[k],
                           max_abs_diff(functional[k], analytic[k]));
  }

  // A second backward must add the same gradient again.
  f(inputs).backward(cotangent);
  for (size_t k = 0; k < checked.size(); ++k) {
    NoGradGuard no_grad;
    const double diff = max_abs_diff(inputs[checked[k]].grad(), analytic[k] * 2.0);
    if (diff > 1e-10)
      return fmt::format(
          "input {}: gradient did not accumulate over two backward calls "
          "(max deviation {})",
          checked[k], diff);
  }

  for (size_t k = 0; k < checked.size(); ++k) {
    const Tensor& x = inputs[checked[k]];
    const Tensor& g = analytic[k];
    if (x.numel() <= o.full_jacobian_max) {
      for (int64_t j = 0; j < x.numel(); ++j) {
        const double original = get_element(x, j);
        set_element(x, j, original + o.eps);
        const double plus = scalarised(f, inputs, cotangent);
        set_element(x, j, original - o.eps);
        const double minus = scalarised(f, inputs, cotangent);
        set_element(x, j, original);
        const double numeric = (plus - minus) / (2 * o.eps);
        const double a = get_element(g, j);
        if (!close(a, numeric, o))
          return fmt::format("input {} element {}: analytic {} vs numeric {}", checked[k], j, a,
                             numeric);
      }
    } else {
      for (int d = 0; d < o.directions; ++d) {
        const Tensor v = randn(x.shape(), gen, DType::f64);
        const Tensor saved = x.detach().clone();
        {
          NoGradGuard no_grad;
          x.add_(v, o.eps);
        }
        const double plus = scalarised(f, inputs, cotangent);
        {
          NoGradGuard no_grad;
          x.copy_(saved);
          x.add_(v, -o.eps);
        }
        const double minus = scalarised(f, inputs, cotangent);
        {
          NoGradGuard no_grad;
          x.copy_(saved);
        }
        const double numeric = (plus - minus) / (2 * o.eps);
        double a;
        {
          NoGradGuard no_grad;
          a = sum(g * v).item();
        }
        if (!close(a, numeric, o))
          return fmt::format("input {} direction {}: analytic {} vs numeric {}", checked[k], d, a,
                             numeric);
      }
    }
  }
  for (size_t i : checked) inputs[i].zero_grad();
  return "";
}

void randomise(const std::vector<Tensor>& tensors, uint64_t seed) {
  Rng gen(seed);
  NoGradGuard no_grad;
  for (const Tensor& t : tensors) t.copy_(randn(t.shape(), gen, t.dtype()) * 0.3);
}

Tensor rounded_to_bf16(const Tensor& x) {
  std::vector<double> values = x.to(Device::cpu()).to_vector<double>();
  for (double& v : values) {
    if (v == 0 || !std::isfinite(v)) continue;
    int exponent = 0;
    const double mantissa = std::frexp(v, &exponent);  // |mantissa| in [0.5, 1)
    v = std::ldexp(std::nearbyint(std::ldexp(mantissa, 8)), exponent - 8);
  }
  return from_vector<double>(values, x.shape());
}

}  // namespace onestep::testing

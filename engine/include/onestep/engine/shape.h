#pragma once
// Shapes and strides (in elements), broadcasting by NumPy rules, dimension wrapping.

#include <cstdint>
#include <string>
#include <vector>

namespace onestep {

using Shape = std::vector<int64_t>;

int64_t shape_numel(const Shape& shape);
// Element count and byte size of a new tensor of `shape`; throws naming `op` when a size is
// negative or the count or bytes overflow.
size_t checked_nbytes(const Shape& shape, size_t element_size, const char* op);
Shape contiguous_strides(const Shape& shape);
std::string shape_str(const Shape& shape);

// Output shape of broadcasting a and b; throws naming `op` when they are incompatible.
Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op);

// Wraps a possibly negative dim into [0, ndim); throws naming `op` when out of range.
int64_t wrap_dim(int64_t dim, int64_t ndim, const char* op);

// Sorted, unique, wrapped dims; an empty list means "all dims".
std::vector<int64_t> normalize_dims(const std::vector<int64_t>& dims, int64_t ndim, const char* op);

}  // namespace onestep

#pragma once
// Gauss-Hermite rule for expectations over a standard normal (Golub-Welsch on the
// probabilists' Jacobi matrix), shared by the 1-D and 2-D gradient-equivalence tests.

#include <Eigen/Eigenvalues>
#include <cmath>
#include <vector>

namespace onestep::distill::quadrature {

struct Quadrature {
  std::vector<double> nodes, weights;
};

inline Quadrature gauss_hermite(int n) {
  Eigen::MatrixXd jacobi = Eigen::MatrixXd::Zero(n, n);
  for (int k = 1; k < n; ++k)
    jacobi(k, k - 1) = jacobi(k - 1, k) = std::sqrt(static_cast<double>(k));
  Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> solver(jacobi);
  Quadrature q;
  for (int i = 0; i < n; ++i) {
    q.nodes.push_back(solver.eigenvalues()(i));
    q.weights.push_back(solver.eigenvectors()(0, i) * solver.eigenvectors()(0, i));
  }
  return q;
}

}  // namespace onestep::distill::quadrature

// Data parallelism in a build without ONESTEP_MPI: one process, and a clear refusal when a
// launcher started several copies (each would train alone and all would write the same files).

#include <cstdlib>

#include "onestep/engine/error.h"
#include "onestep/run/process_group.h"

namespace onestep::run {

DataParallelSession::DataParallelSession(int*, char***, double) {
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE"}) {
    const char* ranks = std::getenv(name);
    ONESTEP_CHECK(ranks == nullptr || std::atoi(ranks) <= 1,
                  "launched as {} ranks, but this onestep was built without MPI; rebuild with "
                  "-DONESTEP_MPI=ON (docs/DISTRIBUTED.md)",
                  ranks);
  }
}

DataParallelSession::~DataParallelSession() = default;

void DataParallelSession::abort_all(int) {}

bool mpi_compiled() {
  return false;
}

bool nccl_compiled() {
  return false;
}

}  // namespace onestep::run

# Every external dependency is a system package (Debian names in scripts/install-deps.sh);
# nothing is vendored. This file is the one place that finds them.
find_package(Eigen3 3.4 REQUIRED NO_MODULE)
find_package(fmt REQUIRED)
find_package(nlohmann_json 3.10 REQUIRED)
find_package(Threads REQUIRED)
find_package(ZLIB REQUIRED)
find_package(PNG REQUIRED)
if(ONESTEP_BUILD_APPS)
  find_package(CLI11 REQUIRED)
endif()
if(ONESTEP_BUILD_TESTS)
  find_package(GTest REQUIRED)
endif()
if(ONESTEP_MPI)
  # Open MPI on Debian: libopenmpi-dev (and openmpi-bin for mpirun). onestep calls MPI's C API
  # from C++ (the project enables no C compiler); the deprecated C++ bindings are left out.
  set(MPI_CXX_SKIP_MPICXX ON)
  find_package(MPI REQUIRED COMPONENTS CXX)
endif()
# Static archives instead of shared libraries when ONESTEP_STATIC is on.
include(${CMAKE_CURRENT_LIST_DIR}/static_archives.cmake)

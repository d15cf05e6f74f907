# Static linking of onestep's own binaries (ONESTEP_STATIC, on by default at the top level): the
# `onestep` command links fully statically in a CPU build (ldd: "not a dynamic executable") and
# with only cuBLAS and glibc shared in a CUDA build (docs/API.md, "Static binaries").
#
# The system packages' imported targets (ZLIB::ZLIB, PNG::PNG) are pointed at
# the static archives installed beside their shared libraries, so every target in this build,
# tests included, links the same code and no CMakeLists.txt has to know. fmt comes from
# onestep_fmt (below). An installed onestep package names the same imported targets, and a
# consumer's own find_package decides how they link (cmake/onestepConfig.cmake.in).
# Included from dependencies.cmake, after the packages are found.

# onestep_fmt: what onestep links for fmt inside this build. Debian ships fmt's compiled part only
# as a shared library, so a static build compiles it from the system headers
# (third_party/fmt_compiled.cpp, one file).
add_library(onestep_fmt INTERFACE)

set(onestep_static_off_reason "")
if(ONESTEP_STATIC)
  if(ONESTEP_FUZZ OR CMAKE_CXX_FLAGS MATCHES "-fsanitize")
    set(onestep_static_off_reason "sanitizer runtimes need dynamic linking")
  elseif(BUILD_SHARED_LIBS)
    set(onestep_static_off_reason "BUILD_SHARED_LIBS is on")
  elseif(ONESTEP_MPI)
    # And the library must match the launcher's: mpirun starts ranks linked to its own MPI.
    set(onestep_static_off_reason "MPI is linked as a shared library (Open MPI ships no static one)")
  endif()
endif()
if(NOT onestep_static_off_reason STREQUAL "")
  message(STATUS "onestep: ONESTEP_STATIC is off for this build: ${onestep_static_off_reason}")
  set(ONESTEP_STATIC OFF)
endif()

if(NOT ONESTEP_STATIC)
  target_link_libraries(onestep_fmt INTERFACE fmt::fmt)
  return()
endif()

add_library(onestep_fmt_compiled STATIC ${CMAKE_CURRENT_LIST_DIR}/fmt_compiled.cpp)
# The include directories of fmt::fmt without its link: linking fmt::fmt would add libfmt.so.
target_include_directories(onestep_fmt_compiled SYSTEM
  PUBLIC $<TARGET_PROPERTY:fmt::fmt,INTERFACE_INCLUDE_DIRECTORIES>)
target_link_libraries(onestep_fmt INTERFACE onestep_fmt_compiled)

# The static archive that sits beside a shared library (libz.so -> libz.a), or a fatal error that
# names the Debian package which ships it.
function(onestep_static_archive out shared package)
  string(REGEX REPLACE "\\.so(\\.[0-9.]+)?$" ".a" archive "${shared}")
  if(NOT archive MATCHES "\\.a$" OR NOT EXISTS "${archive}")
    message(FATAL_ERROR "onestep: ONESTEP_STATIC needs the static archive of ${shared} "
                        "(Debian: ${package}); or configure with -DONESTEP_STATIC=OFF")
  endif()
  set(${out} "${archive}" PARENT_SCOPE)
endfunction()

# Points every configuration of an UNKNOWN IMPORTED library target at its static archive.
function(onestep_use_static_archive target package)
  get_target_property(configs ${target} IMPORTED_CONFIGURATIONS)
  set(properties IMPORTED_LOCATION)
  if(configs)
    foreach(config IN LISTS configs)
      list(APPEND properties IMPORTED_LOCATION_${config})
    endforeach()
  endif()
  foreach(property IN LISTS properties)
    get_target_property(location ${target} ${property})
    if(location)
      onestep_static_archive(archive "${location}" ${package})
      set_property(TARGET ${target} PROPERTY ${property} "${archive}")
    endif()
  endforeach()
endfunction()

onestep_use_static_archive(ZLIB::ZLIB zlib1g-dev)
onestep_use_static_archive(PNG::PNG libpng-dev)

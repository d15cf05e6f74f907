# `cmake --install`: headers, the static libraries, the onestep command, and a CMake package so
# that a consumer writes find_package(onestep REQUIRED) and links onestep::engine (or nn,
# run, diffusion, distill). docs/API.md describes both ways in: this one and add_subdirectory.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(ONESTEP_INSTALL_CMAKEDIR ${CMAKE_INSTALL_LIBDIR}/cmake/onestep)

install(TARGETS onestep_engine onestep_nn onestep_run onestep_diffusion onestep_distill
        EXPORT onestepTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
        RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
foreach(library engine nn run diffusion distill)
  install(DIRECTORY ${PROJECT_SOURCE_DIR}/${library}/include/
          DESTINATION ${CMAKE_INSTALL_INCLUDEDIR} FILES_MATCHING PATTERN "*.h")
endforeach()
if(TARGET onestep)
  install(TARGETS onestep RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
endif()

install(EXPORT onestepTargets NAMESPACE onestep:: DESTINATION ${ONESTEP_INSTALL_CMAKEDIR})
configure_package_config_file(${CMAKE_CURRENT_LIST_DIR}/onestepConfig.cmake.in
                              ${PROJECT_BINARY_DIR}/onestepConfig.cmake
                              INSTALL_DESTINATION ${ONESTEP_INSTALL_CMAKEDIR})
# 0.x: a new minor version may change the API.
write_basic_package_version_file(${PROJECT_BINARY_DIR}/onestepConfigVersion.cmake
                                 COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/onestepConfig.cmake
              ${PROJECT_BINARY_DIR}/onestepConfigVersion.cmake
        DESTINATION ${ONESTEP_INSTALL_CMAKEDIR})

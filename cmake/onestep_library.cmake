# onestep_library(<name> SOURCES <files...> [PUBLIC <targets...>] [PRIVATE <targets...>]): the
# static library onestep_<name> of the folder it is called in, with the alias onestep::<name>,
# the folder's include/ as its public headers (installed as include/), and the project's build
# flags. Every onestep library is made by this one function, so they cannot drift apart.
function(onestep_library name)
  cmake_parse_arguments(ARG "" "" "SOURCES;PUBLIC;PRIVATE" ${ARGN})
  set(target onestep_${name})
  add_library(${target} ${ARG_SOURCES})
  add_library(onestep::${name} ALIAS ${target})
  set_target_properties(${target} PROPERTIES OUTPUT_NAME ${target} EXPORT_NAME ${name})
  target_include_directories(${target} PUBLIC
    $<BUILD_INTERFACE:${CMAKE_CURRENT_SOURCE_DIR}/include>
    $<INSTALL_INTERFACE:include>)
  target_link_libraries(${target}
    PUBLIC ${ARG_PUBLIC}
    PRIVATE ${ARG_PRIVATE} $<BUILD_INTERFACE:onestep_build_flags>)
endfunction()

# nimbus_component(NAME SOURCES a.cc b.cc DEPS other_component ...)
# Builds the static library nimbus_NAME from the component's sources. Public
# include root is src/, so headers are included as "component/header.h".
function(nimbus_component name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS;PRIVATE_DEPS" ${ARGN})
  add_library(nimbus_${name} STATIC ${ARG_SOURCES})
  target_include_directories(nimbus_${name} PUBLIC ${PROJECT_SOURCE_DIR}/src)
  target_link_libraries(nimbus_${name} PUBLIC ${ARG_DEPS} PRIVATE ${ARG_PRIVATE_DEPS})
endfunction()

# nimbus_test(NAME SOURCES a_test.cc DEPS nimbus_x ... [LABELS privileged])
# One GoogleTest binary per component, registered with CTest test by test.
function(nimbus_test name)
  if(NOT NIMBUS_BUILD_TESTS)
    return()
  endif()
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS;LABELS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} GTest::gtest GTest::gtest_main GTest::gmock)
  gtest_discover_tests(${name} DISCOVERY_TIMEOUT 60 PROPERTIES LABELS "unit;${ARG_LABELS}")
endfunction()

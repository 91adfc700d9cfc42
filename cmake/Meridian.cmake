# Shared helpers for Meridian's CMake files.

# Warnings are errors on our own code only; third-party headers come in as system headers.
function(meridian_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Werror -Wno-missing-field-initializers)
endfunction()

# A module folder that may not exist yet (modules land one issue at a time).
macro(meridian_optional_subdirectory dir)
  if(EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/${dir}/CMakeLists.txt)
    add_subdirectory(${dir})
  endif()
endmacro()

# meridian_library(NAME SOURCES ... DEPS ...): a static library with our warnings and the
# repository root on the include path (headers are included as "module/header.h").
function(meridian_library name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  add_library(${name} STATIC ${ARG_SOURCES})
  target_include_directories(${name} PUBLIC ${PROJECT_SOURCE_DIR})
  target_link_libraries(${name} PUBLIC ${ARG_DEPS})
  meridian_warnings(${name})
endfunction()

# meridian_test(NAME SOURCES ... DEPS ... [LABELS ...] [TIMEOUT s]): a GoogleTest binary
# registered with CTest, one CTest entry per binary (gtest filters stay usable by hand).
function(meridian_test name)
  cmake_parse_arguments(ARG "" "TIMEOUT" "SOURCES;DEPS;LABELS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} GTest::gmock GTest::gtest_main)
  meridian_warnings(${name})
  # Defaults for test/common/test_env.h when a test binary is run by hand instead of by CTest.
  target_compile_definitions(${name} PRIVATE
    MERIDIAN_TEST_SOURCE_DIR="${PROJECT_SOURCE_DIR}" MERIDIAN_TEST_BIN_DIR="${CMAKE_BINARY_DIR}/bin")
  target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR})
  add_test(NAME ${name} COMMAND ${name})
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 300)
  endif()
  set_tests_properties(${name} PROPERTIES TIMEOUT ${ARG_TIMEOUT}
    ENVIRONMENT "MERIDIAN_BIN_DIR=${CMAKE_BINARY_DIR}/bin;MERIDIAN_SOURCE_DIR=${PROJECT_SOURCE_DIR}")
  if(ARG_LABELS)
    set_tests_properties(${name} PROPERTIES LABELS "${ARG_LABELS}")
  endif()
endfunction()

# meridian_fuzzer(NAME SOURCES ... DEPS ...): a libFuzzer target (fuzz build only), run by
# scripts/fuzz.sh for a bounded time with the seed corpus in test/fuzz/corpus/<NAME minus fuzz_>.
function(meridian_fuzzer name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS})
  target_link_options(${name} PRIVATE -fsanitize=fuzzer)
  meridian_warnings(${name})
endfunction()

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

# Flags every test translation unit (and the shared test PCH below) is compiled with.
function(meridian_test_flags target)
  meridian_warnings(${target})
  # Defaults for test/common/test_env.h when a test binary is run by hand instead of by CTest.
  target_compile_definitions(${target} PRIVATE
    MERIDIAN_TEST_SOURCE_DIR="${PROJECT_SOURCE_DIR}" MERIDIAN_TEST_BIN_DIR="${CMAKE_BINARY_DIR}/bin")
  target_include_directories(${target} PRIVATE ${PROJECT_SOURCE_DIR})
endfunction()

# MERIDIAN_TEST_PCH (on for the CI build type): a clean CI build spends much of its time
# compiling ~100 test files, each parsing gtest, gmock, json and the standard headers again.
# All tests share one precompiled header of them instead: 1.1-1.5 s less CPU per test file
# (sync_test.cc, audit_test.cc, labels_test.cc at -O0). Off by default because ccache does not
# cache PCH users without extra settings.
function(meridian_test_pch_target)
  if(TARGET meridian_test_pch)
    return()
  endif()
  set(anchor ${CMAKE_BINARY_DIR}/meridian_test_pch.cc)
  if(NOT EXISTS ${anchor})
    file(WRITE ${anchor} "// Compiles the shared test precompiled header.\n")
  endif()
  add_library(meridian_test_pch OBJECT ${anchor})
  target_link_libraries(meridian_test_pch PRIVATE GTest::gmock GTest::gtest)
  meridian_test_flags(meridian_test_pch)
  target_precompile_headers(meridian_test_pch PRIVATE
    <gtest/gtest.h> <gmock/gmock.h> <nlohmann/json.hpp>
    <algorithm> <chrono> <filesystem> <functional> <map> <memory> <optional> <set> <string>
    <thread> <vector>)
endfunction()

# meridian_test(NAME SOURCES ... DEPS ... [LABELS ...] [TIMEOUT s]): a GoogleTest binary
# registered with CTest, one CTest entry per binary (gtest filters stay usable by hand).
function(meridian_test name)
  cmake_parse_arguments(ARG "" "TIMEOUT" "SOURCES;DEPS;LABELS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} GTest::gmock GTest::gtest_main)
  meridian_test_flags(${name})
  if(MERIDIAN_TEST_PCH)
    meridian_test_pch_target()
    target_precompile_headers(${name} REUSE_FROM meridian_test_pch)
  endif()
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

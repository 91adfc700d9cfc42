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
  meridian_lib_pch(${name})
endfunction()

# Flags every test translation unit (and the shared test PCH below) is compiled with.
function(meridian_test_flags target)
  meridian_warnings(${target})
  # Defaults for test/common/test_env.h when a test binary is run by hand instead of by CTest.
  target_compile_definitions(${target} PRIVATE
    MERIDIAN_TEST_SOURCE_DIR="${PROJECT_SOURCE_DIR}" MERIDIAN_TEST_BIN_DIR="${CMAKE_BINARY_DIR}/bin")
  target_include_directories(${target} PRIVATE ${PROJECT_SOURCE_DIR})
endfunction()

# MERIDIAN_PCH (on for the CI build type): a clean CI build spends most of its time in the
# compiler's front end, parsing the same standard and third-party headers again for each of
# ~350 files. Two shared precompiled headers instead: one for tests (gtest, gmock, json and
# the standard headers: 1.1-1.5 s less CPU per test file at -O0) and one for the libraries and
# binaries (json, spdlog, fmt, CLI11 and the standard headers). Off by default because ccache
# does not cache PCH users without extra settings.
#
# A PCH may only be used by files compiled with the macros it was built with (clang refuses a
# PCH that defines a macro the command line does not); spdlog's and fmt's definitions change
# what their headers declare, so every user of the library PCH links spdlog and fmt (which
# brings those definitions) whether or not it logs. Extra definitions on a user's command line
# (cpprestsdk's, Boost's) are allowed: they do not touch the precompiled headers.
function(meridian_pch_target name)
  if(TARGET ${name})
    return()
  endif()
  set(anchor ${CMAKE_BINARY_DIR}/${name}.cc)
  if(NOT EXISTS ${anchor})
    file(WRITE ${anchor} "// Compiles a shared precompiled header (cmake/Meridian.cmake).\n")
  endif()
  add_library(${name} OBJECT ${anchor})
  if(name STREQUAL "meridian_test_pch")
    target_link_libraries(${name} PRIVATE GTest::gmock GTest::gtest)
    meridian_test_flags(${name})
    target_precompile_headers(${name} PRIVATE
      <gtest/gtest.h> <gmock/gmock.h> <nlohmann/json.hpp>
      <algorithm> <chrono> <filesystem> <functional> <map> <memory> <optional> <set> <string>
      <thread> <vector>)
  else()
    target_link_libraries(${name} PRIVATE spdlog::spdlog fmt::fmt nlohmann_json::nlohmann_json)
    meridian_warnings(${name})
    # CLI11 is not looked for in the fuzz build (no command lines there).
    if(TARGET CLI11::CLI11)
      target_link_libraries(${name} PRIVATE CLI11::CLI11)
      target_precompile_headers(${name} PRIVATE <CLI/CLI.hpp>)
    endif()
    target_precompile_headers(${name} PRIVATE
      <nlohmann/json.hpp> <spdlog/spdlog.h> <fmt/format.h>
      <algorithm> <atomic> <chrono> <condition_variable> <cstdint> <deque> <functional> <map>
      <memory> <mutex> <optional> <set> <sstream> <string> <string_view> <thread>
      <unordered_map> <vector>)
  endif()
endfunction()

# meridian_lib_pch(TARGET): TARGET (a library or binary of ours, not a test) compiles with the
# shared library PCH when MERIDIAN_PCH is on.
function(meridian_lib_pch target)
  if(NOT MERIDIAN_PCH)
    return()
  endif()
  meridian_pch_target(meridian_lib_pch)
  target_link_libraries(${target} PRIVATE spdlog::spdlog fmt::fmt)
  target_precompile_headers(${target} REUSE_FROM meridian_lib_pch)
endfunction()

# meridian_test(NAME SOURCES ... DEPS ... [LABELS ...] [TIMEOUT s]): a GoogleTest binary
# registered with CTest, one CTest entry per binary (gtest filters stay usable by hand).
function(meridian_test name)
  cmake_parse_arguments(ARG "" "TIMEOUT" "SOURCES;DEPS;LABELS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} GTest::gmock GTest::gtest_main)
  meridian_test_flags(${name})
  if(MERIDIAN_PCH)
    meridian_pch_target(meridian_test_pch)
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

# Links a server executable with jemalloc (MERIDIAN_JEMALLOC) and compiles in its options
# (common/jemalloc_options.cc): background threads hand freed memory back to the kernel.
function(meridian_server_allocator target)
  if(MERIDIAN_JEMALLOC AND NOT MERIDIAN_FUZZ)
    target_sources(${target} PRIVATE ${PROJECT_SOURCE_DIR}/common/jemalloc_options.cc)
    target_link_libraries(${target} PRIVATE ${MERIDIAN_JEMALLOC_LIBRARY})
  endif()
endfunction()

# ctest driver: install BUILD_DIR into WORK_DIR/prefix, then build and run
# the consumer twice, once through find_package and once through pkg-config.
file(REMOVE_RECURSE ${WORK_DIR})
set(PREFIX ${WORK_DIR}/prefix)

function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  message("${out}")
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "failed (${rc}): ${ARGN}\n${err}")
  endif()
endfunction()

run(${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${PREFIX})

# 1. find_package(ccoll) -> ccoll::ccoll (shared) and ccoll::ccoll_static
run(${CMAKE_COMMAND} -S ${SOURCE_DIR} -B ${WORK_DIR}/cm -DCMAKE_PREFIX_PATH=${PREFIX}
    -DCMAKE_BUILD_TYPE=Release -DCMAKE_BUILD_RPATH=${PREFIX}/lib)
run(${CMAKE_COMMAND} --build ${WORK_DIR}/cm)
run(${WORK_DIR}/cm/consumer)
# The static library carries mimalloc as a link-only dependency; mimalloc's
# own malloc then sits in the program's NEEDED list (documented in README).
execute_process(COMMAND ${CMAKE_COMMAND} -E env CONSUMER_ALLOW_MALLOC_OVERRIDE=1 ${WORK_DIR}/cm/consumer_static
                RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "static consumer failed (${rc})")
endif()

# 2. pkg-config ccoll
file(GLOB pcdir ${PREFIX}/lib*/pkgconfig ${PREFIX}/lib/*/pkgconfig)
set(ENV{PKG_CONFIG_PATH} "${pcdir}")
execute_process(COMMAND pkg-config --cflags --libs ccoll OUTPUT_VARIABLE flags RESULT_VARIABLE rc
                OUTPUT_STRIP_TRAILING_WHITESPACE)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "pkg-config does not find ccoll in ${pcdir}")
endif()
execute_process(COMMAND pkg-config --variable=libdir ccoll OUTPUT_VARIABLE libdir OUTPUT_STRIP_TRAILING_WHITESPACE)
separate_arguments(flags UNIX_COMMAND "${flags}")
find_program(CXX_COMPILER NAMES c++ g++ clang++ REQUIRED)
run(${CXX_COMPILER} -std=c++17 -Wall -Wextra -Werror -c ${SOURCE_DIR}/cxx.cpp ${flags} -o ${WORK_DIR}/cxx.o)
run(${C_COMPILER} -std=c11 -Wall -Wextra -Werror ${SOURCE_DIR}/main.c ${WORK_DIR}/cxx.o
    ${flags} -ldl -Wl,-rpath,${libdir} -o ${WORK_DIR}/consumer_pc)
run(${WORK_DIR}/consumer_pc)
message("consumer: find_package and pkg-config builds ran")

# Arrow C++ for memberlake: a system Arrow/Parquet CMake package when one is installed,
# otherwise the libraries and headers shipped inside the pinned pyarrow wheel in the
# project venv. Either way the result is the imported targets memberlake::arrow,
# memberlake::parquet, memberlake::arrow_dataset, memberlake::arrow_compute and
# memberlake::arrow_acero, plus MEMBERLAKE_ARROW_RPATH for the wheel case.

find_package(Arrow CONFIG QUIET)
if(Arrow_FOUND)
  find_package(Parquet CONFIG REQUIRED)
  find_package(ArrowDataset CONFIG REQUIRED)
  find_package(ArrowCompute CONFIG QUIET)
  message(STATUS "memberlake: system Arrow ${Arrow_VERSION}")
  add_library(memberlake::arrow INTERFACE IMPORTED)
  target_link_libraries(memberlake::arrow INTERFACE Arrow::arrow_shared)
  add_library(memberlake::parquet INTERFACE IMPORTED)
  target_link_libraries(memberlake::parquet INTERFACE Parquet::parquet_shared)
  add_library(memberlake::arrow_dataset INTERFACE IMPORTED)
  target_link_libraries(memberlake::arrow_dataset INTERFACE ArrowDataset::arrow_dataset_shared)
  add_library(memberlake::arrow_compute INTERFACE IMPORTED)
  if(TARGET ArrowCompute::arrow_compute_shared)
    target_link_libraries(memberlake::arrow_compute INTERFACE ArrowCompute::arrow_compute_shared)
  endif()
  add_library(memberlake::arrow_acero INTERFACE IMPORTED)
  add_library(memberlake::arrow_s3 INTERFACE IMPORTED)  # system builds carry S3 in libarrow
  set(MEMBERLAKE_ARROW_RPATH "")
  return()
endif()

if(NOT MEMBERLAKE_PYTHON)
  set(MEMBERLAKE_PYTHON "${CMAKE_SOURCE_DIR}/.venv/bin/python")
endif()
execute_process(
  COMMAND "${MEMBERLAKE_PYTHON}" -c
    "import pyarrow as pa; print(pa.get_include()); print(pa.get_library_dirs()[0]); print(pa.__version__)"
  OUTPUT_VARIABLE _pa_out RESULT_VARIABLE _pa_rc OUTPUT_STRIP_TRAILING_WHITESPACE)
if(NOT _pa_rc EQUAL 0)
  message(FATAL_ERROR "No system Arrow and no pyarrow at ${MEMBERLAKE_PYTHON}; run scripts/bootstrap.sh")
endif()
string(REPLACE "\n" ";" _pa_lines "${_pa_out}")
list(GET _pa_lines 0 _pa_include)
list(GET _pa_lines 1 _pa_libdir)
list(GET _pa_lines 2 _pa_version)
string(REGEX MATCH "^[0-9]+" _pa_major "${_pa_version}")
set(_so_suffix ".so.${_pa_major}00")
message(STATUS "memberlake: Arrow ${_pa_version} from the pyarrow wheel in ${_pa_libdir}")

function(_memberlake_wheel_lib target file)
  set(_path "${_pa_libdir}/${file}${_so_suffix}")
  if(NOT EXISTS "${_path}")
    message(FATAL_ERROR "memberlake: ${_path} missing from the pyarrow wheel")
  endif()
  add_library(${target} SHARED IMPORTED GLOBAL)
  set_target_properties(${target} PROPERTIES
    IMPORTED_LOCATION "${_path}"
    INTERFACE_INCLUDE_DIRECTORIES "${_pa_include}")
  # Arrow headers trigger warnings we do not own; mark them as system headers.
  set_property(TARGET ${target} PROPERTY INTERFACE_SYSTEM_INCLUDE_DIRECTORIES "${_pa_include}")
endfunction()

_memberlake_wheel_lib(memberlake::arrow libarrow)
_memberlake_wheel_lib(memberlake::parquet libparquet)
_memberlake_wheel_lib(memberlake::arrow_dataset libarrow_dataset)
_memberlake_wheel_lib(memberlake::arrow_acero libarrow_acero)
_memberlake_wheel_lib(memberlake::arrow_compute libarrow_compute)
# The S3 filesystem (with the AWS SDK inside) is a library of its own since Arrow 22.
_memberlake_wheel_lib(memberlake::arrow_s3 libarrow_s3)
set(MEMBERLAKE_ARROW_RPATH "${_pa_libdir}")

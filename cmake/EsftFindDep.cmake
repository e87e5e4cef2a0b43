# esft_find_dep(<VAR> PKG <pkg-config module> HEADER <header> NAMES <lib>...
#               [PATH_SUFFIXES <dir>...] [REQUIRED <what to install>])
#
# Finds a C library and makes the IMPORTED target PkgConfig::<VAR> (the name
# pkg_check_modules would give it, so the rest of the build does not care
# how it was found) and sets <VAR>_FOUND in the caller's scope.
#
# pkg-config is only a hint: its include and library directories are
# searched first, then the usual places, which honour CMAKE_PREFIX_PATH
# (<prefix>/include, <prefix>/lib/<CMAKE_LIBRARY_ARCHITECTURE>). That way a
# library unpacked from .deb files into a private prefix (scripts/gpu-check.sh)
# is found on a machine without pkg-config, and also on one whose pkg-config
# finds that prefix's .pc files, which still name /usr as their prefix.
include_guard(GLOBAL)

find_package(PkgConfig QUIET)

function(esft_find_dep var)
  cmake_parse_arguments(PARSE_ARGV 1 A "" "PKG;HEADER;REQUIRED" "NAMES;PATH_SUFFIXES")
  set(${var}_FOUND FALSE PARENT_SCOPE)
  if(PKG_CONFIG_FOUND)
    pkg_check_modules(_esft_${var} QUIET ${A_PKG})
  endif()
  # the header's directory as the code includes it: <cjson/cJSON.h> needs
  # the parent of cjson/, whatever -I pkg-config suggests
  find_path(ESFT_${var}_INCLUDE_DIR NAMES ${A_HEADER}
    HINTS ${_esft_${var}_INCLUDEDIR} ${_esft_${var}_INCLUDE_DIRS}
    PATH_SUFFIXES ${A_PATH_SUFFIXES})
  find_library(ESFT_${var}_LIBRARY NAMES ${A_NAMES}
    HINTS ${_esft_${var}_LIBRARY_DIRS} ${_esft_${var}_LIBDIR}
    PATH_SUFFIXES ${A_PATH_SUFFIXES})
  if(NOT ESFT_${var}_INCLUDE_DIR OR NOT ESFT_${var}_LIBRARY)
    set(missing "")
    if(NOT ESFT_${var}_INCLUDE_DIR)
      list(APPEND missing "header ${A_HEADER}")
    endif()
    if(NOT ESFT_${var}_LIBRARY)
      list(APPEND missing "library ${A_NAMES}")
    endif()
    list(JOIN missing " and " missing)
    if(A_REQUIRED)
      message(FATAL_ERROR "esft: ${A_PKG} not found (${missing}); install ${A_REQUIRED} "
                          "or point CMAKE_PREFIX_PATH at a prefix that holds it")
    endif()
    set(ESFT_DEP_MISSING "${missing}" PARENT_SCOPE)
    return()
  endif()
  if(NOT TARGET PkgConfig::${var})
    add_library(PkgConfig::${var} INTERFACE IMPORTED)
    set_target_properties(PkgConfig::${var} PROPERTIES
      INTERFACE_INCLUDE_DIRECTORIES "${ESFT_${var}_INCLUDE_DIR}"
      INTERFACE_LINK_LIBRARIES "${ESFT_${var}_LIBRARY}")
  endif()
  set(${var}_FOUND TRUE PARENT_SCOPE)
  if(NOT PKG_CONFIG_FOUND OR NOT _esft_${var}_FOUND)
    set(how " without pkg-config")
  endif()
  message(STATUS "esft: ${A_PKG}: ${ESFT_${var}_LIBRARY}${how}")
endfunction()

# esft_optional_dep(<VAR> <mode AUTO|ON|OFF> <what is lost without it> <esft_find_dep args>...)
# Sets ESFT_HAVE_<VAR> in the caller's scope; ON fails when not found.
function(esft_optional_dep var mode lost)
  set(ESFT_HAVE_${var} OFF PARENT_SCOPE)
  if(NOT mode MATCHES "^(AUTO|ON|OFF)$")
    message(FATAL_ERROR "esft: ESFT_${var} must be AUTO, ON or OFF, not '${mode}'")
  endif()
  if(mode STREQUAL "OFF")
    message(STATUS "esft: ${var} disabled (ESFT_${var}=OFF): ${lost}")
    return()
  endif()
  esft_find_dep(${var} ${ARGN})
  if(${var}_FOUND)
    set(ESFT_HAVE_${var} ON PARENT_SCOPE)
  elseif(mode STREQUAL "ON")
    message(FATAL_ERROR "esft: ESFT_${var}=ON but ${ESFT_DEP_MISSING} not found")
  else()
    message(STATUS "esft: ${var} not found (${ESFT_DEP_MISSING}): ${lost}")
  endif()
endfunction()

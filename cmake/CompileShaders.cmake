# esft_compile_shaders(<output.c> <symbol-prefix> GLSLC <glslc> DIR <kernel-dir>
#                      SHADERS <entry>...)
# Compiles GLSL compute shaders to SPIR-V with glslc at build time and embeds
# the modules in one generated C source (cmake/EmbedFiles.cmake): for entry
# "name" the symbols are <prefix>_<name>_spv[] and <prefix>_<name>_spv_size.
# An entry is "file.comp" (name = file.comp's stem) or
# "name=file.comp:DEF[=VAL]:..." for a variant of one source compiled with
# extra -D defines (no copies of a shader per variant). Every .glsl file in
# DIR is a dependency of every shader (they are #included).
include(EmbedFiles)

function(esft_compile_shaders output prefix)
  cmake_parse_arguments(S "" "GLSLC;DIR" "SHADERS" ${ARGN})
  file(GLOB includes ${S_DIR}/*.glsl)
  set(spvs)
  foreach(entry ${S_SHADERS})
    string(REPLACE ":" ";" parts "${entry}")
    list(GET parts 0 head)
    list(REMOVE_AT parts 0)
    if(head MATCHES "^([A-Za-z0-9_]+)=(.+)$")
      set(name ${CMAKE_MATCH_1})
      set(src ${CMAKE_MATCH_2})
    else()
      get_filename_component(name ${head} NAME_WE)
      set(src ${head})
    endif()
    set(defs)
    foreach(d ${parts})
      list(APPEND defs -D${d})
    endforeach()
    set(spv ${CMAKE_BINARY_DIR}/generated/spirv/${name}.spv)
    add_custom_command(
      OUTPUT ${spv}
      COMMAND ${CMAKE_COMMAND} -E make_directory ${CMAKE_BINARY_DIR}/generated/spirv
      COMMAND ${S_GLSLC} --target-env=vulkan1.1 -O -I ${S_DIR} ${defs} ${S_DIR}/${src} -o ${spv}
      DEPENDS ${S_DIR}/${src} ${includes}
      COMMENT "glslc ${name}"
      VERBATIM)
    list(APPEND spvs ${spv})
  endforeach()
  esft_embed_files(${output} ${prefix} ${spvs})
endfunction()

# vcpkg port for tlearn (header-only). Copy cmake/vcpkg/ to ports/tlearn/ in a
# vcpkg checkout or an overlay port folder; set REF and SHA512 to a release.
vcpkg_from_github(
    OUT_SOURCE_PATH SOURCE_PATH
    REPO tlearn/tlearn
    REF "v${VERSION}"
    SHA512 0
    HEAD_REF main
)

set(VCPKG_BUILD_TYPE release) # header-only: nothing differs between debug and release

vcpkg_cmake_configure(
    SOURCE_PATH "${SOURCE_PATH}"
    OPTIONS
        -DTLEARN_BUILD_TESTS=OFF
        -DTLEARN_BUILD_EXAMPLES=OFF
        -DTLEARN_BUILD_BENCHMARKS=OFF
        -DTLEARN_INSTALL=ON
        -DTLEARN_CMAKE_DIR=share/tlearn
)
vcpkg_cmake_install()
vcpkg_cmake_config_fixup(PACKAGE_NAME tlearn CONFIG_PATH share/tlearn)
vcpkg_copy_tools(TOOL_NAMES tlearn-run AUTO_CLEAN)  # the launcher of distributed jobs

file(REMOVE_RECURSE "${CURRENT_PACKAGES_DIR}/lib" "${CURRENT_PACKAGES_DIR}/debug")
file(INSTALL "${CMAKE_CURRENT_LIST_DIR}/usage" DESTINATION "${CURRENT_PACKAGES_DIR}/share/${PORT}")
vcpkg_install_copyright(FILE_LIST "${SOURCE_PATH}/LICENSE")

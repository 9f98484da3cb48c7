include(CMakePackageConfigHelpers)

set(TLEARN_CMAKE_DIR "${CMAKE_INSTALL_DATADIR}/tlearn" CACHE STRING "Where tlearnConfig.cmake is installed")

install(DIRECTORY "${PROJECT_SOURCE_DIR}/include/" DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}")
install(TARGETS tlearn EXPORT tlearnTargets)
if(TARGET tlearn-run AND TLEARN_BUILD_TOOLS)
  install(TARGETS tlearn-run RUNTIME DESTINATION "${CMAKE_INSTALL_BINDIR}")
endif()
install(EXPORT tlearnTargets NAMESPACE tlearn:: DESTINATION "${TLEARN_CMAKE_DIR}")

if(CURL_FOUND)
  set(TLEARN_WITH_CURL ON)
else()
  set(TLEARN_WITH_CURL OFF)
endif()
if(TARGET libjpeg-turbo::turbojpeg)
  set(TLEARN_WITH_TURBOJPEG ON)
else()
  set(TLEARN_WITH_TURBOJPEG OFF)
endif()
if(TARGET tlearn::hdf5)
  set(TLEARN_WITH_HDF5 ON)
else()
  set(TLEARN_WITH_HDF5 OFF)
endif()
if(TARGET tlearn::gloo)
  set(TLEARN_WITH_GLOO ON)
else()
  set(TLEARN_WITH_GLOO OFF)
endif()
configure_package_config_file(cmake/tlearnConfig.cmake.in
  "${PROJECT_BINARY_DIR}/tlearnConfig.cmake" INSTALL_DESTINATION "${TLEARN_CMAKE_DIR}")
if(TLEARN_HEADER_ONLY)
  # Headers only: any architecture may use it.
  write_basic_package_version_file("${PROJECT_BINARY_DIR}/tlearnConfigVersion.cmake"
    COMPATIBILITY SameMinorVersion ARCH_INDEPENDENT)
else()
  write_basic_package_version_file("${PROJECT_BINARY_DIR}/tlearnConfigVersion.cmake"
    COMPATIBILITY SameMinorVersion)
endif()
install(FILES
  "${PROJECT_BINARY_DIR}/tlearnConfig.cmake"
  "${PROJECT_BINARY_DIR}/tlearnConfigVersion.cmake"
  "${PROJECT_SOURCE_DIR}/cmake/Findstb.cmake"
  "${PROJECT_SOURCE_DIR}/cmake/Findtlearn_hdf5.cmake"
  "${PROJECT_SOURCE_DIR}/cmake/Findtlearn_gloo.cmake"
  "${PROJECT_SOURCE_DIR}/cmake/dependencies.cmake"
  DESTINATION "${TLEARN_CMAKE_DIR}")

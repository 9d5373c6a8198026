# CLI tests for `veil measure` (include()d from tests/CMakeLists.txt).
#
# measure/snp/<name>: one test per entry of the shared SEV-SNP launch-digest
# vectors, generated from vectors.json at configure time (CMake's string(JSON)),
# so a vector added to the file is tested without touching this file.
# measure/sim/*: the simulator measurement of small files written here, against
# known answers from an independent Python rendering of the algorithm in
# include/veil/measure.h; measure/usage/*: bad command lines exit non-zero.
set(VEIL_MEASURE_VEC_DIR ${VEIL_TESTDATA_DIR}/attestation/snp-launch-measurement-vectors)
set(VEIL_MEASURE_WORK ${CMAKE_CURRENT_BINARY_DIR}/measure)
file(MAKE_DIRECTORY ${VEIL_MEASURE_WORK})
file(WRITE ${VEIL_MEASURE_WORK}/empty "")

file(READ ${VEIL_MEASURE_VEC_DIR}/vectors.json VEIL_MEASURE_JSON)
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS
             ${VEIL_MEASURE_VEC_DIR}/vectors.json)
string(JSON n_vec LENGTH "${VEIL_MEASURE_JSON}" vectors)
math(EXPR last "${n_vec} - 1")
foreach(i RANGE ${last})
  string(JSON v GET "${VEIL_MEASURE_JSON}" vectors ${i})
  string(JSON name GET "${v}" name)
  string(JSON expected GET "${v}" expected)
  string(JSON ovmf GET "${v}" ovmf)
  set(args measure --snp --ovmf ${VEIL_MEASURE_VEC_DIR}/${ovmf})
  string(JSON vmm ERROR_VARIABLE no_vmm GET "${v}" vmm)
  if(no_vmm)
    list(APPEND args --ovmf-hash-only)
  else()
    string(JSON vcpus GET "${v}" vcpus)
    string(JSON sig GET "${v}" vcpu_sig)
    string(JSON feat GET "${v}" guest_features)
    list(APPEND args --vmm ${vmm} --vcpus ${vcpus} --guest-features ${feat})
    if(sig MATCHES "^0x")
      list(APPEND args --vcpu-sig ${sig})
    endif()
    # "" = an empty file; null = no kernel hashes. Only empty files occur.
    string(JSON ktype TYPE "${v}" kernel)
    if(ktype STREQUAL "STRING")
      list(APPEND args --kernel ${VEIL_MEASURE_WORK}/empty)
      string(JSON itype TYPE "${v}" initrd)
      if(itype STREQUAL "STRING")
        list(APPEND args --initrd ${VEIL_MEASURE_WORK}/empty)
      endif()
      string(JSON ctype TYPE "${v}" cmdline)
      if(ctype STREQUAL "STRING")
        string(JSON cmdline GET "${v}" cmdline)
        if(NOT cmdline STREQUAL "") # an empty cmdline hashes like an absent one
          list(APPEND args --append "${cmdline}")
        endif()
      endif()
    endif()
  endif()
  add_test(NAME measure/snp/${name} COMMAND veil ${args})
  set_tests_properties(measure/snp/${name} PROPERTIES PASS_REGULAR_EXPRESSION "^${expected}\n$")
endforeach()
add_test(NAME measure/snp/vector-count COMMAND ${CMAKE_COMMAND} -E echo ${n_vec})
set_tests_properties(measure/snp/vector-count PROPERTIES PASS_REGULAR_EXPRESSION "^7\n")

file(WRITE ${VEIL_MEASURE_WORK}/guest.bin "hello guest\n")
file(WRITE ${VEIL_MEASURE_WORK}/config.json "{\"a\":1}")
add_test(NAME measure/sim/exe-and-config
         COMMAND veil measure --sim ${VEIL_MEASURE_WORK}/guest.bin ${VEIL_MEASURE_WORK}/config.json)
set_tests_properties(measure/sim/exe-and-config PROPERTIES PASS_REGULAR_EXPRESSION
  "^bf7f064e7b31adb1445f9fda02abd8bb80db52bf023513033c434937b77b68384e1bd697bfc4ae971a77ee224eaf823a\n$")
add_test(NAME measure/sim/exe-only COMMAND veil measure --sim ${VEIL_MEASURE_WORK}/guest.bin)
set_tests_properties(measure/sim/exe-only PROPERTIES PASS_REGULAR_EXPRESSION
  "^1a6df19d4b1faed911f1d5c282fdbcbb5de85aebe614e0a69e22f71d682ca382265e27d1cf69cc3196530b8084a8c4cf\n$")

set(ovmf_sfx ${VEIL_MEASURE_VEC_DIR}/ovmf_AmdSev_suffix.bin)
add_test(NAME measure/usage/no-mode COMMAND veil measure)
add_test(NAME measure/usage/both-modes COMMAND veil measure --sim --snp x)
add_test(NAME measure/usage/qemu-needs-sig COMMAND veil measure --snp --ovmf ${ovmf_sfx} --vcpus 1)
add_test(NAME measure/usage/bad-vcpu-type
         COMMAND veil measure --snp --ovmf ${ovmf_sfx} --vcpus 1 --vcpu-type EPYC-Nope)
add_test(NAME measure/usage/missing-ovmf
         COMMAND veil measure --snp --ovmf ${VEIL_MEASURE_WORK}/absent --vcpus 1 --vmm gce)
add_test(NAME measure/usage/not-ovmf
         COMMAND veil measure --snp --ovmf ${VEIL_MEASURE_WORK}/empty --vcpus 1 --vmm gce)
set_tests_properties(measure/usage/no-mode measure/usage/both-modes measure/usage/qemu-needs-sig
                     measure/usage/bad-vcpu-type measure/usage/missing-ovmf
                     measure/usage/not-ovmf PROPERTIES WILL_FAIL TRUE)

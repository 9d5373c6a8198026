/* libFuzzer target for the OVMF footer-table / SEV-metadata parser and the
 * SEV-SNP launch digest built on it (veil/measure.h).
 *
 * The input is an OVMF image (the seed is the last 4 KiB of an edk2 AmdSev
 * build). Any input either fails with a protocol error or parses into a table
 * whose invariants hold (known section types, whole pages, at most
 * VEIL_OVMF_MAX_SECTIONS); veil_snp_measure with valid parameters then either
 * succeeds or fails with a protocol error, never a usage or internal error.
 * Any violation aborts. */
#include <stdint.h>
#include <stdlib.h>

#include "veil/measure.h"

static void check(bool ok)
{
    if (!ok)
        abort();
}

static void check_info(const veil_ovmf_info *info)
{
    check(info->n_sections <= VEIL_OVMF_MAX_SECTIONS);
    check(info->has_metadata || info->n_sections == 0);
    for (size_t i = 0; i < info->n_sections; i++) {
        const veil_ovmf_section *s = &info->sections[i];
        check((s->gpa & 0xFFF) == 0 && (s->size & 0xFFF) == 0 && s->size != 0);
        check(s->type == VEIL_OVMF_SEC_SNP_SEC_MEM || s->type == VEIL_OVMF_SEC_SNP_SECRETS ||
              s->type == VEIL_OVMF_SEC_CPUID || s->type == VEIL_OVMF_SEC_SVSM_CAA ||
              s->type == VEIL_OVMF_SEC_SNP_KERNEL_HASHES);
    }
}

/* Section sizes come from the input: cap the pages measured so one input
 * cannot spend minutes hashing (the parser itself is what is under test). */
static bool cheap(const veil_ovmf_info *info)
{
    uint64_t pages = 0;
    for (size_t i = 0; i < info->n_sections; i++)
        pages += info->sections[i].size / 4096;
    return pages <= 4096;
}

static void measure(const uint8_t *data, size_t size, veil_snp_vmm vmm, bool kernel, bool seeded)
{
    static const uint8_t seed[VEIL_MEASUREMENT_LEN] = {1};
    static const uint8_t k[3] = {1, 2, 3};
    uint8_t out[VEIL_MEASUREMENT_LEN];
    veil_snp_measure_params p = {0};
    veil_result r;

    p.ovmf = data;
    p.ovmf_len = size;
    p.ovmf_hash = seeded ? seed : NULL;
    p.vcpus = 2;
    p.vcpu_sig = 0x00a00f11;
    p.vmm = vmm;
    p.guest_features = 0x21;
    if (kernel) {
        p.kernel = k;
        p.kernel_len = sizeof k;
        p.cmdline = "console=ttyS0";
    }
    r = veil_snp_measure(&p, out);
    check(veil_ok(r) || r.cls == VEIL_E_PROTOCOL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    veil_ovmf_info info;
    veil_result r = veil_ovmf_parse(size ? data : NULL, size, &info);

    if (!veil_ok(r)) {
        check(r.cls == VEIL_E_PROTOCOL && r.msg != NULL);
        check(info.n_sections == 0 && !info.has_reset_eip && !info.has_metadata);
        return 0;
    }
    check_info(&info);
    if (!cheap(&info))
        return 0;
    measure(data, size, (veil_snp_vmm)(size % 3), true, true);
    measure(data, size, (veil_snp_vmm)((size + 1) % 3), false, true);
    if (size <= 64 * 1024) /* the image pages too, when it is small */
        measure(data, size, VEIL_SNP_VMM_QEMU, true, false);
    return 0;
}

/* Internal OpenSSL helpers for the NVIDIA GPU verifier and the simulated GPU,
 * so that src/attest/ and src/sim/ never include OpenSSL:
 *
 *   - a certificate's serial number (the NVIDIA UEID) and its
 *     SubjectPublicKeyInfo (the RIM signer key handed to libxmlsec1);
 *   - the SIMULATED device chain, shaped like NVIDIA's (notes §3.4), every
 *     name saying SIMULATED:
 *       root  "SIMULATED NVIDIA Device Identity CA — not an NVIDIA key"
 *       ->    "SIMULATED NVIDIA GH100 Identity"
 *       ->    "SIMULATED NVIDIA GH100 Provisioner ICA 1"
 *       ->    "SIMULATED GH100 A01 GSP BROM"
 *       ->    "SIMULATED GH100 A01 GSP FMC LF" (the leaf; random 20-byte serial =
 *             UEID; keyUsage digitalSignature; extension 2.23.133.5.4.1 whose
 *             value is a DICE TcbInfo-like SEQUENCE { INTEGER 1, SEQUENCE {
 *             OID sha384, OCTET STRING fwid[48] } }, so its last 48 bytes are
 *             the FWID, as on NVIDIA's leaves)
 *     all ECDSA P-384 / ecdsa-with-SHA384, CAs with basicConstraints CA:TRUE
 *     and keyUsage keyCertSign, validity to 9999-12-31 like NVIDIA's;
 *   - ECDSA P-384 / SHA-384 signing into the SPDM raw r||s layout.
 *
 * Keys travel as unencrypted PKCS#8 PEM (callers store them 0600 and free
 * them with veil_buf_free, which wipes). */
#ifndef VEIL_CRYPTO_NVGPU_CRYPTO_H
#define VEIL_CRYPTO_NVGPU_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

#include "veil/cursor.h"
#include "veil/result.h"

#define VEIL_NVGPU_SIM_MAX_DER 4096
#define VEIL_NVGPU_SIM_MAX_PEM 16384
#define VEIL_NVGPU_SIM_MAX_KEY 4096
#define VEIL_NVGPU_SIM_FWID_LEN 48
#define VEIL_NVGPU_SIM_SIG_LEN 96

/* The serial number of a DER certificate as unsigned big-endian bytes
 * (no leading zero), into out[cap]; VEIL_E_PROTOCOL when it does not parse,
 * is negative or longer than cap. */
VEIL_MUST_USE veil_result veil_nvgpu_cert_serial(const uint8_t *der, size_t len, uint8_t *out,
                                                 size_t cap, size_t *n);
/* The DER SubjectPublicKeyInfo of a DER certificate, appended to out. */
VEIL_MUST_USE veil_result veil_nvgpu_cert_spki(const uint8_t *der, size_t len, veil_buf *out);

typedef struct veil_nvgpu_sim_pki {
    veil_buf root_der;  /* the simulated root certificate */
    veil_buf chain_pem; /* leaf first, root last (5 certificates) */
    veil_buf leaf_key;  /* PKCS#8 PEM of the leaf's P-384 key */
} veil_nvgpu_sim_pki;

void veil_nvgpu_sim_pki_init(veil_nvgpu_sim_pki *p);
/* Wipes the key. */
void veil_nvgpu_sim_pki_free(veil_nvgpu_sim_pki *p);
/* Generate a fresh chain whose leaf carries `fwid`. *out must be initialised;
 * it is emptied first and emptied again on failure. */
VEIL_MUST_USE veil_result veil_nvgpu_sim_pki_generate(const uint8_t fwid[VEIL_NVGPU_SIM_FWID_LEN],
                                                      veil_nvgpu_sim_pki *out);
/* Check that key_pem is the P-384 private key of the first certificate of
 * chain_pem. */
VEIL_MUST_USE veil_result veil_nvgpu_sim_check_pair(const uint8_t *key_pem, size_t key_len,
                                                    const uint8_t *chain_pem, size_t chain_len);
/* ECDSA P-384 over SHA-384(msg) with the PEM key: r||s, 48 bytes each,
 * big-endian (the SPDM / nvtrust layout). */
VEIL_MUST_USE veil_result veil_nvgpu_sim_sign(const uint8_t *key_pem, size_t key_len,
                                              const uint8_t *msg, size_t msg_len,
                                              uint8_t sig[VEIL_NVGPU_SIM_SIG_LEN]);

#endif

/* Internal: the simulated secure processor's key material, behind one header
 * so that src/sim/ never includes OpenSSL.
 *
 * The simulated chain mirrors AMD's (notes/attestation-formats.md §1.6), with
 * every name saying SIMULATED so nobody mistakes it for AMD's:
 *
 *   ARK   RSA-4096, self-signed, RSASSA-PSS SHA-384 / MGF1-SHA-384 / salt 48,
 *         CA:TRUE, keyUsage certSign+cRLSign, SKI, validity 25 years.
 *   ASK   RSA-4096, signed by the ARK (PSS as above), CA:TRUE pathlen:0,
 *         keyUsage certSign, SKI + AKID, validity 25 years.
 *   VCEK  EC P-384, signed by the ASK (PSS), serial 0, no AKID (like AMD's),
 *         validity 7 years; extensions 1.3.6.1.4.1.3704.1.*: structVersion 0,
 *         productName (IA5String), blSPL/teeSPL/spl_4..7/snpSPL/ucodeSPL
 *         (INTEGERs), hwID (extnValue = the raw 64-byte CHIP_ID).
 *
 * Keys travel as unencrypted PKCS#8 PEM (callers store them mode 0600 and
 * free them with veil_buf_free, which wipes); certificates as DER. */
#ifndef VEIL_CRYPTO_SIM_PKI_H
#define VEIL_CRYPTO_SIM_PKI_H

#include <stddef.h>
#include <stdint.h>

#include "veil/cursor.h"
#include "veil/result.h"

#define VEIL_SIM_CHIP_ID_LEN 64
#define VEIL_SIM_SNP_SIG_LEN 512   /* the report's SIGNATURE field */
#define VEIL_SIM_PKI_MAX_DER 8192  /* bound on one certificate */
#define VEIL_SIM_PKI_MAX_KEY 16384 /* bound on one PEM private key */

typedef struct veil_sim_pki_params {
    const uint8_t *chip_id; /* VEIL_SIM_CHIP_ID_LEN bytes, the VCEK's hwID */
    uint8_t bl_spl, tee_spl, snp_spl, ucode_spl;
    const char *product; /* VCEK productName, e.g. "Milan-B0" */
} veil_sim_pki_params;

typedef struct veil_sim_pki {
    veil_buf ark_der, ask_der, vcek_der; /* certificates */
    veil_buf ark_key, ask_key, vcek_key; /* PKCS#8 PEM private keys */
} veil_sim_pki;

void veil_sim_pki_init(veil_sim_pki *p);
/* Wipes the keys. */
void veil_sim_pki_free(veil_sim_pki *p);

/* Generate a fresh chain (two RSA-4096 keys: a few seconds). *out must be
 * initialised; it is emptied first and emptied again on failure. */
VEIL_MUST_USE veil_result veil_sim_pki_generate(const veil_sim_pki_params *p, veil_sim_pki *out);

/* Check that `key_pem` is the P-384 private key of certificate `cert_der`
 * (a state directory whose files were mixed up fails here, not in the
 * verifier). */
VEIL_MUST_USE veil_result veil_sim_pki_check_pair(const uint8_t *key_pem, size_t key_len,
                                                  const uint8_t *cert_der, size_t cert_len);

/* ECDSA P-384 / SHA-384 over msg with the PEM key, written in the SEV-SNP
 * signature layout: R at 0x00 and S at 0x48, each 72 bytes little-endian
 * zero-padded, the rest of the 512 bytes zero. */
VEIL_MUST_USE veil_result veil_sim_sign_snp(const uint8_t *key_pem, size_t key_len,
                                            const uint8_t *msg, size_t msg_len,
                                            uint8_t sig[VEIL_SIM_SNP_SIG_LEN]);

#endif

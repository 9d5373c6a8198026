/* NVIDIA reference integrity manifests (RIMs): ISO/IEC 19770-2 SWID tags
 * signed with an enveloped XML-DSig (notes/attestation-formats.md §3.5;
 * nvtrust rim/__init__.py). The only file of veil that touches libxml2 and
 * libxmlsec1.
 *
 * Parsing (libxml2): no network, no DTD (the parser is stopped at a DOCTYPE,
 * before its internal subset, so no entity is ever declared or expanded), a
 * size cap, libxml2's default depth and text limits (no XML_PARSE_HUGE), and
 * errors kept off stderr.
 *
 * Verification, in order:
 *   1. exactly one ds:Signature in the document, and it is a child of the
 *      root (the enveloped signature over the whole tag);
 *   2. the KeyInfo's X509Certificates: the first is the signer; it must chain
 *      (the others as intermediates) to the pinned NVIDIA CoRIM signing Root
 *      CA, or an extra root, at the verification time (veil's X.509 code,
 *      not xmlsec's, so no system CA store is ever consulted);
 *   3. libxmlsec1 verifies the signature with that signer's public key,
 *      allowing only Reference URI="" and the algorithms NVIDIA uses:
 *      enveloped-signature, C14N 1.1, SHA-384, ecdsa-sha384; exactly one
 *      Reference, which must have succeeded.
 * The measurements are then read from the very tree that was verified. */
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <xmlsec/crypto.h>
#include <xmlsec/errors.h>
#include <xmlsec/xmldsig.h>
#include <xmlsec/xmlsec.h>
#include <xmlsec/xmltree.h>

#include "attest/nvgpu_internal.h"
#include "crypto/nvgpu_crypto.h"
#include "veil/base64.h"
#include "veil/hex.h"
#include "veil/mem.h"
#include "veil/timeutil.h"

#define SWID_NS "http://standards.iso.org/iso/19770/-2/2015/schema.xsd"
#define SHA384_NS "http://www.w3.org/2001/04/xmlenc#sha384"
#define DSIG_NS "http://www.w3.org/2000/09/xmldsig#"
#define ATTR_MAX 200      /* longest attribute value read (tagId is 96 hex) */
#define MAX_RIM_CERTS 8   /* X509Certificate elements in the KeyInfo */
#define MAX_CERT_B64 8192 /* one base64 certificate */
#define MAX_INDEX 65535

/* ---- one-time initialisation ---------------------------------------------------------- */

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static bool init_ok;
/* The first xmlsec error of the current call, for the verdict detail. */
static _Thread_local char xmlsec_err[120];

static void xmlsec_error(const char *file, int line, const char *func, const char *obj,
                         const char *subject, int reason, const char *msg)
{
    (void)file, (void)line, (void)obj, (void)subject, (void)reason;
    if (!xmlsec_err[0])
        snprintf(xmlsec_err, sizeof xmlsec_err, "%s: %s", func ? func : "xmlsec",
                 msg ? msg : "error");
}

/* libxml2 and xmlsec keep global tables: initialise once, for every thread
 * (xmlsec's own examples do this in main). Never shut down: a verifier may
 * run on another thread at any time, and the tables stay reachable. */
static void xml_init(void)
{
    xmlInitParser();
    if (xmlSecInit() < 0 || xmlSecCheckVersion() != 1)
        return;
    if (xmlSecCryptoAppInit(NULL) < 0 || xmlSecCryptoInit() < 0)
        return;
    xmlSecErrorsSetCallback(xmlsec_error);
    init_ok = true;
}

static void silent(void *ctx, const char *msg, ...) { (void)ctx, (void)msg; }

static void silent_structured(void *ctx, xmlErrorPtr err) { (void)ctx, (void)err; }

static veil_result xml_ready(void)
{
    pthread_once(&init_once, xml_init);
    VEIL_ENSURE(init_ok, VEIL_E_INTERNAL, "nvgpu rim: libxmlsec1 (OpenSSL) failed to initialise");
    /* libxml2's error handlers are per thread: keep this thread's quiet. */
    xmlSetGenericErrorFunc(NULL, silent);
    xmlSetStructuredErrorFunc(NULL, silent_structured);
    xmlsec_err[0] = '\0';
    return VEIL_OK;
}

/* ---- parsing ---------------------------------------------------------------------------- */

static const char doctype_marker[] = "doctype";

/* SAX internalSubset: called at <!DOCTYPE, before any declaration in it. */
static void refuse_doctype(void *ctx, const xmlChar *name, const xmlChar *ext, const xmlChar *sys)
{
    xmlParserCtxtPtr c = ctx;
    (void)name, (void)ext, (void)sys;
    c->_private = (void *)doctype_marker;
    xmlStopParser(c);
}

static veil_result parse_doc(const uint8_t *xml, size_t len, xmlDocPtr *out)
{
    veil_result res = VEIL_OK;
    xmlDocPtr doc = NULL;
    *out = NULL;
    VEIL_ENSURE(xml != NULL && len > 0, VEIL_E_PROTOCOL, "nvgpu rim: empty document");
    VEIL_ENSURE(len <= VEIL_NVGPU_RIM_MAX_XML, VEIL_E_PROTOCOL, "nvgpu rim: larger than 1 MiB");
    xmlParserCtxtPtr ctx = xmlNewParserCtxt();
    VEIL_ENSURE(ctx != NULL && ctx->sax != NULL, VEIL_E_NOMEM, "nvgpu rim: out of memory");
    ctx->sax->internalSubset = refuse_doctype;
    ctx->sax->externalSubset = NULL;
    doc = xmlCtxtReadMemory(ctx, (const char *)xml, (int)len, NULL, NULL,
                            XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    VEIL_ENSURE_GOTO(res, ctx->_private != doctype_marker, VEIL_E_PROTOCOL,
                     "nvgpu rim: a DOCTYPE is not allowed (no DTDs, no entities)");
    VEIL_ENSURE_GOTO(res, doc != NULL && ctx->wellFormed, VEIL_E_PROTOCOL,
                     "nvgpu rim: not well-formed XML");
    VEIL_ENSURE_GOTO(res, doc->intSubset == NULL && doc->extSubset == NULL, VEIL_E_PROTOCOL,
                     "nvgpu rim: a DOCTYPE is not allowed (no DTDs, no entities)");
    *out = doc;
    doc = NULL;
out:
    xmlFreeDoc(doc);
    xmlFreeParserCtxt(ctx);
    return res;
}

static bool is_elem(const xmlNode *n, const char *name, const char *ns)
{
    return n && n->type == XML_ELEMENT_NODE && !strcmp((const char *)n->name, name) && n->ns &&
           n->ns->href && !strcmp((const char *)n->ns->href, ns);
}

/* Copy an attribute (no namespace when ns is NULL) into buf; *present says
 * whether it exists. Longer values or embedded control bytes are refused. */
static veil_result get_attr(const xmlNode *n, const char *name, const char *ns, char *buf,
                            size_t cap, bool *present, const char *bad)
{
    xmlChar *v = ns ? xmlGetNsProp(n, (const xmlChar *)name, (const xmlChar *)ns)
                    : xmlGetNoNsProp(n, (const xmlChar *)name);
    veil_result res = VEIL_OK;
    buf[0] = '\0';
    *present = v != NULL;
    if (!v)
        return VEIL_OK;
    size_t len = strlen((const char *)v);
    VEIL_ENSURE_GOTO(res, len < cap, VEIL_E_PROTOCOL, bad);
    for (size_t i = 0; i < len; i++)
        VEIL_ENSURE_GOTO(res, v[i] >= 0x20 && v[i] != 0x7F, VEIL_E_PROTOCOL, bad);
    memcpy(buf, v, len + 1);
out:
    xmlFree(v);
    return res;
}

static veil_result need_attr(const xmlNode *n, const char *name, const char *ns, char *buf,
                             size_t cap, const char *bad)
{
    bool present = false;
    VEIL_GUARD(get_attr(n, name, ns, buf, cap, &present, bad));
    VEIL_ENSURE(present && buf[0], VEIL_E_PROTOCOL, bad);
    return VEIL_OK;
}

/* Decimal digits only, value <= max. */
static bool parse_uint(const char *s, uint32_t max, uint32_t *out)
{
    uint64_t v = 0;
    if (!s[0] || strlen(s) > 10)
        return false;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9')
            return false;
        v = v * 10 + (uint64_t)(*p - '0');
    }
    if (v > max)
        return false;
    *out = (uint32_t)v;
    return true;
}

/* One <Resource type="Measurement" index active alternatives size HashK>. */
static veil_result parse_resource(const xmlNode *n, veil_nvgpu_rim_entry *e)
{
    char buf[ATTR_MAX];
    uint32_t alts = 0, size = 0;
    veil_buf h;
    veil_result res = VEIL_OK;
    veil_buf_init(&h, VEIL_NVGPU_MEAS_LEN);
    VEIL_TRY(res, need_attr(n, "type", NULL, buf, sizeof buf,
                            "nvgpu rim: a Resource has no type attribute"));
    VEIL_ENSURE_GOTO(res, !strcmp(buf, "Measurement"), VEIL_E_PROTOCOL,
                     "nvgpu rim: a Resource's type is not \"Measurement\"");
    VEIL_TRY(res, need_attr(n, "index", NULL, buf, sizeof buf,
                            "nvgpu rim: a Resource has no index attribute"));
    VEIL_ENSURE_GOTO(res, parse_uint(buf, MAX_INDEX, &e->index), VEIL_E_PROTOCOL,
                     "nvgpu rim: a Resource's index is not a number 0..65535");
    VEIL_TRY(res, need_attr(n, "active", NULL, buf, sizeof buf,
                            "nvgpu rim: a Resource has no active attribute"));
    VEIL_ENSURE_GOTO(res, !strcmp(buf, "True") || !strcmp(buf, "False"), VEIL_E_PROTOCOL,
                     "nvgpu rim: a Resource's active is not \"True\" or \"False\"");
    e->active = !strcmp(buf, "True");
    VEIL_TRY(res, need_attr(n, "alternatives", NULL, buf, sizeof buf,
                            "nvgpu rim: a Resource has no alternatives attribute"));
    VEIL_ENSURE_GOTO(res, parse_uint(buf, VEIL_NVGPU_RIM_MAX_ALTS, &alts) && alts > 0,
                     VEIL_E_PROTOCOL, "nvgpu rim: a Resource's alternatives is not 1..16");
    VEIL_TRY(res, need_attr(n, "size", NULL, buf, sizeof buf,
                            "nvgpu rim: a Resource has no size attribute"));
    VEIL_ENSURE_GOTO(res, parse_uint(buf, MAX_INDEX, &size) && size == VEIL_NVGPU_MEAS_LEN,
                     VEIL_E_PROTOCOL,
                     "nvgpu rim: a Resource's size is not 48 (SHA-384 measurements only)");
    e->n_alts = alts;
    for (uint32_t k = 0; k < alts; k++) {
        char name[16];
        snprintf(name, sizeof name, "Hash%u", k);
        VEIL_TRY(res, need_attr(n, name, SHA384_NS, buf, sizeof buf,
                                "nvgpu rim: a Resource lacks one of Hash0..Hash{alternatives-1} "
                                "(xmlenc#sha384 namespace)"));
        veil_buf_clear(&h);
        VEIL_ENSURE_GOTO(res,
                         strlen(buf) == 2 * VEIL_NVGPU_MEAS_LEN &&
                             veil_ok(veil_hex_decode(buf, strlen(buf), &h)),
                         VEIL_E_PROTOCOL, "nvgpu rim: a Resource's HashK is not 96 hex digits");
        memcpy(e->alts[k], h.data, VEIL_NVGPU_MEAS_LEN);
    }
out:
    veil_buf_free(&h);
    return res;
}

static veil_result parse_payload(const xmlNode *payload, veil_nvgpu_rim *r)
{
    for (const xmlNode *n = payload->children; n; n = n->next) {
        if (n->type != XML_ELEMENT_NODE)
            continue;
        VEIL_ENSURE(is_elem(n, "Resource", SWID_NS), VEIL_E_PROTOCOL,
                    "nvgpu rim: the Payload holds an element other than Resource");
        VEIL_ENSURE(r->n_entries < VEIL_NVGPU_RIM_MAX_ENTRIES, VEIL_E_PROTOCOL,
                    "nvgpu rim: more than 256 Resource elements");
        veil_nvgpu_rim_entry *e = &r->entries[r->n_entries];
        VEIL_GUARD(parse_resource(n, e));
        for (size_t i = 0; i < r->n_entries; i++)
            VEIL_ENSURE(r->entries[i].index != e->index, VEIL_E_PROTOCOL,
                        "nvgpu rim: two Resources have the same index");
        r->n_entries++;
    }
    VEIL_ENSURE(r->n_entries > 0, VEIL_E_PROTOCOL, "nvgpu rim: the Payload has no measurements");
    return VEIL_OK;
}

/* SoftwareIdentity { Entity*, Meta (one), Payload (one), ds:Signature? } */
static veil_result parse_tree(xmlDocPtr doc, veil_nvgpu_rim *r)
{
    const xmlNode *root = xmlDocGetRootElement(doc), *meta = NULL, *payload = NULL;
    VEIL_ENSURE(is_elem(root, "SoftwareIdentity", SWID_NS), VEIL_E_PROTOCOL,
                "nvgpu rim: the root is not a SWID SoftwareIdentity (ISO 19770-2:2015)");
    VEIL_GUARD(need_attr(root, "tagId", NULL, r->tag_id, sizeof r->tag_id,
                         "nvgpu rim: SoftwareIdentity has no usable tagId"));
    bool present = false;
    VEIL_GUARD(get_attr(root, "name", NULL, r->name, sizeof r->name, &present,
                        "nvgpu rim: SoftwareIdentity name is too long"));
    VEIL_GUARD(get_attr(root, "version", NULL, r->version, sizeof r->version, &present,
                        "nvgpu rim: SoftwareIdentity version is too long"));
    for (const xmlNode *n = root->children; n; n = n->next) {
        if (is_elem(n, "Meta", SWID_NS)) {
            VEIL_ENSURE(!meta, VEIL_E_PROTOCOL, "nvgpu rim: more than one Meta element");
            meta = n;
        } else if (is_elem(n, "Payload", SWID_NS)) {
            VEIL_ENSURE(!payload, VEIL_E_PROTOCOL, "nvgpu rim: more than one Payload element");
            payload = n;
        }
    }
    VEIL_ENSURE(meta != NULL, VEIL_E_PROTOCOL, "nvgpu rim: no Meta element");
    VEIL_ENSURE(payload != NULL, VEIL_E_PROTOCOL, "nvgpu rim: no Payload element");
    VEIL_GUARD(need_attr(meta, "colloquialVersion", NULL, r->colloquial_version,
                         sizeof r->colloquial_version,
                         "nvgpu rim: Meta has no usable colloquialVersion"));
    return parse_payload(payload, r);
}

void veil_nvgpu_rim_init(veil_nvgpu_rim *r)
{
    if (r)
        memset(r, 0, sizeof *r);
}

void veil_nvgpu_rim_free(veil_nvgpu_rim *r)
{
    if (!r)
        return;
    veil_free(r->entries);
    memset(r, 0, sizeof *r);
}

static veil_result parse_into(xmlDocPtr doc, veil_nvgpu_rim *out)
{
    veil_nvgpu_rim_free(out);
    out->entries = veil_calloc(VEIL_NVGPU_RIM_MAX_ENTRIES, sizeof *out->entries);
    VEIL_ENSURE(out->entries != NULL, VEIL_E_NOMEM, "nvgpu rim: out of memory");
    veil_result res = parse_tree(doc, out);
    if (!veil_ok(res))
        veil_nvgpu_rim_free(out);
    return res;
}

veil_result veil_nvgpu_rim_parse(const uint8_t *xml, size_t len, veil_nvgpu_rim *out)
{
    veil_result res = VEIL_OK;
    xmlDocPtr doc = NULL;
    VEIL_ENSURE(out != NULL, VEIL_E_USAGE, "nvgpu rim: NULL output");
    veil_nvgpu_rim_free(out);
    VEIL_TRY(res, xml_ready());
    VEIL_TRY(res, parse_doc(xml, len, &doc));
    VEIL_TRY(res, parse_into(doc, out));
out:
    xmlFreeDoc(doc);
    return res;
}

/* ---- the signature ------------------------------------------------------------------------ */

/* Count ds:Signature elements (iteratively; the tree depth is bounded by the
 * parser) and return the one that is a child of the root. */
static veil_result find_signature(xmlDocPtr doc, xmlNodePtr *sig)
{
    xmlNodePtr root = xmlDocGetRootElement(doc), n = root;
    size_t count = 0;
    *sig = NULL;
    while (n) {
        if (is_elem(n, "Signature", DSIG_NS)) {
            count++;
            if (n->parent == (xmlNodePtr)root)
                *sig = n;
        }
        if (n->children && n->type == XML_ELEMENT_NODE) {
            n = n->children;
            continue;
        }
        while (n && n != root && !n->next)
            n = n->parent;
        n = n && n != root ? n->next : NULL;
    }
    VEIL_ENSURE(count == 1 && *sig, VEIL_E_PROTOCOL,
                "the document must hold exactly one ds:Signature, a child of the root");
    return VEIL_OK;
}

/* The first child element of `parent` named `name` in the DSig namespace. */
static xmlNodePtr dsig_child(xmlNodePtr parent, const char *name)
{
    for (xmlNodePtr n = parent ? parent->children : NULL; n; n = n->next)
        if (is_elem(n, name, DSIG_NS))
            return n;
    return NULL;
}

/* Base64 text of an X509Certificate (whitespace dropped) -> parsed certificate. */
static veil_result read_cert(xmlNodePtr n, veil_x509 **out)
{
    veil_result res = VEIL_OK;
    veil_buf b64, der;
    xmlChar *text = xmlNodeGetContent(n);
    veil_buf_init(&b64, MAX_CERT_B64);
    veil_buf_init(&der, MAX_CERT_B64);
    VEIL_ENSURE_GOTO(res, text != NULL, VEIL_E_PROTOCOL, "an X509Certificate is empty");
    for (const xmlChar *p = text; *p; p++)
        if (*p != ' ' && *p != '\n' && *p != '\r' && *p != '\t')
            VEIL_TRY(res, veil_buf_u8(&b64, *p));
    VEIL_ENSURE_GOTO(res, b64.len > 0, VEIL_E_PROTOCOL, "an X509Certificate is empty");
    res = veil_base64_decode((const char *)b64.data, b64.len, &der);
    VEIL_ENSURE_GOTO(res, veil_ok(res), VEIL_E_PROTOCOL, "an X509Certificate is not base64");
    res = veil_x509_parse(der.data, der.len, out);
    VEIL_ENSURE_GOTO(res, veil_ok(res), VEIL_E_PROTOCOL,
                     "an X509Certificate is not a DER certificate");
out:
    if (!veil_ok(res) && res.cls == VEIL_E_NOMEM)
        res = VEIL_ERR(VEIL_E_PROTOCOL, "an X509Certificate is too large");
    xmlFree(text);
    veil_buf_free(&b64);
    veil_buf_free(&der);
    return res;
}

typedef struct signer {
    veil_x509 *certs[MAX_RIM_CERTS];
    size_t n;
} signer;

static void signer_free(signer *s)
{
    for (size_t i = 0; i < s->n; i++)
        veil_x509_free(s->certs[i]);
    s->n = 0;
}

/* KeyInfo / X509Data / X509Certificate+, signer first. */
static veil_result read_signer(xmlNodePtr sig, signer *s)
{
    xmlNodePtr data = dsig_child(dsig_child(sig, "KeyInfo"), "X509Data");
    VEIL_ENSURE(data != NULL, VEIL_E_PROTOCOL, "the signature has no KeyInfo/X509Data");
    for (xmlNodePtr n = data->children; n; n = n->next) {
        if (!is_elem(n, "X509Certificate", DSIG_NS))
            continue;
        VEIL_ENSURE(s->n < MAX_RIM_CERTS, VEIL_E_PROTOCOL,
                    "the KeyInfo holds more than 8 certificates");
        VEIL_GUARD(read_cert(n, &s->certs[s->n]));
        s->n++;
    }
    VEIL_ENSURE(s->n > 0, VEIL_E_PROTOCOL, "the KeyInfo holds no X509Certificate");
    return VEIL_OK;
}

/* libxmlsec1: the signature with the signer's key, only NVIDIA's algorithms. */
static veil_result xmlsec_verify(xmlNodePtr sig, const veil_x509 *leaf, char *why, size_t cap,
                                 bool *ok)
{
    veil_result res = VEIL_OK;
    uint8_t *der = NULL;
    size_t der_len = 0;
    veil_buf spki;
    xmlSecDSigCtxPtr ctx = NULL;
    veil_buf_init(&spki, 0);
    *ok = false;
    VEIL_TRY(res, veil_x509_der(leaf, &der, &der_len));
    VEIL_TRY(res, veil_nvgpu_cert_spki(der, der_len, &spki));
    ctx = xmlSecDSigCtxCreate(NULL);
    VEIL_ENSURE_GOTO(res, ctx != NULL, VEIL_E_NOMEM, "nvgpu rim: out of memory");
    ctx->signKey = xmlSecCryptoAppKeyLoadMemory(spki.data, (xmlSecSize)spki.len,
                                                xmlSecKeyDataFormatDer, NULL, NULL, NULL);
    VEIL_ENSURE_GOTO(res, ctx->signKey != NULL, VEIL_E_INTERNAL,
                     "nvgpu rim: xmlsec cannot load the signer's public key");
    ctx->enabledReferenceUris = xmlSecTransformUriTypeEmpty;
    VEIL_ENSURE_GOTO(
        res,
        xmlSecDSigCtxEnableSignatureTransform(ctx, xmlSecTransformInclC14N11Id) == 0 &&
            xmlSecDSigCtxEnableSignatureTransform(ctx, xmlSecTransformEcdsaSha384Id) == 0 &&
            xmlSecDSigCtxEnableReferenceTransform(ctx, xmlSecTransformEnvelopedId) == 0 &&
            xmlSecDSigCtxEnableReferenceTransform(ctx, xmlSecTransformInclC14N11Id) == 0 &&
            xmlSecDSigCtxEnableReferenceTransform(ctx, xmlSecTransformSha384Id) == 0,
        VEIL_E_INTERNAL, "nvgpu rim: cannot restrict the xmlsec algorithms");
    if (xmlSecDSigCtxVerify(ctx, sig) < 0) {
        snprintf(why, cap, "XML-DSig processing failed (%s)",
                 xmlsec_err[0] ? xmlsec_err : "unsupported algorithm or malformed signature");
        goto out;
    }
    if (ctx->status != xmlSecDSigStatusSucceeded) {
        snprintf(why, cap,
                 "XML-DSig does not verify: the signed content or the signature "
                 "value was altered, or another key signed it");
        goto out;
    }
    xmlSecDSigReferenceCtxPtr ref =
        xmlSecPtrListGetSize(&ctx->signedInfoReferences) == 1
            ? (xmlSecDSigReferenceCtxPtr)xmlSecPtrListGetItem(&ctx->signedInfoReferences, 0)
            : NULL;
    if (!ref || ref->status != xmlSecDSigStatusSucceeded || !ref->uri || ref->uri[0]) {
        snprintf(why, cap, "the signature must have exactly one Reference, URI=\"\"");
        goto out;
    }
    *ok = true;
out:
    xmlSecDSigCtxDestroy(ctx); /* destroys signKey too */
    veil_x509_der_free(der);
    veil_buf_free(&spki);
    return res;
}

static void hex_head(const char *s, char out[20])
{
    snprintf(out, 20, "%.16s%s", s, strlen(s) > 16 ? "..." : "");
}

/* Steps 1-3 on a parsed document; records the one RIM check. */
static veil_result verify_doc(xmlDocPtr doc, const char *what, const veil_nvgpu_trust *trust,
                              veil_nvgpu_rim *out, veil_verdict *v)
{
    veil_result res = VEIL_OK;
    signer s = {0};
    nvgpu_chain_result cr;
    xmlNodePtr sig = NULL;
    char why[VEIL_VERDICT_DETAIL] = {0}, at_s[21], tag[20];
    bool ok = false;
    int64_t at = trust && trust->at ? trust->at : (int64_t)time(NULL);
    veil_time_format(at, at_s);
    hex_head(out->tag_id, tag);

    veil_result fr = find_signature(doc, &sig);
    if (veil_ok(fr))
        fr = read_signer(sig, &s);
    if (!veil_ok(fr)) {
        veil_verdict_record(v, VEIL_CHECK_RIM, false, "%s (tagId %s): %s", what, tag, fr.msg);
        goto out;
    }
    VEIL_TRY(res, nvgpu_chain_verify(s.certs, s.n, NVGPU_ROOT_RIM, trust, at, &cr));
    if (!cr.ok) {
        veil_verdict_record(v, VEIL_CHECK_RIM, false, "%s (tagId %s): signer chain: %s", what, tag,
                            cr.detail);
        goto out;
    }
    VEIL_TRY(res, xmlsec_verify(sig, s.certs[0], why, sizeof why, &ok));
    if (!ok) {
        veil_verdict_record(v, VEIL_CHECK_RIM, false, "%s (tagId %s): %s", what, tag, why);
        goto out;
    }
    out->verified = true;
    out->simulated = cr.simulated;
    memcpy(out->signer_cn, cr.leaf_cn, sizeof out->signer_cn);
    memcpy(out->root_sha256, cr.root_sha256, sizeof out->root_sha256);
    veil_verdict_record(v, VEIL_CHECK_RIM, true,
                        "%s %s %s (tagId %s): ecdsa-sha384 XML-DSig by \"%.40s\" <- %.40s%s, "
                        "valid at %s",
                        what, out->name, out->colloquial_version, tag, cr.leaf_cn, cr.root_cn,
                        cr.simulated ? " (SIMULATED)" : "", at_s);
out:
    signer_free(&s);
    return res;
}

veil_result veil_nvgpu_rim_verify(const uint8_t *xml, size_t len, const char *what,
                                  const veil_nvgpu_trust *trust, veil_nvgpu_rim *out,
                                  veil_verdict *v)
{
    veil_result res = VEIL_OK;
    xmlDocPtr doc = NULL;
    VEIL_ENSURE(out != NULL && v != NULL, VEIL_E_USAGE, "nvgpu rim: NULL argument");
    VEIL_ENSURE(xml != NULL || len == 0, VEIL_E_USAGE, "nvgpu rim: NULL input with a length");
    veil_nvgpu_rim_free(out);
    VEIL_GUARD(nvgpu_trust_check(trust));
    if (!what)
        what = "RIM";
    VEIL_TRY(res, xml_ready());
    veil_result pr = parse_doc(xml, len, &doc);
    if (veil_ok(pr))
        pr = parse_into(doc, out);
    if (pr.cls == VEIL_E_PROTOCOL) {
        veil_verdict_record(v, VEIL_CHECK_RIM, false, "%s: %s", what, pr.msg);
        goto out;
    }
    VEIL_TRY(res, pr);
    VEIL_TRY(res, verify_doc(doc, what, trust, out, v));
out:
    xmlFreeDoc(doc);
    return res;
}

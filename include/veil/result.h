/* veil — result type shared by every libveil function that can fail.
 *
 * A veil_result is returned by value: `cls` says which kind of failure it is
 * (so a caller can tell a malformed message from a crypto failure from a bug),
 * `msg` is a static, human-readable sentence naming what went wrong. Messages
 * never contain secret or user data, so they are safe to log and to show. */
#ifndef VEIL_RESULT_H
#define VEIL_RESULT_H

#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) || defined(__clang__)
#define VEIL_MUST_USE __attribute__((warn_unused_result))
#else
#define VEIL_MUST_USE
#endif

typedef enum veil_errclass {
    VEIL_E_NONE = 0,       /* success */
    VEIL_E_PROTOCOL = 1,   /* malformed or unacceptable input from a peer or file */
    VEIL_E_CRYPTO = 2,     /* authentication/decryption/derivation failed */
    VEIL_E_USAGE = 3,      /* the caller passed something invalid */
    VEIL_E_INTERNAL = 4,   /* a library or system call failed unexpectedly */
    VEIL_E_NOMEM = 5,      /* allocation failed or a size limit was exceeded */
    VEIL_E_UNSUPPORTED = 6 /* a well-formed request for an algorithm or feature veil lacks */
} veil_errclass;

typedef struct veil_result {
    veil_errclass cls;
    const char *msg; /* static string; NULL only on success */
} veil_result;

#define VEIL_OK ((veil_result){VEIL_E_NONE, (const char *)0})
#define VEIL_ERR(cls_, msg_) ((veil_result){(cls_), (msg_)})

static inline bool veil_ok(veil_result r) { return r.cls == VEIL_E_NONE; }

/* Short lowercase name of an error class ("protocol", "crypto", ...). */
const char *veil_errclass_name(veil_errclass cls);

/* Propagate a failure to the caller. */
#define VEIL_GUARD(expr)                                                                           \
    do {                                                                                           \
        veil_result veil_guard_r_ = (expr);                                                        \
        if (!veil_ok(veil_guard_r_))                                                               \
            return veil_guard_r_;                                                                  \
    } while (0)

/* Store a failure in `res` and jump to the function's single `out:` label. */
#define VEIL_TRY(res, expr)                                                                        \
    do {                                                                                           \
        (res) = (expr);                                                                            \
        if (!veil_ok(res))                                                                         \
            goto out;                                                                              \
    } while (0)

/* Fail with (cls, msg) unless `cond` holds. */
#define VEIL_ENSURE(cond, cls_, msg_)                                                              \
    do {                                                                                           \
        if (!(cond))                                                                               \
            return VEIL_ERR((cls_), (msg_));                                                       \
    } while (0)

#define VEIL_ENSURE_GOTO(res, cond, cls_, msg_)                                                    \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            (res) = VEIL_ERR((cls_), (msg_));                                                      \
            goto out;                                                                              \
        }                                                                                          \
    } while (0)

#ifdef __cplusplus
}
#endif
#endif

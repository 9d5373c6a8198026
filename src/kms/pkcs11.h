/* Internal: the small part of PKCS#11 v2.40 (OASIS, "PKCS #11 Cryptographic
 * Token Interface Base Specification Version 2.40", §2-§5) that the KMS's
 * root-key provider uses, declared here so that building veil needs no
 * PKCS#11 header package. Values and layouts are the specification's; the
 * Linux ABI (what SoftHSM2 and every other module on this platform use) has
 * CK_ULONG = unsigned long, no structure packing, and the cdecl calling
 * convention.
 *
 * CK_FUNCTION_LIST is the specification's table of 68 entry points in its
 * fixed order (§5.2 / pkcs11f.h); the ones veil never calls are kept as
 * opaque pointers so the offsets of the ones it does call stay right. */
#ifndef VEIL_KMS_PKCS11_H
#define VEIL_KMS_PKCS11_H

typedef unsigned long CK_ULONG;
typedef unsigned char CK_BYTE;
typedef CK_BYTE CK_BBOOL;
typedef CK_ULONG CK_RV;
typedef CK_ULONG CK_FLAGS;
typedef CK_ULONG CK_SLOT_ID;
typedef CK_ULONG CK_SESSION_HANDLE;
typedef CK_ULONG CK_OBJECT_HANDLE;
typedef CK_ULONG CK_OBJECT_CLASS;
typedef CK_ULONG CK_KEY_TYPE;
typedef CK_ULONG CK_ATTRIBUTE_TYPE;
typedef CK_ULONG CK_MECHANISM_TYPE;
typedef CK_ULONG CK_USER_TYPE;

#define CK_TRUE 1
#define CK_FALSE 0
#define CK_INVALID_HANDLE 0UL

typedef struct CK_VERSION {
    CK_BYTE major;
    CK_BYTE minor;
} CK_VERSION;

typedef struct CK_ATTRIBUTE {
    CK_ATTRIBUTE_TYPE type;
    void *pValue;
    CK_ULONG ulValueLen;
} CK_ATTRIBUTE;

typedef struct CK_MECHANISM {
    CK_MECHANISM_TYPE mechanism;
    void *pParameter;
    CK_ULONG ulParameterLen;
} CK_MECHANISM;

/* §2.12.3 (v2.40 errata 01 layout, which SoftHSM2 2.6 uses). */
typedef struct CK_GCM_PARAMS {
    CK_BYTE *pIv;
    CK_ULONG ulIvLen;
    CK_ULONG ulIvBits;
    CK_BYTE *pAAD;
    CK_ULONG ulAADLen;
    CK_ULONG ulTagBits;
} CK_GCM_PARAMS;

typedef struct CK_C_INITIALIZE_ARGS {
    void *CreateMutex;
    void *DestroyMutex;
    void *LockMutex;
    void *UnlockMutex;
    CK_FLAGS flags;
    void *pReserved;
} CK_C_INITIALIZE_ARGS;

typedef struct CK_TOKEN_INFO {
    CK_BYTE label[32]; /* blank padded, not NUL-terminated */
    CK_BYTE manufacturerID[32];
    CK_BYTE model[16];
    CK_BYTE serialNumber[16];
    CK_FLAGS flags;
    CK_ULONG ulMaxSessionCount;
    CK_ULONG ulSessionCount;
    CK_ULONG ulMaxRwSessionCount;
    CK_ULONG ulRwSessionCount;
    CK_ULONG ulMaxPinLen;
    CK_ULONG ulMinPinLen;
    CK_ULONG ulTotalPublicMemory;
    CK_ULONG ulFreePublicMemory;
    CK_ULONG ulTotalPrivateMemory;
    CK_ULONG ulFreePrivateMemory;
    CK_VERSION hardwareVersion;
    CK_VERSION firmwareVersion;
    CK_BYTE utcTime[16];
} CK_TOKEN_INFO;

/* Return values (§5.1). */
#define CKR_OK 0x00UL
#define CKR_ATTRIBUTE_SENSITIVE 0x11UL
#define CKR_ATTRIBUTE_TYPE_INVALID 0x12UL
#define CKR_ENCRYPTED_DATA_INVALID 0x40UL
#define CKR_ENCRYPTED_DATA_LEN_RANGE 0x41UL
#define CKR_PIN_INCORRECT 0xA0UL
#define CKR_PIN_LOCKED 0xA4UL
#define CKR_USER_ALREADY_LOGGED_IN 0x100UL
#define CKR_BUFFER_TOO_SMALL 0x150UL
#define CKR_CRYPTOKI_ALREADY_INITIALIZED 0x191UL

/* Flags. */
#define CKF_TOKEN_PRESENT 0x01UL
#define CKF_TOKEN_INITIALIZED (1UL << 10)
#define CKF_RW_SESSION 0x02UL
#define CKF_SERIAL_SESSION 0x04UL
#define CKF_OS_LOCKING_OK 0x02UL

#define CKU_USER 1UL

/* Object classes, key types, attributes, mechanisms. */
#define CKO_SECRET_KEY 0x04UL
#define CKK_AES 0x1FUL
#define CKA_CLASS 0x000UL
#define CKA_TOKEN 0x001UL
#define CKA_PRIVATE 0x002UL
#define CKA_LABEL 0x003UL
#define CKA_VALUE 0x011UL
#define CKA_KEY_TYPE 0x100UL
#define CKA_SENSITIVE 0x103UL
#define CKA_ENCRYPT 0x104UL
#define CKA_DECRYPT 0x105UL
#define CKA_WRAP 0x106UL
#define CKA_UNWRAP 0x107UL
#define CKA_VALUE_LEN 0x161UL
#define CKA_EXTRACTABLE 0x162UL
#define CKA_NEVER_EXTRACTABLE 0x164UL
#define CKA_ALWAYS_SENSITIVE 0x165UL
#define CKM_AES_KEY_GEN 0x1080UL
#define CKM_AES_GCM 0x1087UL

typedef struct CK_FUNCTION_LIST CK_FUNCTION_LIST;
typedef void *CK_UNUSED_FN; /* an entry point veil never calls */

struct CK_FUNCTION_LIST {
    CK_VERSION version;
    CK_RV (*C_Initialize)(void *pInitArgs);
    CK_RV (*C_Finalize)(void *pReserved);
    CK_UNUSED_FN C_GetInfo;
    CK_RV (*C_GetFunctionList)(CK_FUNCTION_LIST **ppFunctionList);
    CK_RV (*C_GetSlotList)(CK_BBOOL tokenPresent, CK_SLOT_ID *pSlotList, CK_ULONG *pulCount);
    CK_UNUSED_FN C_GetSlotInfo;
    CK_RV (*C_GetTokenInfo)(CK_SLOT_ID slotID, CK_TOKEN_INFO *pInfo);
    CK_UNUSED_FN C_GetMechanismList;
    CK_UNUSED_FN C_GetMechanismInfo;
    CK_UNUSED_FN C_InitToken;
    CK_UNUSED_FN C_InitPIN;
    CK_UNUSED_FN C_SetPIN;
    CK_RV(*C_OpenSession)
    (CK_SLOT_ID slotID, CK_FLAGS flags, void *pApplication, void *Notify,
     CK_SESSION_HANDLE *phSession);
    CK_RV (*C_CloseSession)(CK_SESSION_HANDLE hSession);
    CK_UNUSED_FN C_CloseAllSessions;
    CK_UNUSED_FN C_GetSessionInfo;
    CK_UNUSED_FN C_GetOperationState;
    CK_UNUSED_FN C_SetOperationState;
    CK_RV(*C_Login)
    (CK_SESSION_HANDLE hSession, CK_USER_TYPE userType, CK_BYTE *pPin, CK_ULONG ulPinLen);
    CK_RV (*C_Logout)(CK_SESSION_HANDLE hSession);
    CK_UNUSED_FN C_CreateObject;
    CK_UNUSED_FN C_CopyObject;
    CK_UNUSED_FN C_DestroyObject;
    CK_UNUSED_FN C_GetObjectSize;
    CK_RV(*C_GetAttributeValue)
    (CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hObject, CK_ATTRIBUTE *pTemplate,
     CK_ULONG ulCount);
    CK_UNUSED_FN C_SetAttributeValue;
    CK_RV(*C_FindObjectsInit)
    (CK_SESSION_HANDLE hSession, CK_ATTRIBUTE *pTemplate, CK_ULONG ulCount);
    CK_RV(*C_FindObjects)
    (CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE *phObject, CK_ULONG ulMaxObjectCount,
     CK_ULONG *pulObjectCount);
    CK_RV (*C_FindObjectsFinal)(CK_SESSION_HANDLE hSession);
    CK_RV(*C_EncryptInit)
    (CK_SESSION_HANDLE hSession, CK_MECHANISM *pMechanism, CK_OBJECT_HANDLE hKey);
    CK_RV(*C_Encrypt)
    (CK_SESSION_HANDLE hSession, CK_BYTE *pData, CK_ULONG ulDataLen, CK_BYTE *pEncryptedData,
     CK_ULONG *pulEncryptedDataLen);
    CK_UNUSED_FN C_EncryptUpdate;
    CK_UNUSED_FN C_EncryptFinal;
    CK_RV(*C_DecryptInit)
    (CK_SESSION_HANDLE hSession, CK_MECHANISM *pMechanism, CK_OBJECT_HANDLE hKey);
    CK_RV(*C_Decrypt)
    (CK_SESSION_HANDLE hSession, CK_BYTE *pEncryptedData, CK_ULONG ulEncryptedDataLen,
     CK_BYTE *pData, CK_ULONG *pulDataLen);
    CK_UNUSED_FN C_DecryptUpdate;
    CK_UNUSED_FN C_DecryptFinal;
    CK_UNUSED_FN C_DigestInit;
    CK_UNUSED_FN C_Digest;
    CK_UNUSED_FN C_DigestUpdate;
    CK_UNUSED_FN C_DigestKey;
    CK_UNUSED_FN C_DigestFinal;
    CK_UNUSED_FN C_SignInit;
    CK_UNUSED_FN C_Sign;
    CK_UNUSED_FN C_SignUpdate;
    CK_UNUSED_FN C_SignFinal;
    CK_UNUSED_FN C_SignRecoverInit;
    CK_UNUSED_FN C_SignRecover;
    CK_UNUSED_FN C_VerifyInit;
    CK_UNUSED_FN C_Verify;
    CK_UNUSED_FN C_VerifyUpdate;
    CK_UNUSED_FN C_VerifyFinal;
    CK_UNUSED_FN C_VerifyRecoverInit;
    CK_UNUSED_FN C_VerifyRecover;
    CK_UNUSED_FN C_DigestEncryptUpdate;
    CK_UNUSED_FN C_DecryptDigestUpdate;
    CK_UNUSED_FN C_SignEncryptUpdate;
    CK_UNUSED_FN C_DecryptVerifyUpdate;
    CK_RV(*C_GenerateKey)
    (CK_SESSION_HANDLE hSession, CK_MECHANISM *pMechanism, CK_ATTRIBUTE *pTemplate,
     CK_ULONG ulCount, CK_OBJECT_HANDLE *phKey);
    CK_UNUSED_FN C_GenerateKeyPair;
    CK_UNUSED_FN C_WrapKey;
    CK_UNUSED_FN C_UnwrapKey;
    CK_UNUSED_FN C_DeriveKey;
    CK_UNUSED_FN C_SeedRandom;
    CK_UNUSED_FN C_GenerateRandom;
    CK_UNUSED_FN C_GetFunctionStatus;
    CK_UNUSED_FN C_CancelFunction;
    CK_UNUSED_FN C_WaitForSlotEvent;
};

typedef CK_RV (*CK_C_GetFunctionList)(CK_FUNCTION_LIST **ppFunctionList);

#endif

#!/usr/bin/env python3
"""An outside verifier of Treaty COSE receipts, written from docs/receipts.md with Debian's
python3-cbor2 and python3-cryptography (no Treaty code). Used by test/node/proofs.test.ts.

usage: verify_cose_receipt.py <receipt.cose> <service-public-key-hex> [--flip-every-byte]

Prints JSON. Without --flip-every-byte: {"ok": true, "txid", "treeSize", "root"} (exit 0) or
{"ok": false, "error"} (exit 1). With it: also verifies every one-byte change of the receipt
(each byte XOR 0x01, then XOR 0x80) and prints {"ok", "flips", "accepted": [offsets that still
verified]}.
"""
import hashlib
import json
import struct
import sys

import cbor2
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

KINDS = ["user", "member", "governance", "signature", "internal"]


def sha256(data):
    return hashlib.sha256(data).digest()


def root_from_path(leaf_hash, index, size, path):
    # RFC 9162 section 2.1.3.2
    if index >= size:
        raise ValueError("index beyond size")
    fn, sn, r = index, size - 1, leaf_hash
    for p in path:
        if len(p) != 32 or sn == 0:
            raise ValueError("bad path")
        if fn % 2 == 1 or fn == sn:
            r = sha256(b"\x01" + p + r)
            while fn % 2 == 0 and fn != 0:
                fn //= 2
                sn //= 2
        else:
            r = sha256(b"\x01" + r + p)
        fn //= 2
        sn //= 2
    if sn != 0:
        raise ValueError("path too short")
    return r


def verify(data, service_key):
    obj = cbor2.loads(data)
    if not isinstance(obj, cbor2.CBORTag) or obj.tag != 18:
        raise ValueError("not a COSE_Sign1")
    protected, unprotected, payload, signature = obj.value
    header = cbor2.loads(protected)
    if header.get(1) != -8 or header.get(395) != 1:
        raise ValueError("expected alg EdDSA and vds RFC9162_SHA256")
    if header.get(4) != hashlib.sha256(b"ed25519\x00" + service_key).digest():
        raise ValueError("kid is not the service key id")
    if payload is not None:
        raise ValueError("payload must be detached")
    proofs = unprotected[396][-1]
    if len(proofs) != 1:
        raise ValueError("expected one proof")
    size, index, path = cbor2.loads(proofs[0])
    leaf = unprotected["treaty.leaf"]
    # 82 bytes (format 1), or 114 (format 2: an application claims digest appended)
    if not ((len(leaf) == 82 and leaf[0] == 1) or (len(leaf) == 114 and leaf[0] == 2)):
        raise ValueError("bad leaf data")
    view, seqno = struct.unpack(">QQ", leaf[1:17])
    if index != seqno - 1 or not 1 <= leaf[17] <= len(KINDS):
        raise ValueError("leaf does not match the proof index")
    root = root_from_path(sha256(b"\x00" + leaf), index, size, path)
    to_be_signed = cbor2.dumps(["Signature1", protected, b"", root])
    Ed25519PublicKey.from_public_bytes(service_key).verify(signature, to_be_signed)
    claims = leaf[82:].hex() if leaf[0] == 2 else None
    return {"txid": f"{view}.{seqno}", "kind": KINDS[leaf[17] - 1], "treeSize": size, "root": root.hex(),
            "claimsDigest": claims}


def main():
    data = open(sys.argv[1], "rb").read()
    key = bytes.fromhex(sys.argv[2])
    try:
        result = {"ok": True, **verify(data, key)}
    except Exception as err:  # any failure is "does not verify"
        print(json.dumps({"ok": False, "error": f"{type(err).__name__}: {err}"}))
        return 1
    if "--flip-every-byte" in sys.argv:
        accepted = []
        flips = 0
        for offset in range(len(data)):
            for bit in (0x01, 0x80):
                changed = bytearray(data)
                changed[offset] ^= bit
                flips += 1
                try:
                    verify(bytes(changed), key)
                    accepted.append(offset)
                except Exception:
                    pass
        result["flips"] = flips
        result["accepted"] = accepted
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())

/**
 * X.509 certificates for the client API's TLS, as CCF does it: the service identity key signs a
 * self-signed CA certificate (the service certificate that clients pin), and endorses each
 * node's identity key with a node certificate, valid as long as the node's endorsement. Both
 * are ed25519 (RFC 8410). The service certificate is a pure function of the service key, so
 * every node holding that key serves a byte-identical one.
 *
 * node:crypto parses and verifies certificates but cannot create them; this module writes the
 * few DER structures needed (der.ts) and signs with the same ed25519 code as everything else.
 */
import { createHash } from "node:crypto";
import { isIP } from "node:net";
import { assert } from "../../sdk/assert.js";
import { concatBytes } from "../../sdk/bytes.js";
import { type KeyPair, type PublicKey, sign } from "../../sdk/keys.js";
import * as der from "./der.js";

const OID_ED25519 = "1.3.101.112";
const OID_COMMON_NAME = "2.5.4.3";
const OID_ORGANIZATION = "2.5.4.10";
const OID_SUBJECT_KEY_ID = "2.5.29.14";
const OID_KEY_USAGE = "2.5.29.15";
const OID_SUBJECT_ALT_NAME = "2.5.29.17";
const OID_BASIC_CONSTRAINTS = "2.5.29.19";
const OID_AUTHORITY_KEY_ID = "2.5.29.35";

/** The service certificate's validity: fixed, so it is a function of the key alone. */
const SERVICE_NOT_BEFORE_MS = Date.UTC(2020, 0, 1);
/** RFC 5280 4.1.2.5: 99991231235959Z means "no well-defined expiration". */
const SERVICE_NOT_AFTER_MS = Date.UTC(9999, 11, 31, 23, 59, 59);

/** A certificate and the private key it is for, both PEM: what `tls.createSecureContext` takes. */
export interface TlsCredentials {
  readonly key: string;
  readonly cert: string;
}

/** The node's certificate chain (node certificate, then the service certificate) and its key. */
export interface NodeTlsInput {
  readonly serviceKey: KeyPair;
  readonly nodeKey: KeyPair;
  /** The node's endorsement validity: the certificate's notBefore and notAfter. */
  readonly validFromMs: number;
  readonly validToMs: number;
  /** The host of the node's advertised URL (a DNS name or an IP address): its subjectAltName. */
  readonly host: string;
}

/** The service certificate (PEM): self-signed by the service identity, a CA for node certificates. */
export function serviceCertificate(serviceKey: KeyPair): string {
  requireEd25519(serviceKey, "service key");
  const name = serviceName(serviceKey);
  const tbs = tbsCertificate({
    serial: serialFrom(serviceKey.publicKey),
    issuer: name,
    notBeforeMs: SERVICE_NOT_BEFORE_MS,
    notAfterMs: SERVICE_NOT_AFTER_MS,
    subject: name,
    subjectKey: serviceKey,
    extensions: [
      extension(OID_BASIC_CONSTRAINTS, true, der.sequence(der.boolean(true), der.smallInteger(0))),
      // keyCertSign (bit 5) and cRLSign (bit 6).
      extension(OID_KEY_USAGE, true, der.bitString(new Uint8Array([0x06]), 1)),
      extension(OID_SUBJECT_KEY_ID, false, der.octetString(keyIdentifier(serviceKey))),
    ],
  });
  return der.pem("CERTIFICATE", signed(tbs, serviceKey));
}

/**
 * The node's TLS credentials: its certificate signed by the service key, chained with the
 * service certificate (so a client holding only the service key can check the chain too), and
 * the node's private key.
 */
export function nodeTlsCredentials(input: NodeTlsInput): TlsCredentials {
  requireEd25519(input.nodeKey, "node key");
  requireEd25519(input.serviceKey, "service key");
  const tbs = tbsCertificate({
    serial: serialFrom(concatBytes(input.nodeKey.publicKey, der.smallInteger(input.validFromMs))),
    issuer: serviceName(input.serviceKey),
    notBeforeMs: input.validFromMs,
    notAfterMs: input.validToMs,
    subject: nodeName(input.nodeKey),
    subjectKey: input.nodeKey,
    extensions: [
      extension(OID_BASIC_CONSTRAINTS, true, der.sequence()),
      // digitalSignature (bit 0).
      extension(OID_KEY_USAGE, true, der.bitString(new Uint8Array([0x80]), 7)),
      extension(OID_SUBJECT_KEY_ID, false, der.octetString(keyIdentifier(input.nodeKey))),
      extension(
        OID_AUTHORITY_KEY_ID,
        false,
        der.sequence(der.implicitPrimitive(0, keyIdentifier(input.serviceKey))),
      ),
      extension(OID_SUBJECT_ALT_NAME, false, der.sequence(generalName(input.host))),
    ],
  });
  const cert = der.pem("CERTIFICATE", signed(tbs, input.serviceKey)) + serviceCertificate(input.serviceKey);
  return { key: privateKeyPem(input.nodeKey), cert };
}

/**
 * Credentials a node serves before it knows the service key (while it joins): self-signed by the
 * node key, so a client pinning the service certificate refuses them until the node is endorsed.
 */
export function provisionalTlsCredentials(nodeKey: KeyPair, nowMs: number, host: string): TlsCredentials {
  requireEd25519(nodeKey, "node key");
  const name = nodeName(nodeKey);
  const tbs = tbsCertificate({
    serial: serialFrom(concatBytes(nodeKey.publicKey, der.smallInteger(nowMs))),
    issuer: name,
    notBeforeMs: nowMs - 60_000,
    notAfterMs: nowMs + 24 * 3600_000,
    subject: name,
    subjectKey: nodeKey,
    extensions: [
      extension(OID_BASIC_CONSTRAINTS, true, der.sequence()),
      extension(OID_SUBJECT_ALT_NAME, false, der.sequence(generalName(host))),
    ],
  });
  return { key: privateKeyPem(nodeKey), cert: der.pem("CERTIFICATE", signed(tbs, nodeKey)) };
}

/** An ed25519 private key as PKCS#8 PEM (RFC 8410 section 7). */
export function privateKeyPem(key: KeyPair): string {
  requireEd25519(key, "key");
  const info = der.sequence(
    der.smallInteger(0),
    der.sequence(der.oid(OID_ED25519)),
    der.octetString(der.octetString(key.privateKey)),
  );
  return der.pem("PRIVATE KEY", info);
}

interface TbsInput {
  readonly serial: Uint8Array;
  readonly issuer: der.Der;
  readonly notBeforeMs: number;
  readonly notAfterMs: number;
  readonly subject: der.Der;
  readonly subjectKey: PublicKey;
  readonly extensions: readonly der.Der[];
}

function tbsCertificate(input: TbsInput): der.Der {
  assert(input.notBeforeMs <= input.notAfterMs, "certificate validity: notBefore after notAfter");
  return der.sequence(
    der.explicit(0, der.smallInteger(2)), // v3
    der.unsignedInteger(input.serial),
    der.sequence(der.oid(OID_ED25519)),
    input.issuer,
    der.sequence(der.time(input.notBeforeMs), der.time(input.notAfterMs)),
    input.subject,
    der.sequence(der.sequence(der.oid(OID_ED25519)), der.bitString(input.subjectKey.publicKey)),
    der.explicit(3, der.sequence(...input.extensions)),
  );
}

function signed(tbs: der.Der, issuerKey: KeyPair): der.Der {
  return der.sequence(tbs, der.sequence(der.oid(OID_ED25519)), der.bitString(sign(issuerKey, tbs)));
}

function extension(id: string, critical: boolean, value: der.Der): der.Der {
  return der.sequence(der.oid(id), ...(critical ? [der.boolean(true)] : []), der.octetString(value));
}

function distinguishedName(commonName: string): der.Der {
  return der.sequence(
    der.set(der.sequence(der.oid(OID_ORGANIZATION), der.utf8String("Treaty"))),
    der.set(der.sequence(der.oid(OID_COMMON_NAME), der.utf8String(commonName))),
  );
}

function serviceName(key: PublicKey): der.Der {
  return distinguishedName(`service ${hex(keyIdentifier(key)).slice(0, 16)}`);
}

function nodeName(key: PublicKey): der.Der {
  return distinguishedName(`node ${hex(keyIdentifier(key)).slice(0, 16)}`);
}

/** dNSName [2] for a host name, iPAddress [7] (4 or 16 bytes) for an address literal. */
function generalName(host: string): der.Der {
  const bare = host.replace(/^\[(.*)\]$/, "$1");
  const family = isIP(bare);
  if (family === 4) return der.implicitPrimitive(7, new Uint8Array(bare.split(".").map(Number)));
  if (family === 6) return der.implicitPrimitive(7, ipv6Bytes(bare));
  return der.implicitPrimitive(2, new TextEncoder().encode(host));
}

function ipv6Bytes(address: string): Uint8Array {
  const [head, tail] = address.includes("::") ? address.split("::") : [address, undefined];
  const words = (part: string | undefined) =>
    part ? part.split(":").map((w) => Number.parseInt(w, 16)) : [];
  const left = words(head);
  const right = words(tail);
  const all =
    tail === undefined ? left : [...left, ...new Array(8 - left.length - right.length).fill(0), ...right];
  assert(all.length === 8, "ipv6 address: eight groups");
  const out = new Uint8Array(16);
  all.forEach((w, i) => {
    out[2 * i] = w >> 8;
    out[2 * i + 1] = w & 0xff;
  });
  return out;
}

/** RFC 5280 4.2.1.2 method 1: SHA-1 of the public key bits (an identifier, not a security property). */
function keyIdentifier(key: PublicKey): Uint8Array {
  return new Uint8Array(createHash("sha1").update(key.publicKey).digest());
}

/** A positive 16-byte serial derived from `seed` (RFC 5280: at most 20 octets, positive). */
function serialFrom(seed: Uint8Array): Uint8Array {
  const digest = new Uint8Array(createHash("sha256").update(seed).digest()).subarray(0, 16);
  digest[0] = (digest[0]! & 0x7f) | 0x01;
  return digest;
}

function requireEd25519(key: PublicKey, what: string): void {
  if (key.curve !== "ed25519")
    throw new TypeError(`${what}: TLS certificates need an ed25519 key, got ${key.curve}`);
}

function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString("hex");
}

/**
 * The DER writer against known encodings, and the certificates it builds as OpenSSL (Node's
 * X509Certificate) reads and verifies them: an implementation we did not write.
 */
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { describe, it } from "node:test";
import * as der from "../../node/tls/der.js";
import {
  nodeTlsCredentials,
  privateKeyPem,
  provisionalTlsCredentials,
  serviceCertificate,
} from "../../node/tls/certificates.js";
import { isServiceCertificate } from "../../node/tls/client.js";
import { toHex } from "../../sdk/bytes.js";
import { generateKeyPair, keyPairFromPrivate } from "../../sdk/keys.js";
import { createPrivateKey, createPublicKey } from "node:crypto";

const hex = (d: Uint8Array) => toHex(d);

describe("DER writer", () => {
  it("encodes lengths, integers, OIDs and times as X.690 says", () => {
    assert.equal(hex(der.tlv(0x04, new Uint8Array(3))), "0403000000");
    assert.equal(hex(der.tlv(0x04, new Uint8Array(200))).slice(0, 6), "0481c8");
    assert.equal(hex(der.tlv(0x04, new Uint8Array(300))).slice(0, 8), "0482012c");
    assert.equal(hex(der.smallInteger(0)), "020100");
    assert.equal(hex(der.smallInteger(127)), "02017f");
    assert.equal(hex(der.smallInteger(128)), "02020080", "a leading zero keeps it positive");
    assert.equal(hex(der.unsignedInteger(new Uint8Array([0, 0, 1]))), "020101", "minimal");
    assert.equal(hex(der.oid("1.2.840.113549")), "06062a864886f70d");
    assert.equal(hex(der.oid("1.3.101.112")), "06032b6570");
    assert.equal(hex(der.oid("2.5.29.19")), "0603551d13");
    assert.equal(
      Buffer.from(der.time(Date.UTC(2026, 0, 2, 3, 4, 5)))
        .toString("latin1")
        .slice(2),
      "260102030405Z",
    );
    assert.equal(der.time(Date.UTC(2026, 0, 1))[0], 0x17, "UTCTime before 2050");
    assert.equal(der.time(Date.UTC(2050, 0, 1))[0], 0x18, "GeneralizedTime from 2050");
    assert.equal(hex(der.bitString(new Uint8Array([0x80]), 7)), "03020780");
    assert.equal(hex(der.boolean(true)), "0101ff");
  });

  it("writes an ed25519 private key Node reads as the same key", () => {
    const key = generateKeyPair();
    const parsed = createPrivateKey(privateKeyPem(key));
    const jwk = createPublicKey(parsed).export({ format: "jwk" });
    assert.equal(Buffer.from(jwk.x!, "base64url").toString("hex"), toHex(key.publicKey));
  });
});

describe("TLS certificates", () => {
  const service = generateKeyPair();
  const node = generateKeyPair();
  const validFromMs = Date.UTC(2026, 0, 1);
  const validToMs = Date.UTC(2036, 0, 1);

  it("the service certificate is a self-signed CA for the service key, the same from any node", () => {
    const pem = serviceCertificate(service);
    assert.equal(serviceCertificate(keyPairFromPrivate("ed25519", service.privateKey)), pem, "deterministic");
    const cert = new X509Certificate(pem);
    assert.ok(cert.ca);
    assert.ok(cert.verify(cert.publicKey));
    assert.ok(isServiceCertificate(cert, service));
    assert.ok(!isServiceCertificate(cert, generateKeyPair()), "not for another key");
    assert.equal(cert.validTo, "Dec 31 23:59:59 9999 GMT");
  });

  it("a node certificate is issued by the service certificate for the node key, valid as its endorsement", () => {
    const { cert, key } = nodeTlsCredentials({
      serviceKey: service,
      nodeKey: node,
      validFromMs,
      validToMs,
      host: "10.0.0.7",
    });
    const [leafPem, chainPem] = cert.split(/(?<=-----END CERTIFICATE-----\n)/);
    assert.equal(chainPem, serviceCertificate(service), "the chain carries the service certificate");
    const leaf = new X509Certificate(leafPem!);
    const ca = new X509Certificate(chainPem!);
    assert.ok(leaf.checkIssued(ca) && leaf.verify(ca.publicKey));
    assert.ok(!leaf.ca);
    assert.equal(new Date(leaf.validFrom).getTime(), validFromMs);
    assert.equal(new Date(leaf.validTo).getTime(), validToMs);
    assert.equal(leaf.subjectAltName, "IP Address:10.0.0.7");
    assert.ok(leaf.checkPrivateKey(createPrivateKey(key)));
    const other = new X509Certificate(serviceCertificate(generateKeyPair()));
    assert.ok(!leaf.verify(other.publicKey), "another service did not issue it");
    const named = nodeTlsCredentials({
      serviceKey: service,
      nodeKey: node,
      validFromMs,
      validToMs,
      host: "node1.example",
    });
    assert.equal(new X509Certificate(named.cert).subjectAltName, "DNS:node1.example");
    const v6 = nodeTlsCredentials({
      serviceKey: service,
      nodeKey: node,
      validFromMs,
      validToMs,
      host: "[::1]",
    });
    assert.equal(new X509Certificate(v6.cert).subjectAltName, "IP Address:0:0:0:0:0:0:0:1");
  });

  it("a provisional certificate is self-signed by the node key, not issued by the service", () => {
    const { cert } = provisionalTlsCredentials(node, validFromMs, "127.0.0.1");
    const x = new X509Certificate(cert);
    assert.ok(x.verify(x.publicKey));
    assert.ok(!x.verify(new X509Certificate(serviceCertificate(service)).publicKey));
  });

  it("refuses keys TLS cannot use here", () => {
    assert.throws(() => serviceCertificate(generateKeyPair("p256")), /ed25519/);
    assert.throws(
      () =>
        nodeTlsCredentials({
          serviceKey: service,
          nodeKey: generateKeyPair("secp256k1"),
          validFromMs,
          validToMs,
          host: "a",
        }),
      /ed25519/,
    );
  });
});

/**
 * A throwaway PKI for tests of NATS over TLS, made with the `openssl` command (Debian's
 * package): a CA, certificates it signs for servers (loopback SANs, server and client use, so a
 * server can also dial routes with it) and for clients. Everything lives in `dir`, which the
 * caller owns and removes. Keys are P-256; certificates are valid for one day.
 */
import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";

export interface CertificateFiles {
  readonly certFile: string;
  readonly keyFile: string;
}

export interface TestCa {
  /** The CA certificate (PEM), the `ca_file` of servers and clients that trust this CA. */
  readonly caFile: string;
  /** A certificate for 127.0.0.1 / localhost, usable by servers and for routes. */
  issueServer(name: string): CertificateFiles;
  /** A client certificate with common name `name`. */
  issueClient(name: string): CertificateFiles;
}

/** `openssl req` arguments for a new unencrypted P-256 key. */
const NEW_P256_KEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];

/** Creates a CA named `name` in `dir`. Throws when openssl is missing or fails. */
export function createTestCa(dir: string, name: string): TestCa {
  const caKey = join(dir, `${name}-ca.key`);
  const caFile = join(dir, `${name}-ca.pem`);
  openssl([
    "req",
    "-x509",
    ...NEW_P256_KEY,
    "-keyout",
    caKey,
    "-out",
    caFile,
    "-days",
    "1",
    "-subj",
    `/CN=${name} test CA`,
    "-addext",
    "basicConstraints=critical,CA:TRUE",
    "-addext",
    "keyUsage=critical,keyCertSign,cRLSign",
  ]);
  const issue = (cn: string, extensions: string): CertificateFiles => {
    const keyFile = join(dir, `${name}-${cn}.key`);
    const csr = join(dir, `${name}-${cn}.csr`);
    const certFile = join(dir, `${name}-${cn}.pem`);
    const ext = join(dir, `${name}-${cn}.ext`);
    writeFileSync(ext, extensions);
    openssl(["req", ...NEW_P256_KEY, "-keyout", keyFile, "-out", csr, "-subj", `/CN=${cn}`]);
    openssl([
      "x509",
      "-req",
      "-in",
      csr,
      "-CA",
      caFile,
      "-CAkey",
      caKey,
      "-CAcreateserial",
      "-out",
      certFile,
      "-days",
      "1",
      "-extfile",
      ext,
    ]);
    return { certFile, keyFile };
  };
  return {
    caFile,
    issueServer: (cn) =>
      issue(
        cn,
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\nkeyUsage=digitalSignature\n",
      ),
    issueClient: (cn) => issue(cn, "extendedKeyUsage=clientAuth\nkeyUsage=digitalSignature\n"),
  };
}

function openssl(args: readonly string[]): void {
  try {
    execFileSync("openssl", args, { stdio: ["ignore", "ignore", "pipe"] });
  } catch (err) {
    const stderr = (err as { stderr?: Buffer }).stderr?.toString("utf8") ?? "";
    throw new Error(`openssl ${args[0]} failed: ${(err as Error).message}\n${stderr}`);
  }
}

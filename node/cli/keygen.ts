/** `treaty keygen`: writes a new identity key file (members, users, nodes). */
import { existsSync, writeFileSync } from "node:fs";
import { fromHex } from "../../sdk/bytes.js";
import { ethereumAddress } from "../../sdk/ethereum.js";
import { CURVES, generateKeyPair, isCurve, toKeyFile } from "../../sdk/keys.js";
import { generateEncryptionKeyPair, toEncryptionKeyFile } from "../../sdk/recovery.js";
import { type Command, EXIT_OK, parseFlags, printJson, UsageError } from "./command.js";

export const keygenCommand: Command = {
  path: ["keygen"],
  summary: "create an identity key file (ed25519, p256 or secp256k1)",
  usage: `Usage: treaty keygen --out <file> [--curve ed25519|p256|secp256k1] [--encryption] [--force]

Writes a JSON key file {curve, id, publicKey, privateKey} (mode 0600) and prints
{"id", "curve", "publicKey", "address"?, "file"}. The id is derived from the public key; a
secp256k1 key also prints its Ethereum address (for set_member {address} and --wallet).
  --out <file>     where to write the key file (required)
  --curve <name>   ${CURVES.join(" | ")} (default ed25519)
  --encryption     also an x25519 encryption key for a member's recovery share: the file gets
                   "encryption": {publicKey, privateKey} and the output "encryptionKey" (the
                   value for set_member's or genesis members' encryptionKey)
  --force          overwrite an existing file`,
  async run(argv) {
    const { values } = parseFlags(
      argv,
      {
        out: { type: "string" },
        curve: { type: "string", default: "ed25519" },
        force: { type: "boolean", default: false },
        encryption: { type: "boolean", default: false },
      },
      false,
    );
    if (!values.out) throw new UsageError("--out <file> is required");
    if (!isCurve(values.curve)) throw new UsageError(`--curve: expected one of ${CURVES.join(", ")}`);
    if (existsSync(values.out) && !values.force)
      throw new UsageError(`${values.out} exists (use --force to overwrite)`);
    const file = toKeyFile(generateKeyPair(values.curve));
    const encryption = values.encryption ? toEncryptionKeyFile(generateEncryptionKeyPair()) : undefined;
    const content = encryption === undefined ? file : { ...file, encryption };
    writeFileSync(values.out, `${JSON.stringify(content, null, 2)}\n`, { mode: 0o600 });
    printJson({
      id: file.id,
      curve: file.curve,
      publicKey: file.publicKey,
      ...(file.curve === "secp256k1" && { address: ethereumAddress(fromHex(file.publicKey)) }),
      ...(encryption !== undefined && { encryptionKey: encryption.publicKey }),
      file: values.out,
    });
    return EXIT_OK;
  },
};

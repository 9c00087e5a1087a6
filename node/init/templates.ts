/**
 * The files `treaty init` writes: a contract project that type-checks, tests and builds at once
 * (`npm test`, `npm run build`). The sample is a supply-chain registry: products with an owner,
 * and each product's transfers in order under tuple keys `[productId, sequence]`.
 */

export const CONTRACT_DIR = "contracts/registry";

const CONTRACT = `/**
 * A supply-chain registry: users register products and transfer them; each product's history is
 * one prefix range of the tuple-keyed map \`transfers\`. Compile it with \`npx treaty contract build
 * ${CONTRACT_DIR}\`; test it with \`npm test\`.
 */
import { ContractError, caller, contract, map, method, now, t } from "treaty/contract";

export interface Product {
  readonly name: string;
  readonly owner: string;
  readonly transfers: number;
}

export interface Transfer {
  readonly from: string;
  readonly to: string;
  readonly atMs: number;
}

/** Products by id. Public: anyone holding the ledger can audit them. */
export const products = map<string, Product>("products", { public: true });
/** Each product's transfers, keyed [productId, sequence number] (1, 2, ...). */
export const transfers = map<[string, number], Transfer>("transfers", { key: ["string", "number"] });

const productId = t.string({ minLength: 1, maxLength: 64, pattern: "^[A-Za-z0-9_-]+$" });

function me(): string {
  const who = caller();
  if (who === null) throw new ContractError("Unauthenticated", "sign the call");
  return who.id;
}

function product(id: string): Product {
  const found = products.get(id);
  if (found === undefined) throw new ContractError("ProductNotFound", \`no product \${id}\`);
  return found;
}

export default contract({
  register: method({
    mode: "readwrite",
    auth: "users",
    args: { id: productId, name: t.string({ minLength: 1, maxLength: 200 }) },
    description: "Registers a product owned by the caller.",
    run: ({ id, name }) => {
      if (products.has(id)) throw new ContractError("ProductExists", \`product \${id} is already registered\`);
      products.set(id, { name, owner: me(), transfers: 0 });
    },
  }),
  transfer: method({
    mode: "readwrite",
    auth: "users",
    args: { id: productId, to: t.string({ minLength: 1, maxLength: 128 }) },
    description: "Transfers a product the caller owns.",
    run: ({ id, to }) => {
      const current = product(id);
      const from = me();
      if (current.owner !== from) throw new ContractError("NotOwner", \`\${id} belongs to \${current.owner}\`);
      const seq = current.transfers + 1;
      transfers.set([id, seq], { from, to, atMs: now() });
      products.set(id, { ...current, owner: to, transfers: seq });
      return { seq };
    },
  }),
  product: method({
    mode: "readonly",
    auth: "users",
    args: { id: productId },
    run: ({ id }) => product(id),
  }),
  history: method({
    mode: "readonly",
    auth: "users",
    args: { id: productId },
    description: "The product's transfers, oldest first.",
    run: ({ id }) => [...transfers.range({ prefix: [id] })].map(([[, seq], transfer]) => ({ seq, ...transfer })),
  }),
});
`;

const TEST = `import { assert, describe, it, testContract, user } from "treaty/testing";
import registry, { products, transfers } from "../${CONTRACT_DIR}/index.js";

const acme = { caller: user("acme") };
const shipper = { caller: user("shipper") };

describe("registry", () => {
  it("registers a product and keeps its transfers in order", () => {
    const c = testContract(registry, { name: "registry" });
    assert.equal(c.call("register", { id: "p1", name: "Pallet" }, acme).ok, true);
    const first = c.call("transfer", { id: "p1", to: "shipper" }, acme);
    assert.deepEqual(first.ok && first.result, { seq: 1 });
    assert.equal(c.call("transfer", { id: "p1", to: "acme" }, shipper).ok, true);

    const history = c.call("history", { id: "p1" }, acme);
    assert.deepEqual(
      history.ok && history.result.map((t) => \`\${t.seq}:\${t.from}->\${t.to}\`),
      ["1:acme->shipper", "2:shipper->acme"],
    );
    // State through the contract's own declarations, typed.
    assert.equal(c.map(products).get("p1")?.owner, "acme");
    assert.deepEqual(c.map(transfers).keys({ prefix: ["p1"] }), [["p1", 1], ["p1", 2]]);
  });

  it("refuses a transfer by someone who does not own the product", () => {
    const c = testContract(registry, { name: "registry" });
    c.map(products).set("p2", { name: "Crate", owner: "acme", transfers: 0 }); // seeded state
    const r = c.call("transfer", { id: "p2", to: "mallory" }, shipper);
    assert.equal(!r.ok && r.error.code, "NotOwner");
    assert.equal(c.call("product", { id: "nope" }, acme).ok, false);
  });
});
`;

const TSCONFIG = `{
  "compilerOptions": {
    "target": "ES2022",
    "lib": ["ES2022"],
    "types": [],
    "module": "NodeNext",
    "moduleResolution": "NodeNext",
    "strict": true,
    "skipLibCheck": true,
    "noEmitOnError": true,
    "outDir": "dist",
    "rootDir": "."
  },
  "include": ["contracts", "test"]
}
`;

const GITIGNORE = `node_modules/
dist/
.treaty-state/
workspace/
`;

const README = `# Treaty contract project

- \`${CONTRACT_DIR}/index.ts\`: the contract (see node_modules/treaty/docs/contracts.md).
- \`test/\`: its tests, run in plain Node with \`treaty/testing\`.

\`\`\`sh
npm test                                   # treaty test: type-check, compile the contracts, run the tests
npx treaty contract build ${CONTRACT_DIR}  # the digest and manifest a node would see
npx treaty dev                             # a local network (keys in ./workspace); keep it running
\`\`\`

Then, in another terminal: propose the contract, accept it as member0 (the only member of
\`treaty dev\`; a proposal stays "Open" until the members' votes accept it), and call it as user0:

\`\`\`sh
npx treaty deploy ${CONTRACT_DIR} --key workspace/member0.json --service workspace/service.json   # prints its proposalId
npx treaty vote <proposalId> --for --key workspace/member0.json --service workspace/service.json --wait
npx treaty call registry register --args '{"id": "p1", "name": "Pallet"}' \\
  --key workspace/user0.json --service workspace/service.json --wait
\`\`\`
`;

/** Relative path → content of every file `treaty init` writes (package.json is merged separately). */
export const PROJECT_FILES: Readonly<Record<string, string>> = {
  [`${CONTRACT_DIR}/index.ts`]: CONTRACT,
  "test/registry.test.ts": TEST,
  "tsconfig.json": TSCONFIG,
  ".gitignore": GITIGNORE,
  "README.md": README,
};

/** The scripts `treaty init` adds to package.json (existing scripts of those names are kept, except npm's placeholder test script: node/cli/init.ts). */
export const SCRIPTS: Readonly<Record<string, string>> = {
  test: "treaty test",
  build: `treaty contract build ${CONTRACT_DIR}`,
};

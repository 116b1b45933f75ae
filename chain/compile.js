// Compile contracts/LiveTestToken.sol with solc-js (offline) into LiveTestToken.json: the ABI and
// the deployment bytecode the tests use. Regenerate with `npm run compile` in this folder; the
// output is committed so the tests need no compiler. evmVersion paris: accepted by every local
// node we tried (see NOTES-dependencies).
const fs = require("fs");
const path = require("path");
const solc = require("solc");

const file = "LiveTestToken.sol";
const input = {
  language: "Solidity",
  sources: { [file]: { content: fs.readFileSync(path.join(__dirname, "contracts", file), "utf8") } },
  settings: {
    evmVersion: "paris",
    optimizer: { enabled: true, runs: 200 },
    outputSelection: { "*": { LiveTestToken: ["abi", "evm.bytecode.object"] } },
  },
};
const out = JSON.parse(solc.compile(JSON.stringify(input)));
const errors = (out.errors || []).filter((e) => e.severity === "error");
if (errors.length) {
  for (const e of errors) console.error(e.formattedMessage);
  process.exit(1);
}
const c = out.contracts[file].LiveTestToken;
const artifact = {
  contract: "LiveTestToken",
  compiler: `solc-js ${solc.version()}`,
  evmVersion: "paris",
  command: "cd chain && npm ci && npm run compile",
  abi: c.abi,
  bytecode: "0x" + c.evm.bytecode.object,
};
fs.writeFileSync(path.join(__dirname, "LiveTestToken.json"), JSON.stringify(artifact, null, 2) + "\n");
console.log(`LiveTestToken.json written (${c.evm.bytecode.object.length / 2} bytes of bytecode)`);

// Bundles the page modules that use npm packages into static/ (committed, embedded in the
// server binary at compile time; nothing is fetched at run time).
//   node build.mjs          write the bundles (static/studio.js)
//   node build.mjs --check  fail if the committed bundle differs from a fresh build
import { build } from "esbuild";
import { readFileSync, writeFileSync } from "node:fs";

const bundles = [{ entry: "src/studio.js", out: "static/studio.js" }];
const check = process.argv.includes("--check");
let stale = 0;
for (const { entry, out } of bundles) {
  const result = await build({
    entryPoints: [entry],
    bundle: true,
    minify: true,
    format: "esm",
    target: "es2022",
    legalComments: "eof",
    write: false,
    logLevel: "warning",
  });
  const text = result.outputFiles[0].contents;
  if (check) {
    const committed = readFileSync(out);
    if (Buffer.compare(Buffer.from(text), committed) !== 0) {
      console.error(`${out} is not what ${entry} builds: run \`npm run build\` in server/web`);
      stale++;
    }
  } else {
    writeFileSync(out, text);
    console.log(`${out}: ${text.length} bytes`);
  }
}
process.exit(stale ? 1 : 0);

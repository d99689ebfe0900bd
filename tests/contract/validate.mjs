// Parse AsyncAPI documents with the official parser; exit 1 on any error or warning.
import { Parser } from "@asyncapi/parser";
import { readFileSync } from "node:fs";

const parser = new Parser();
const severities = ["error", "warning", "info", "hint"];
let failed = false;
for (const file of process.argv.slice(2)) {
  const { document, diagnostics } = await parser.parse(readFileSync(file, "utf8"));
  for (const d of diagnostics) {
    console.log(`${file}: ${severities[d.severity]} ${d.code}: ${d.message} at ${JSON.stringify(d.path)}`);
  }
  if (!document || diagnostics.some((d) => d.severity <= 1)) failed = true;
  else console.log(`${file}: AsyncAPI ${document.version()}, ${document.allMessages().length} messages`);
}
process.exit(failed ? 1 : 0);

// Generate TypeScript models from AsyncAPI documents with Modelina, as an integrator would;
// print, per document, the names of the models it wrote code for, as one JSON object.
import { TypeScriptGenerator } from "@asyncapi/modelina";
import { readFileSync } from "node:fs";

const generator = new TypeScriptGenerator();
const names = {};
for (const file of process.argv.slice(2)) {
  const models = await generator.generate(JSON.parse(readFileSync(file, "utf8")));
  names[file] = models.filter((model) => model.result.trim() !== "").map((model) => model.modelName);
}
console.log(JSON.stringify(names));

// Reads a functions listing (JSON) on stdin; prints the console's field kind of every parameter.
import { fieldKind, resolveSchema } from "../../runtime/console/schema-form.js";

let input = "";
for await (const chunk of process.stdin) input += chunk;
const functions = JSON.parse(input);
const kinds = {};
for (const [name, spec] of Object.entries(functions)) {
  kinds[name] = {};
  for (const param of spec.order) {
    const schema = spec.params[param];
    const { nullable } = resolveSchema(schema);
    kinds[name][param] = { kind: fieldKind(schema), nullable, required: !("default" in schema) };
  }
}
process.stdout.write(JSON.stringify(kinds));

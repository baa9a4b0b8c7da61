// Validates an AsyncAPI document with the AsyncAPI parser (the library the
// AsyncAPI CLI validates with, without the CLI's usage metrics): every
// $ref resolved from the file, no diagnostic of severity error.
import { Parser, fromFile } from '@asyncapi/parser';
import { DiagnosticSeverity } from '@asyncapi/parser';

const file = process.argv[2];
const { document, diagnostics } = await fromFile(new Parser(), file).parse();
let errors = 0;
for (const d of diagnostics) {
  const level = d.severity === DiagnosticSeverity.Error ? 'error' : d.severity === DiagnosticSeverity.Warning ? 'warning' : 'info';
  if (level === 'error') errors++;
  console.log(`${level} ${d.code} at ${d.path.join('/')}: ${d.message}`);
}
if (errors > 0 || document === undefined) {
  console.log(`${file}: ${errors} errors`);
  process.exit(1);
}
console.log(`${file}: valid AsyncAPI ${document.version()}, ${document.channels().length} channels, ${document.messages().length} messages`);

// Parses and analyses Kusto queries with Microsoft's Kusto.Language, one JSON request per stdin line.
// Started once per test session (loading the library takes ~0.2 s; a query ~3 ms).
//   {"op":"schema","tables":{"T":"(a:string, ...)"},"functions":{"f":["(x:string)","{ datatable(...)[] }"]}}
//   {"op":"analyze","query":"T | where ..."}  -> {"diagnostics":[{"severity","code","message","start"}],
//                                                 "columns":[names of the result's columns, if a table]}
//   {"op":"reserved"}                          -> {"words":[...]} keywords that cannot be names
"use strict";
require("@kusto/language-service-next/bridge.min.js");
require("@kusto/language-service-next/Kusto.Language.Bridge.min.js");
const readline = require("readline");

const K = Kusto.Language;
const S = K.Symbols;
let globals = K.GlobalState.Default;

function schema(request) {
  const symbols = [];
  for (const [name, columns] of Object.entries(request.tables)) {
    symbols.push(new S.TableSymbol.$ctor7(name, columns, null));
  }
  for (const [name, [params, body]] of Object.entries(request.functions || {})) {
    symbols.push(new S.FunctionSymbol.$ctor16(name, params, body, null));
  }
  globals = K.GlobalState.Default.WithDatabase(new S.DatabaseSymbol.ctor("db", symbols));
  return { ok: true };
}

function analyze(request) {
  const code = K.KustoCode.ParseAndAnalyze(request.query, globals);
  const diagnostics = Bridge.toArray(code.GetDiagnostics()).map((d) => ({
    severity: d.Severity,
    code: d.Code,
    message: d.Message,
    start: d.Start,
  }));
  const result = code.ResultType;
  const columns = result && result.Columns ? Bridge.toArray(result.Columns).map((c) => c.Name) : null;
  return { diagnostics, columns };
}

function reserved() {
  const facts = K.Syntax.SyntaxFacts;
  const words = new Set();
  for (const value of Object.values(K.Syntax.SyntaxKind)) {
    if (typeof value !== "number" || !facts.IsKeyword(value) || facts.CanBeIdentifier(value)) continue;
    const text = facts.GetText(value);
    if (text && /^[A-Za-z_][A-Za-z0-9_]*$/.test(text)) words.add(text);
  }
  return { words: [...words].sort() };
}

const handlers = { schema, analyze, reserved };
readline.createInterface({ input: process.stdin }).on("line", (line) => {
  let reply;
  try {
    const request = JSON.parse(line);
    reply = handlers[request.op](request);
  } catch (e) {
    reply = { error: String(e) };
  }
  process.stdout.write(JSON.stringify(reply) + "\n");
});

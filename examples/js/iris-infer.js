// Iris inference as a JS component (world cocos:computation/inference): loads model.json (written by
// the C iris-train) from /datasets once per instance and classifies one JSON request per call.
import { listDatasets } from "cocos:computation/datasets@0.1.0";
import { preopen, readText } from "./wasi-files.js";

const FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"];
let model;

function loadModel() {
  // The host lists the computation's datasets; a local run (`bun run wasm -- run --dir …`) may list
  // none, so model.json is then looked up in /datasets directly.
  const names = listDatasets().map((d) => d.name);
  const name = names.includes("model.json") ? "model.json" : (names.filter((n) => n.endsWith(".json")).sort()[0] ?? "model.json");
  let text;
  try {
    text = readText(preopen("/datasets"), name);
  } catch (e) {
    throw `no model: expected ${name} in /datasets (datasets listed: [${names.join(", ")}]): ${e?.message ?? e}`;
  }
  const m = JSON.parse(text);
  if (!Array.isArray(m.layers) || !Array.isArray(m.classes)) throw `model ${name}: expected "layers" and "classes" arrays`;
  return m;
}

export function infer(input) {
  let req;
  try {
    req = JSON.parse(input);
  } catch (e) {
    throw `invalid input JSON: ${e.message}`;
  }
  if (typeof req !== "object" || req === null || Array.isArray(req)) throw `invalid input: expected a JSON object, got ${input}`;
  let x = FEATURES.map((f) => {
    if (!(f in req)) throw `invalid input: missing field \`${f}\``;
    if (typeof req[f] !== "number") throw `invalid input: field \`${f}\` must be a number`;
    return Math.fround(req[f]);
  });
  model ??= loadModel();
  for (const layer of model.layers) {
    if (layer.weight.length !== x.length) throw `model layer ${layer.name}: expected ${x.length} weight rows, got ${layer.weight.length}`;
    const y = layer.bias.slice();
    x.forEach((xi, i) => layer.weight[i].forEach((w, j) => { y[j] += xi * w; }));
    x = layer.activation === "relu" ? y.map((v) => (v < 0 ? 0 : v)) : y;
  }
  let arg = 0;
  for (let k = 1; k < x.length; k++) if (x[k] > x[arg]) arg = k;
  return model.classes[arg];
}

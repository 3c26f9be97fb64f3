import { existsSync, readFileSync, readdirSync } from "node:fs";
import { dirname, join, normalize, relative } from "node:path";

const ROOT = join(__dirname, "..", "..");

/**
 * The layers of README's map, from the ground up: a file may import its own layer and the
 * ones below it, never one above. Tools never ship, so no product file may import them.
 */
const LAYERS: readonly (readonly string[])[] = [
  ["supported-node.ts", "domain/"],
  ["adapters/"],
  ["config.ts", "middlewares/", "tracing/"],
  ["mixins/", "moleculer.config.ts"],
  ["services/"],
  ["node.ts"],
  ["main.ts", "repl/"],
  ["tools/"],
];

function layerOf(file: string): number {
  const layer = LAYERS.findIndex((members) => members.some((member) => (member.endsWith("/") ? file.startsWith(member) : file === member)));
  if (layer === -1) throw new Error(`${file} is on no layer of README's map`);
  return layer;
}

function sourcesUnder(folder: string): string[] {
  return readdirSync(join(ROOT, folder), { recursive: true, encoding: "utf8" })
    .filter((file) => file.endsWith(".ts"))
    .map((file) => join(folder, file));
}

const files = [
  ...readdirSync(ROOT).filter((file) => file.endsWith(".ts")),
  ...["domain", "adapters", "middlewares", "tracing", "mixins", "services", "repl", "tools"].flatMap(sourcesUnder),
];

const SPECIFIER = /(?:^|\n)\s*(?:import|export)\b[^;]*?\bfrom\s+"([^"]+)"|(?:^|\n)\s*import\s+"([^"]+)"|\b(?:require|import)\("([^"]+)"\)/g;

/** What a file imports: the project's files by path from the root, the packages by name. */
function importsOf(file: string): { local: string[]; packages: string[] } {
  const local: string[] = [];
  const packages: string[] = [];
  for (const match of readFileSync(join(ROOT, file), "utf8").matchAll(SPECIFIER)) {
    const specifier = match[1] ?? match[2] ?? match[3]!;
    if (!specifier.startsWith(".")) {
      packages.push(specifier);
      continue;
    }
    const base = normalize(join(dirname(file), specifier));
    const target = [`${base}.ts`, join(base, "index.ts")].find((candidate) => existsSync(join(ROOT, candidate)));
    if (!target) throw new Error(`${file} imports ${specifier}, which is no TypeScript file`);
    local.push(relative(".", target));
  }
  return { local, packages };
}

const graph = new Map(files.map((file) => [file, importsOf(file)]));

describe("the layers of the code", () => {
  it("places every TypeScript file outside test/ on a layer", () => {
    const outsideTests = readdirSync(ROOT, { recursive: true, encoding: "utf8" }).filter(
      (file) => file.endsWith(".ts") && !/^(node_modules|dist|coverage|test|test-artifacts|data)\//.test(file),
    );
    expect([...files].sort()).toEqual(outsideTests.sort());
    for (const file of files) expect(() => layerOf(file)).not.toThrow();
  });

  it("has no import that runs up a layer", () => {
    const upward = [...graph].flatMap(([file, { local }]) => local.filter((target) => layerOf(target) > layerOf(file)).map((target) => `${file} -> ${target}`));
    expect(upward).toEqual([]);
  });

  it("keeps the domain pure: it imports only the domain, no package and no Node module", () => {
    const outside = [...graph]
      .filter(([file]) => file.startsWith("domain/"))
      .flatMap(([file, { local, packages }]) =>
        [...local.filter((target) => !target.startsWith("domain/")), ...packages].map((target) => `${file} -> ${target}`),
      );
    expect(outside).toEqual([]);
  });

  it("keeps Moleculer out of the adapters: they are chosen by the services, not tied to them", () => {
    const tied = [...graph]
      .filter(([file, { packages }]) => file.startsWith("adapters/") && packages.some((name) => name.startsWith("moleculer")))
      .map(([file]) => file);
    expect(tied).toEqual([]);
  });

  it("has no import cycle", () => {
    const cycles: string[] = [];
    const state = new Map<string, "visiting" | "done">();
    const visit = (file: string, path: string[]) => {
      if (state.get(file) === "done") return;
      if (state.get(file) === "visiting") {
        cycles.push([...path.slice(path.indexOf(file)), file].join(" -> "));
        return;
      }
      state.set(file, "visiting");
      for (const target of graph.get(file)?.local ?? []) visit(target, [...path, file]);
      state.set(file, "done");
    };
    for (const file of graph.keys()) visit(file, []);
    expect(cycles).toEqual([]);
  });
});

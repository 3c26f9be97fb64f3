import { existsSync } from "node:fs";
import { dirname, join } from "node:path";

/** The folder of package.json, found from a compiled (dist/...) or a source file alike. */
export function projectRoot(from: string = __dirname): string {
  for (let folder = from; ; folder = dirname(folder)) {
    if (existsSync(join(folder, "package.json"))) return folder;
    if (dirname(folder) === folder) throw new Error(`no package.json above ${from}`);
  }
}

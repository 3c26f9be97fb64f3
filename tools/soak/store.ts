import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createScratchDatabase } from "../../adapters/postgres-databases";
import { LOCAL_POSTGRES } from "../cluster/cluster-store";

/** The event store of one soak run, made for it and removed after it. */
export interface SoakStore {
  url: string;
  /** What it is, for the first line of the run; a warning when it is the fallback. */
  note: string;
  warning: boolean;
  dispose(): Promise<void>;
}

export type SoakStoreChoice = "sqlite" | "postgres" | undefined;

export function soakStoreChoice(value: string | undefined): SoakStoreChoice {
  if (value === undefined || value === "") return undefined;
  if (value === "sqlite" || value === "postgres") return value;
  throw new Error(`SOAK_STORE=${value}: expected sqlite or postgres`);
}

/**
 * PostgreSQL (a scratch database on `serverUrl`, dropped after) when chosen or when it answers;
 * SQLite (a fresh file) when chosen, or with a warning when PostgreSQL was not chosen and does
 * not answer. PostgreSQL chosen and not answering is an error.
 */
export async function createSoakStore(choice: SoakStoreChoice, serverUrl = `${LOCAL_POSTGRES}/postgres`): Promise<SoakStore> {
  let why = "";
  if (choice !== "sqlite") {
    try {
      const database = await createScratchDatabase(serverUrl, "glitchbuster_soak");
      return { url: database.url, note: `event store: PostgreSQL, scratch database ${database.url}`, warning: false, dispose: () => database.drop() };
    } catch (error) {
      if (choice === "postgres")
        throw new Error(`SOAK_STORE=postgres, and PostgreSQL does not answer on ${serverUrl}: ${(error as Error).message}`, { cause: error });
      why = `PostgreSQL does not answer on ${serverUrl} (${(error as Error).message}): `;
    }
  }
  const dir = mkdtempSync(join(tmpdir(), "glitchbuster-soak-"));
  const url = `sqlite:${join(dir, "events.db")}`;
  return {
    url,
    note:
      choice === "sqlite" ? `event store: ${url} (SOAK_STORE=sqlite)` : `${why}the soak runs on one SQLite file, ${url}; start PostgreSQL or set SOAK_STORE`,
    warning: choice !== "sqlite",
    dispose: async () => rmSync(dir, { recursive: true, force: true }),
  };
}

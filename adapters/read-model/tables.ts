import { randomBytes } from "node:crypto";
import type { RebuildState, RebuildStatus } from "./port";

/** The tables of one view: the one served, the one a rebuild fills, and their counts. */
export interface TableNames {
  live: string;
  liveCounts: string;
  next: string;
  nextCounts: string;
}

export function tableNames(view: string): TableNames {
  return { live: `${view}_view`, liveCounts: `${view}_view_counts`, next: `${view}_view_next`, nextCounts: `${view}_view_next_counts` };
}

/** A tag for the names of one build's indexes and constraints (names are per schema, and survive a rename). */
export function suffix(): string {
  return randomBytes(4).toString("hex");
}

type Integer = bigint | string | number;

/** A row of the `projections` table, as SQLite (bigints) or PostgreSQL (strings) hands it back. */
export interface ProjectionRow {
  name: string;
  position: Integer;
  rebuild_status: string | null;
  rebuild_owner: string | null;
  rebuild_position: Integer | null;
  rebuild_first: Integer | null;
  rebuild_target: Integer | null;
  rebuild_started_at: string | null;
  rebuild_finished_at: string | null;
  rebuild_heartbeat_at: Integer | null;
  rebuild_error: string | null;
  /** Milliseconds since the epoch until which the table served is sealed for a swap. */
  sealed_until: Integer;
}

const STATUSES: readonly RebuildStatus[] = ["rebuilding", "done", "failed", "interrupted"];

export function projectionRowToState(row: ProjectionRow): RebuildState | undefined {
  const status = STATUSES.find((known) => known === row.rebuild_status);
  if (!status) return undefined;
  return {
    status,
    owner: row.rebuild_owner ?? "",
    position: BigInt(row.rebuild_position ?? 0),
    first: row.rebuild_first === null ? null : BigInt(row.rebuild_first),
    target: BigInt(row.rebuild_target ?? 0),
    startedAt: row.rebuild_started_at ?? "",
    finishedAt: row.rebuild_finished_at,
    heartbeatAt: Number(row.rebuild_heartbeat_at ?? 0),
    error: row.rebuild_error,
  };
}

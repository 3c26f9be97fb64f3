/**
 * Every read model a route serves, by the name routes and the REPL use, with the service
 * that keeps it (and answers `<service>.projection` and `<service>.rebuildProjection`).
 */
export const PROJECTIONS = {
  orders: { service: "orders" },
  "dead-letters": { service: "dlq" },
  sagas: { service: "orchestrator" },
} as const;

export type ProjectionName = keyof typeof PROJECTIONS;

export function isProjectionName(name: string): name is ProjectionName {
  return Object.hasOwn(PROJECTIONS, name);
}

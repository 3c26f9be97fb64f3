import { sagaStartedV2, sagaStartedV3 } from "./order-saga";

/**
 * Versioned events: code changes while history stays. Every stored event records the schema
 * version of its data (`metadata.schemaVersion`; none recorded means version 1), and the store
 * lifts what it reads to the version the code knows, so deciders and views only ever see the
 * current shape of each event type.
 *
 * To change the shape of an event type: write the upcaster from its current version to the
 * next beside its decider (pure, data in, data out) and append it to the type's chain below;
 * the type's current version is one more than its number of upcasters.
 */

/** An event's data as it is stored: a JSON object. */
export type EventPayload = Readonly<Record<string, unknown>>;

/** Lifts the data of one event type from version n to n + 1: pure, no I/O, no clock. */
export type Upcaster = (data: EventPayload) => EventPayload;

/** A version that this code cannot read: written by newer code, or not a version at all. */
export class UnknownSchemaVersion extends Error {
  override readonly name = "UnknownSchemaVersion";
  constructor(
    readonly type: string,
    readonly version: unknown,
    readonly currentVersion: number,
  ) {
    super(`${type} at schema version ${JSON.stringify(version)}: this code reads versions 1 to ${currentVersion} of it`);
  }
}

/** The upcasters of every event type, each chain in version order; a type without one is at version 1. */
export class UpcasterRegistry {
  /** A map, not the object given: a type named like a property of every object ("constructor") has no upcaster either. */
  private readonly chains: ReadonlyMap<string, readonly Upcaster[]>;

  constructor(chains: Readonly<Record<string, readonly Upcaster[]>>) {
    this.chains = new Map(Object.entries(chains));
  }

  /** The version of `type` that this code writes. */
  currentVersion(type: string): number {
    return (this.chains.get(type)?.length ?? 0) + 1;
  }

  /**
   * `data`, written at `version`, lifted one version at a time to the current one; `data`
   * itself when it is current.
   * @throws UnknownSchemaVersion when `version` is not an integer from 1 to the current version.
   */
  upcast(type: string, version: number, data: EventPayload): EventPayload {
    const chain = this.chains.get(type) ?? [];
    if (!Number.isInteger(version) || version < 1 || version > chain.length + 1) throw new UnknownSchemaVersion(type, version, chain.length + 1);
    return chain.slice(version - 1).reduce((lifted, upcaster) => upcaster(lifted), data);
  }
}

/** The event types whose shape changed, and how each old shape reads today. */
export const EVENT_UPCASTERS = new UpcasterRegistry({
  SagaStarted: [sagaStartedV2, sagaStartedV3],
});

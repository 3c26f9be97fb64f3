import {
  AppendListener,
  AppendOptions,
  AppendResult,
  EventData,
  EventSchemas,
  EventStore,
  Lease,
  ReadAllOptions,
  ReadOptions,
  RecordedEvent,
  UnreadableEvent,
} from "./port";

/**
 * Any adapter, its events versioned (EventMetadata.schemaVersion): an append records the
 * version of each event that the code writes, and every read (a stream, the global log,
 * whatever the adapter serves it from: SQLite's recent events too) lifts older events to the
 * current version, so readers never see an old shape. index.ts wraps every adapter it builds.
 *
 * The version is set here, the one place every append passes (aggregates, checkpoints, the
 * DLQ...), and always to the current one: the code only writes current shapes, and metadata
 * copied from another event must not carry that event's version along.
 *
 * An event already at its current version is handed on as the adapter returned it, never
 * copied (SQLite shares its recent events, frozen, between readers); an older one becomes a
 * new event, its data lifted and its schemaVersion the current one.
 */
export class VersionedEventStore implements EventStore {
  constructor(
    private readonly adapter: EventStore,
    private readonly schemas: EventSchemas,
  ) {}

  append(stream: string, events: readonly EventData[], options: AppendOptions): Promise<AppendResult> {
    return this.adapter.append(
      stream,
      events.map((event) => ({ ...event, metadata: { ...event.metadata, schemaVersion: this.schemas.currentVersion(event.type) } })),
      options,
    );
  }

  async read(stream: string, options?: ReadOptions): Promise<RecordedEvent[]> {
    return (await this.adapter.read(stream, options)).map((event) => this.current(event));
  }

  async readAll(options?: ReadAllOptions): Promise<RecordedEvent[]> {
    return (await this.adapter.readAll(options)).map((event) => this.current(event));
  }

  /** @throws UnreadableEvent when its version is newer than the code knows, or none at all. */
  private current(event: RecordedEvent): RecordedEvent {
    const version = event.metadata.schemaVersion ?? 1;
    const currentVersion = this.schemas.currentVersion(event.type);
    if (version === currentVersion) return event;
    try {
      return {
        ...event,
        data: this.schemas.upcast(event.type, version, event.data),
        metadata: { ...event.metadata, schemaVersion: currentVersion },
      };
    } catch (error) {
      throw new UnreadableEvent(event.stream, event.revision, event.id, error);
    }
  }

  onAppended(listener: AppendListener): () => void {
    return this.adapter.onAppended(listener);
  }

  tryAcquireLease(name: string, ttlMs: number): Promise<Lease | undefined> {
    return this.adapter.tryAcquireLease(name, ttlMs);
  }

  ping(): Promise<void> {
    return this.adapter.ping();
  }

  close(): Promise<void> {
    return this.adapter.close();
  }
}

/** Something a process opens once and closes when its last user lets go of it. */
export interface Closeable {
  close(): Promise<void>;
}

/**
 * Services of one process that name the same resource share one instance (the same memory log
 * or bus, one SQLite connection, one AMQP connection). It is closed when its last user
 * releases it.
 */
export class SharedResources<Resource extends Closeable> {
  private readonly entries = new Map<string, { resource: Resource; users: number }>();

  /** The instance known by this key, opened by `open` if it is the first user. */
  acquire(key: string, open: () => Resource): Resource {
    const entry = this.entries.get(key) ?? { resource: open(), users: 0 };
    entry.users += 1;
    this.entries.set(key, entry);
    return entry.resource;
  }

  async release(key: string): Promise<void> {
    const entry = this.entries.get(key);
    if (!entry) return;
    entry.users -= 1;
    if (entry.users > 0) return;
    this.entries.delete(key);
    await entry.resource.close();
  }
}

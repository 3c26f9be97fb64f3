import { Lease } from "./port";

/**
 * A holder renews its lease this many times per TTL: one or two renewals can be slow or fail
 * (a busy SQLite file, a slow query) before the lease is lost.
 */
export const RENEWALS_PER_TTL = 4;

/** What a lease needs from its store. */
export interface LeaseKeeper {
  /** Renews it: true while this holder still has it, false once another took it. A throw is tried again at the next turn. */
  renew(): Promise<boolean>;
  /** Gives it up, after `lost` aborted; best effort (a dead connection gives it up by itself). */
  relinquish(): Promise<void>;
}

/**
 * A lease held while it is renewed: every ttl/RENEWALS_PER_TTL, and lost (`lost` aborts) when
 * a renewal finds another holder, when the store says so (lose(): PostgreSQL's session ended),
 * or when no renewal succeeded for ttlMs since the last one started. The store frees a lease
 * ttlMs after its holder's last write at the earliest, so a holder that could not renew stops
 * before another can start (on one clock: SQLite's file is on one host).
 */
export class KeptLease implements Lease {
  private readonly controller = new AbortController();
  private renewal: NodeJS.Timeout | undefined;
  private deadline: NodeJS.Timeout | undefined;
  private released: Promise<void> | undefined;

  /** heldSince: performance.now() when the write that took the lease started. */
  constructor(
    private readonly ttlMs: number,
    private readonly keeper: LeaseKeeper,
    heldSince = performance.now(),
  ) {
    this.extend(heldSince);
    this.scheduleRenewal();
  }

  get lost(): AbortSignal {
    return this.controller.signal;
  }

  lose(reason: string): void {
    if (this.lost.aborted) return;
    clearTimeout(this.renewal);
    clearTimeout(this.deadline);
    this.controller.abort(new Error(reason));
  }

  release(): Promise<void> {
    this.released ??= (async () => {
      this.lose("released");
      await this.keeper.relinquish();
    })();
    return this.released;
  }

  private extend(since: number): void {
    clearTimeout(this.deadline);
    const left = Math.max(0, since + this.ttlMs - performance.now());
    this.deadline = setTimeout(() => this.lose(`not renewed within ${this.ttlMs} ms`), left).unref();
  }

  private scheduleRenewal(): void {
    this.renewal = setTimeout(() => void this.renew(), this.ttlMs / RENEWALS_PER_TTL).unref();
  }

  private async renew(): Promise<void> {
    const started = performance.now();
    try {
      const held = await this.keeper.renew();
      if (this.lost.aborted) return;
      if (!held) return this.lose("another holder took it");
      this.extend(started);
    } catch {
      // Tried again at the next turn; the deadline decides when it is lost.
    }
    if (!this.lost.aborted) this.scheduleRenewal();
  }
}

/** Leases of one process (the memory store): exclusive within it, never lost until released. */
export class LocalLeases {
  private readonly held = new Map<string, AbortController>();

  tryAcquire(name: string): Lease | undefined {
    if (this.held.has(name)) return undefined;
    const controller = new AbortController();
    this.held.set(name, controller);
    const release = async () => {
      if (controller.signal.aborted) return;
      controller.abort(new Error("released"));
      if (this.held.get(name) === controller) this.held.delete(name);
    };
    return { lost: controller.signal, release };
  }

  releaseAll(): void {
    for (const controller of this.held.values()) controller.abort(new Error("the store closed"));
    this.held.clear();
  }
}

/**
 * The copies of one message that the memory bus still holds (one per queue it was routed to,
 * through retries and dead-lettering): publishDurably() resolves when the last one is settled.
 */
export class Settlement {
  private resolve!: () => void;
  private reject!: (error: Error) => void;
  readonly settled: Promise<void>;

  constructor(
    private copies: number,
    private readonly onDone: (settlement: Settlement) => void,
  ) {
    this.settled = new Promise<void>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
  }

  /** One copy acked, or dead-lettered and taken by the dead-letter consumer. */
  settleOne(): void {
    this.copies -= 1;
    if (this.copies !== 0) return;
    this.onDone(this);
    this.resolve();
  }

  /** The bus is going away with copies unsettled: they die with the process. */
  abandon(error: Error): void {
    this.copies = -1;
    this.reject(error);
  }
}

/** The settlements a memory bus has open, so that close() can reject those it never settled. */
export class Settlements {
  private readonly open = new Set<Settlement>();

  create(copies: number): Settlement {
    const settlement = new Settlement(copies, (done) => this.open.delete(done));
    this.open.add(settlement);
    return settlement;
  }

  abandonAll(error: Error): void {
    for (const settlement of this.open) settlement.abandon(error);
    this.open.clear();
  }
}

import { Checkpoints } from "../../adapters/event-store/checkpoints";
import { EventStore, RecordedEvent, StreamNotFound, createEventStore } from "../../adapters/event-store";

const TERMINAL = new Set(["OrderConfirmed", "OrderRejected", "OrderCancelled"]);
const REFUSED = new Set(["OrderRejected", "OrderCancelled"]);
/** Facts a stream records once at most. */
const ONCE_PER_STREAM = new Set([...TERMINAL, "SagaEnded", "PaymentAuthorized", "PaymentVoided", "PaymentCaptured"]);
/** A dead-letter entry is dead (its order waits for a replay) when its latest event is one of these. */
const DEAD = new Set(["MessageDeadLettered", "DeadLetterReplayReleased"]);
const READ_BATCH = 1000;

export interface RepeatedSagaStep {
  stream: string;
  type: string;
  step: string | null;
  times: number;
}

interface DeadLetterEntry {
  /** The order of the message, from its last death. */
  orderId: string | undefined;
  dead: boolean;
}

interface PaymentTally {
  authorised: number;
  voided: boolean;
}

/**
 * Questions to the event store a local cluster shares, asked from outside the cluster: what
 * the soak's ledger and the cluster tests count. Works on any store (EVENT_STORE_URL) through
 * the EventStore port: a fold of the global log that keeps its last position, so each question
 * reads only the events appended since the one before (the soak asks every 500 ms).
 */
export class EventLogQueries {
  private store: EventStore | undefined;
  private position: bigint | undefined;
  private catchingUp: Promise<void> | undefined;

  private readonly counts = new Map<string, number>();
  /** Order streams that reached confirmed, rejected or cancelled. */
  private readonly settled = new Set<string>();
  /** Order streams created and not settled, with their order's id. */
  private readonly unsettled = new Map<string, string>();
  private readonly ids = new Set<string>();
  private readonly idsTwice = new Set<string>();
  private readonly oncePerStream = new Map<string, number>();
  private twoEndings = 0;
  private readonly sagaSteps = new Map<string, RepeatedSagaStep>();
  private readonly deadLetters = new Map<string, DeadLetterEntry>();
  private readonly replayedEntries = new Set<string>();
  /** Per order: how many of its dead-letter entries are dead now. */
  private readonly deadEntriesByOrder = new Map<string, number>();
  /** Orders with a dead entry and not settled. */
  private readonly deadOrders = new Set<string>();
  private readonly payments = new Map<string, PaymentTally>();
  private readonly refusedOrders = new Set<string>();
  private heldPayments = 0;
  private readonly sagaStarts = new Map<string, number>();
  /** Saga streams not ended, with the deadline their SagaStarted recorded. */
  private readonly sagaDeadlines = new Map<string, number>();
  /** Orders whose saga started and has not ended (still stepping, or compensating after its order settled). */
  private readonly sagasNotEnded = new Set<string>();

  /** url: the nodes' EVENT_STORE_URL. The store is opened at the first question. */
  constructor(private readonly url: string) {}

  private open(): EventStore {
    this.store ??= createEventStore(this.url);
    return this.store;
  }

  /** Folds the events appended since the last question; one fold at a time. */
  private catchUp(): Promise<void> {
    this.catchingUp ??= (async () => {
      try {
        const store = this.open();
        for (;;) {
          const events = await store.readAll({ after: this.position, maxCount: READ_BATCH });
          for (const event of events) this.fold(event);
          if (events.length > 0) this.position = events[events.length - 1]!.position;
          if (events.length < READ_BATCH) return;
        }
      } finally {
        this.catchingUp = undefined;
      }
    })();
    return this.catchingUp;
  }

  private fold(event: RecordedEvent): void {
    const { type, stream, data } = event;
    this.counts.set(type, (this.counts.get(type) ?? 0) + 1);
    const id = event.id.toLowerCase();
    if (this.ids.has(id)) this.idsTwice.add(id);
    else this.ids.add(id);
    if (ONCE_PER_STREAM.has(type)) {
      const key = `${stream}\u0000${type}`;
      const times = (this.oncePerStream.get(key) ?? 0) + 1;
      this.oncePerStream.set(key, times);
      if (times === 2) this.twoEndings += 1;
    }
    if (stream.startsWith("saga-")) {
      const step = typeof data.step === "string" ? data.step : null;
      const key = `${stream}\u0000${type}\u0000${step ?? ""}`;
      const seen = this.sagaSteps.get(key);
      if (seen) seen.times += 1;
      else this.sagaSteps.set(key, { stream, type, step, times: 1 });
    }
    if (type === "SagaStarted" && typeof data.deadline === "string") this.sagaDeadlines.set(stream, Date.parse(data.deadline));
    if (type === "SagaEnded") this.sagaDeadlines.delete(stream);
    if (type === "SagaStarted") this.sagasNotEnded.add(stream.slice("saga-".length));
    if (type === "SagaEnded") this.sagasNotEnded.delete(stream.slice("saga-".length));
    if (type === "SagaStarted") {
      const { handledBy } = event.metadata;
      const node = typeof handledBy === "string" ? handledBy : JSON.stringify(handledBy ?? null);
      this.sagaStarts.set(node, (this.sagaStarts.get(node) ?? 0) + 1);
    }
    if (type === "OrderCreated" && !this.settled.has(stream)) this.unsettled.set(stream, String(data.orderId));
    if (stream.startsWith("order-") && TERMINAL.has(type)) {
      const orderId = stream.slice("order-".length);
      this.settled.add(stream);
      this.unsettled.delete(stream);
      this.tallyPayment(orderId, () => {
        if (REFUSED.has(type)) this.refusedOrders.add(orderId);
      });
      this.tallyDeadOrder(orderId);
    }
    if (type === "PaymentAuthorized" || type === "PaymentVoided") {
      const orderId = stream.slice("payment-".length);
      this.tallyPayment(orderId, (payment) => {
        if (type === "PaymentAuthorized") payment.authorised += 1;
        else payment.voided = true;
      });
    }
    if (type === "MessageDeadLettered" || this.deadLetters.has(stream)) this.foldDeadLetter(event);
  }

  /** Keeps heldPayments, the authorisations of refused orders not voided, as one order's payment or outcome changes. */
  private tallyPayment(orderId: string, change: (payment: PaymentTally) => void): void {
    const payment = this.payments.get(orderId) ?? { authorised: 0, voided: false };
    const held = () => (!payment.voided && this.refusedOrders.has(orderId) ? payment.authorised : 0);
    this.heldPayments -= held();
    change(payment);
    this.heldPayments += held();
    if (payment.authorised > 0 || payment.voided) this.payments.set(orderId, payment);
  }

  private foldDeadLetter({ type, stream, data }: RecordedEvent): void {
    const entry = this.deadLetters.get(stream) ?? { orderId: undefined, dead: false };
    if (entry.dead && entry.orderId) this.countDeadEntry(entry.orderId, -1);
    if (type === "MessageDeadLettered") {
      const payload = data.payload as { data?: { orderId?: unknown } } | undefined;
      const orderId = payload?.data?.orderId;
      entry.orderId = typeof orderId === "string" ? orderId : undefined;
    }
    if (type === "DeadLetterReplayed") this.replayedEntries.add(stream);
    entry.dead = DEAD.has(type);
    if (entry.dead && entry.orderId) this.countDeadEntry(entry.orderId, 1);
    this.deadLetters.set(stream, entry);
  }

  private countDeadEntry(orderId: string, change: 1 | -1): void {
    const entries = (this.deadEntriesByOrder.get(orderId) ?? 0) + change;
    if (entries === 0) this.deadEntriesByOrder.delete(orderId);
    else this.deadEntriesByOrder.set(orderId, entries);
    this.tallyDeadOrder(orderId);
  }

  private tallyDeadOrder(orderId: string): void {
    if (this.deadEntriesByOrder.has(orderId) && !this.settled.has(`order-${orderId}`)) this.deadOrders.add(orderId);
    else this.deadOrders.delete(orderId);
  }

  async countOfType(type: string): Promise<number> {
    await this.catchUp();
    return this.counts.get(type) ?? 0;
  }

  /** Orders that reached confirmed, rejected or cancelled. */
  async terminalOrders(): Promise<number> {
    await this.catchUp();
    return this.settled.size;
  }

  /**
   * Orders whose saga message sits in the DLQ, dead (the entry's latest event is its death,
   * or a replay that gave its claim back) and the order not settled.
   */
  async ordersDeadInDlq(): Promise<number> {
    await this.catchUp();
    return this.deadOrders.size;
  }

  /** Dead-letter entries dead now, whatever their order's state (an OrderCancelled that died leaves its payment to void). */
  async deadEntries(): Promise<number> {
    await this.catchUp();
    return [...this.deadLetters.values()].filter((entry) => entry.dead).length;
  }

  /**
   * Sagas started and not ended whose order has no dead message: still at work. An order
   * settles before its saga's compensations (the order is rejected, then the payment voided),
   * so a count of settled orders alone says nothing of the voids still to come.
   */
  async sagasAtWork(): Promise<number> {
    await this.catchUp();
    return [...this.sagasNotEnded].filter((orderId) => !this.deadEntriesByOrder.has(orderId)).length;
  }

  /** Events with the same id written twice, and facts recorded twice in one stream: both must stay 0. */
  async eventsAppendedTwice(): Promise<number> {
    const repeatedSteps = await this.repeatedSagaSteps();
    return this.idsTwice.size + repeatedSteps.length + this.twoEndings;
  }

  /** Saga facts recorded more than once for one order. */
  async repeatedSagaSteps(): Promise<RepeatedSagaStep[]> {
    await this.catchUp();
    return [...this.sagaSteps.values()].filter((step) => step.times > 1).map((step) => ({ ...step }));
  }

  /** Money held for an order that will never ship: authorisations not voided of rejected or cancelled orders. */
  async paymentsHeldForUnconfirmedOrders(): Promise<number> {
    await this.catchUp();
    return this.heldPayments;
  }

  /** Dead-letter entries replayed at least once. */
  async replayedDeadLetters(): Promise<number> {
    await this.catchUp();
    return this.replayedEntries.size;
  }

  /** Dead-letter entries: messages that died at least once. */
  async deadLetteredMessages(): Promise<number> {
    await this.catchUp();
    return this.deadLetters.size;
  }

  /** The global position the relay has published up to (its durable checkpoint). */
  async relayCheckpoint(): Promise<bigint> {
    return (await new Checkpoints(this.open()).load("relay")) ?? 0n;
  }

  /** The last position of the global log. */
  async lastPosition(): Promise<bigint> {
    await this.catchUp();
    return this.position ?? 0n;
  }

  /** Orders not settled and not in the DLQ, with what their saga recorded: for diagnosis. */
  async unsettledOrders(limit: number): Promise<{ orderId: string; saga: string | null }[]> {
    await this.catchUp();
    const orderIds = [...this.unsettled.values()].filter((orderId) => !this.deadOrders.has(orderId)).slice(0, Math.floor(limit));
    return Promise.all(orderIds.map(async (orderId) => ({ orderId, saga: await this.sagaOf(orderId) })));
  }

  private async sagaOf(orderId: string): Promise<string | null> {
    try {
      const events = await this.open().read(`saga-${orderId}`);
      return events.map((event) => (typeof event.data.step === "string" ? `${event.type}:${event.data.step}` : event.type)).join(" ");
    } catch (error) {
      if (error instanceof StreamNotFound) return null;
      throw error;
    }
  }

  /** Sagas still running at `now` though their recorded deadline had passed: the scheduler missed them. */
  async sagasPastDeadline(now: Date): Promise<number> {
    await this.catchUp();
    return [...this.sagaDeadlines.values()].filter((deadline) => deadline < now.getTime()).length;
  }

  /** Which orchestrator started each saga. */
  async sagasStartedBy(): Promise<Record<string, number>> {
    await this.catchUp();
    return Object.fromEntries(this.sagaStarts);
  }

  async close(): Promise<void> {
    await this.catchingUp?.catch(() => undefined);
    await this.store?.close();
    this.store = undefined;
  }
}

import Database from "better-sqlite3";

/**
 * Read-only questions to the SQLite event store file a local cluster shares, asked from
 * outside the cluster: what the soak's ledger and the cluster tests count.
 */
export class EventLogQueries {
  constructor(private readonly path: string) {}

  private all<Row>(sql: string): Row[] {
    const db = new Database(this.path, { readonly: true, fileMustExist: true });
    try {
      return db.prepare(sql).all() as Row[];
    } finally {
      db.close();
    }
  }

  private count(sql: string): number {
    return this.all<{ n: number }>(sql)[0]!.n;
  }

  countOfType(type: string): number {
    return this.count(`SELECT count(*) AS n FROM events WHERE type = '${type.replace(/'/g, "''")}'`);
  }

  /** Orders that reached confirmed, rejected or cancelled. */
  terminalOrders(): number {
    return this.count(
      "SELECT count(DISTINCT stream) AS n FROM events WHERE stream LIKE 'order-%' AND type IN ('OrderConfirmed', 'OrderRejected', 'OrderCancelled')",
    );
  }

  /** Orders whose saga message sits in the DLQ, dead and not replayed. */
  ordersDeadInDlq(): number {
    return this.count(`
      SELECT count(DISTINCT json_extract(dead.data, '$.payload.data.orderId')) AS n FROM events dead
      WHERE dead.type = 'MessageDeadLettered'
        AND dead.position = (SELECT max(position) FROM events last WHERE last.stream = dead.stream)
        AND NOT EXISTS (
          SELECT 1 FROM events settled WHERE settled.stream = 'order-' || json_extract(dead.data, '$.payload.data.orderId')
            AND settled.type IN ('OrderConfirmed', 'OrderRejected', 'OrderCancelled'))`);
  }

  /** Events with the same id written twice, and facts recorded twice in one stream: both must stay 0. */
  eventsAppendedTwice(): number {
    const sameId = this.count("SELECT count(*) AS n FROM (SELECT id FROM events GROUP BY id HAVING count(*) > 1)");
    const sameSagaStep = this.repeatedSagaSteps().length;
    const twoEndings = this.count(`
      SELECT count(*) AS n FROM (SELECT stream FROM events
        WHERE type IN ('OrderConfirmed', 'OrderRejected', 'OrderCancelled', 'SagaEnded', 'PaymentAuthorized', 'PaymentVoided')
        GROUP BY stream, type HAVING count(*) > 1)`);
    return sameId + sameSagaStep + twoEndings;
  }

  /** Saga facts recorded more than once for one order. */
  repeatedSagaSteps(): Array<{ stream: string; type: string; step: string | null; times: number }> {
    return this.all(
      `SELECT stream, type, json_extract(data, '$.step') AS step, count(*) AS times FROM events
       WHERE stream LIKE 'saga-%' GROUP BY stream, type, step HAVING times > 1`,
    );
  }

  /** Money held for an order that will never ship: authorised, not voided, order not confirmed. */
  paymentsHeldForUnconfirmedOrders(): number {
    return this.count(`
      SELECT count(*) AS n FROM events auth
      WHERE auth.type = 'PaymentAuthorized'
        AND NOT EXISTS (SELECT 1 FROM events v WHERE v.stream = auth.stream AND v.type = 'PaymentVoided')
        AND EXISTS (SELECT 1 FROM events o WHERE o.stream = 'order-' || substr(auth.stream, 9)
                    AND o.type IN ('OrderRejected', 'OrderCancelled'))`);
  }

  /** Dead-letter entries replayed at least once. */
  replayedDeadLetters(): number {
    return this.count("SELECT count(DISTINCT stream) AS n FROM events WHERE type = 'DeadLetterReplayed'");
  }

  deadLetteredMessages(): number {
    return this.count("SELECT count(DISTINCT stream) AS n FROM events WHERE type = 'MessageDeadLettered'");
  }

  /** The global position the relay has published up to, and the last one appended. */
  relayCheckpoint(): number {
    return this.count("SELECT coalesce(max(CAST(json_extract(data, '$.position') AS INTEGER)), 0) AS n FROM events WHERE stream = '$checkpoint-relay'");
  }

  lastPosition(): number {
    return this.count("SELECT coalesce(max(position), 0) AS n FROM events WHERE stream NOT LIKE '$%'");
  }

  /** Orders not settled and not in the DLQ, with what their saga recorded: for diagnosis. */
  unsettledOrders(limit: number): Array<{ orderId: string; saga: string | null }> {
    return this.all(`
      SELECT json_extract(created.data, '$.orderId') AS orderId,
        (SELECT group_concat(type || coalesce(':' || json_extract(data, '$.step'), ''), ' ') FROM events s
          WHERE s.stream = 'saga-' || json_extract(created.data, '$.orderId')) AS saga
      FROM events created WHERE created.type = 'OrderCreated'
        AND NOT EXISTS (SELECT 1 FROM events t WHERE t.stream = created.stream AND t.type IN ('OrderConfirmed', 'OrderRejected', 'OrderCancelled'))
      LIMIT ${Math.floor(limit)}`);
  }

  /** Which orchestrator started each saga. */
  sagasStartedBy(): Record<string, number> {
    const rows = this.all<{ node: string; n: number }>(
      "SELECT json_extract(metadata, '$.handledBy') AS node, count(*) AS n FROM events WHERE type = 'SagaStarted' GROUP BY node",
    );
    return Object.fromEntries(rows.map((row) => [row.node, row.n]));
  }
}

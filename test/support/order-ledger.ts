import Database from "better-sqlite3";

/** Where each acknowledged order stands, read from the SQLite event store file. */
export interface OrderLedger {
  /** Orders that got a 201. */
  acknowledged: number;
  /** Orders in the log (an order appended just before a kill -9 may never have been answered). */
  created: number;
  /** Acknowledged orders that are confirmed, rejected or cancelled. */
  terminal: number;
  /** Acknowledged orders not terminal whose saga message is dead in the DLQ (not replayed). */
  deadLettered: number;
  /** Acknowledged orders neither terminal nor dead-lettered: must be 0 once quiet. */
  lost: number;
  /** A few of the lost ones, for the failure message. */
  lostIds: string[];
  /** Orders in the log, answered or not, neither terminal nor dead-lettered. */
  unsettledInLog: number;
}

const TERMINAL = "('OrderConfirmed', 'OrderRejected', 'OrderCancelled')";

/**
 * Reads the store file from outside the process that writes it (WAL: readers do not block
 * the writer). An order is terminal when its stream has a terminal event; dead-lettered when
 * a dead-letter entry for one of its messages is dead: its latest event is MessageDeadLettered,
 * or DeadLetterReplayReleased (a replay that failed gave it back).
 */
export function orderLedger(path: string, acknowledged: readonly string[]): OrderLedger {
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    const ids = (sql: string) =>
      new Set(
        db
          .prepare<[], { id: string }>(sql)
          .all()
          .map((row) => row.id),
      );
    const terminal = ids(`SELECT DISTINCT substr(stream, 7) AS id FROM events WHERE stream LIKE 'order-%' AND type IN ${TERMINAL}`);
    const dead = ids(`
      SELECT DISTINCT json_extract(dead.data, '$.payload.data.orderId') AS id FROM events dead
      WHERE dead.type = 'MessageDeadLettered'
        AND (SELECT type FROM events last WHERE last.stream = dead.stream ORDER BY position DESC LIMIT 1)
          IN ('MessageDeadLettered', 'DeadLetterReplayReleased')`);
    const inLog = [...ids("SELECT substr(stream, 7) AS id FROM events WHERE type = 'OrderCreated'")];
    const deadOnly = acknowledged.filter((id) => !terminal.has(id) && dead.has(id));
    const lost = acknowledged.filter((id) => !terminal.has(id) && !dead.has(id));
    return {
      acknowledged: acknowledged.length,
      created: inLog.length,
      terminal: acknowledged.filter((id) => terminal.has(id)).length,
      deadLettered: deadOnly.length,
      lost: lost.length,
      lostIds: lost.slice(0, 5),
      unsettledInLog: inLog.filter((id) => !terminal.has(id) && !dead.has(id)).length,
    };
  } finally {
    db.close();
  }
}

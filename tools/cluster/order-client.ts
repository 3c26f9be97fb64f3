/**
 * Places orders over HTTP as a careful client would: with an Idempotency-Key, trying again
 * while the cluster cannot answer (5xx, refused connection), so that a retried request never
 * makes a second order.
 */
export class OrderClient {
  constructor(
    private readonly baseUrl: string,
    private readonly keyPrefix: string,
  ) {}

  async place(index: number, body: object, deadlineMs = 60_000): Promise<string> {
    const deadline = Date.now() + deadlineMs;
    for (;;) {
      const answer = await fetch(`${this.baseUrl}/orders`, {
        method: "POST",
        headers: { "content-type": "application/json", "idempotency-key": `${this.keyPrefix}-${index}` },
        body: JSON.stringify(body),
      }).then(
        async (response) => ({ status: response.status, body: (await response.json()) as { id?: string } }),
        () => undefined,
      );
      if (answer?.status === 201 && answer.body.id) return answer.body.id;
      if (answer && answer.status < 500) throw new Error(`POST /orders answered ${answer.status}: ${JSON.stringify(answer.body)}`);
      if (Date.now() > deadline) throw new Error(`POST /orders kept failing for ${deadlineMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  /** Places `count` orders, `inFlight` at a time; `onPlaced` hears how many are placed so far. */
  async placeMany(
    count: number,
    bodyOf: (index: number) => object,
    inFlight = 20,
    onPlaced?: (placed: number, id: string, index: number) => Promise<void> | void,
  ): Promise<string[]> {
    const ids: string[] = [];
    let next = 0;
    await Promise.all(
      Array.from({ length: inFlight }, async () => {
        while (next < count) {
          const index = next++;
          const id = await this.place(index, bodyOf(index));
          ids.push(id);
          await onPlaced?.(ids.length, id, index);
        }
      }),
    );
    return ids;
  }

  /** A cancel that may come too late (409) or while the cluster recovers (5xx, tried again). */
  async cancel(id: string, deadlineMs = 30_000): Promise<number> {
    const deadline = Date.now() + deadlineMs;
    for (;;) {
      const status = await fetch(`${this.baseUrl}/orders/${id}/cancel`, { method: "POST" }).then(
        (response) => response.status,
        () => 599,
      );
      if (status < 500 || Date.now() > deadline) return status;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

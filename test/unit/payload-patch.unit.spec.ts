import { PatchRefused, patchedPayload } from "../../services/dlq/payload-patch";

/** An OrderCreated as the relay publishes it, with a line whose price a bug made negative. */
const poisoned = {
  id: "3b2f6a0e-6f0a-4c55-9d0e-2a7d6c1b9e11",
  type: "OrderCreated",
  stream: "order-o-1",
  revision: 0,
  position: "42",
  data: {
    orderId: "o-1",
    customerId: "alice",
    currency: "EUR",
    items: [{ productId: "book", quantity: 2, unitPrice: -1250 }],
    total: -2500,
    createdAt: "2026-12-06T08:00:00.000Z",
  },
  metadata: { correlationId: "c-1", causationId: "c-1", occurredAt: "2026-12-06T08:00:00.000Z" },
};

function refusal(run: () => unknown): PatchRefused {
  try {
    run();
  } catch (error) {
    if (error instanceof PatchRefused) return error;
    throw error;
  }
  throw new Error("not refused");
}

describe("a dead letter's payload patched (RFC 6902) and checked against its event type's schema", () => {
  it("applies the operations in order and leaves the payload given as it was", () => {
    const fixed = patchedPayload("OrderCreated", poisoned, [
      { op: "test", path: "/data/items/0/unitPrice", value: -1250 },
      { op: "replace", path: "/data/items/0/unitPrice", value: 1250 },
      { op: "replace", path: "/data/total", value: 2500 },
    ]);
    expect(fixed).toEqual({ ...poisoned, data: { ...poisoned.data, items: [{ productId: "book", quantity: 2, unitPrice: 1250 }], total: 2500 } });
    expect(poisoned.data.total).toBe(-2500);
  });

  it.each([
    ["a path that does not exist", [{ op: "replace" as const, path: "/data/nope", value: 1 }], /OPERATION_PATH_UNRESOLVABLE/],
    ["a failed test", [{ op: "test" as const, path: "/data/total", value: 0 }], /TEST_OPERATION_FAILED/],
    ["an add without a value", [{ op: "add" as const, path: "/data/x" }], /OPERATION_VALUE_REQUIRED/],
    ["a move without a from", [{ op: "move" as const, path: "/data/x" }], /needs a from/],
    ["a path to the prototype", [{ op: "add" as const, path: "/__proto__/polluted", value: true }], /__proto__/],
  ])("refuses %s, naming the operation", (_name, patch, message) => {
    const refused = refusal(() => patchedPayload("OrderCreated", poisoned, patch));
    expect(refused.code).toBe("JSON_PATCH_INVALID");
    expect(refused.message).toMatch(message);
    expect(refused.details.operation).toBe(0);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it("refuses a result that is not a valid event of its type, with every problem", () => {
    const refused = refusal(() => patchedPayload("OrderCreated", poisoned, [{ op: "remove", path: "/data/customerId" }]));
    expect(refused.code).toBe("PAYLOAD_INVALID");
    expect(refused.details.problems).toEqual(
      expect.arrayContaining([
        { field: "data.customerId", message: expect.stringMatching(/required/) },
        { field: "data.items[0].unitPrice", message: expect.stringMatching(/greater than or equal to 0/) },
      ]),
    );
    const unbalanced = refusal(() =>
      patchedPayload("OrderCreated", poisoned, [
        { op: "replace", path: "/data/items/0/unitPrice", value: 1250 },
        { op: "replace", path: "/data/total", value: 2000 },
      ]),
    );
    expect(unbalanced.details.problems).toEqual([{ field: "data.total", message: "The 'data.total' field must be the sum of the lines, 2500." }]);
    const renamed = refusal(() => patchedPayload("OrderCreated", poisoned, [{ op: "replace", path: "/type", value: "OrderCancelled" }]));
    expect(renamed.details.problems).toContainEqual({ field: "type", message: expect.any(String) });
  });

  it("refuses to edit a payload of an event type it has no schema for", () => {
    const refused = refusal(() => patchedPayload("SomethingElse", poisoned, [{ op: "remove", path: "/data/total" }]));
    expect(refused).toMatchObject({ code: "PAYLOAD_NOT_EDITABLE", details: { eventType: "SomethingElse" } });
  });
});

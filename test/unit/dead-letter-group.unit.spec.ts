import { fingerprintOf, normaliseErrorMessage } from "../../domain/dead-letter-group";
import { groupOf } from "../../adapters/read-model/dead-letters-view";

const died = (message: string, name = "MoleculerRetryableError", originQueue = "orchestrator", topic = "OrderCreated") => ({
  error: { name, message, stack: "at x" },
  originQueue,
  topic,
});

describe("dead-letter fingerprints", () => {
  it.each([
    ["order 123 failed", "order <n> failed"],
    ["order 456 failed after 2.5 s", "order <n> failed after <n> s"],
    ["order 0d7c9a5e-8d4b-5f1a-9b2c-3e4f5a6b7c8d not found", "order <uuid> not found"],
    ["object 5f3e9a1b2c4d6e8f is locked", "object <hex> is locked"],
    ["bad pointer 0x7ffd3a", "bad pointer <hex>"],
    [`customer "bob" is blocked`, "customer <value> is blocked"],
    ["customer 'order 7' is blocked", "customer <value> is blocked"],
    ["timed out at 2026-11-29T10:00:00.000Z", "timed out at <time>"],
    ["  spread \n over\tlines  ", "spread over lines"],
    ["deadbeef is a word, not an id", "deadbeef is a word, not an id"],
    ["chaos: antifraud failed on purpose", "chaos: antifraud failed on purpose"],
  ])("normalises %j to %j", (message, normalised) => {
    expect(normaliseErrorMessage(message)).toBe(normalised);
  });

  it("cuts a long message to one line of 300 characters", () => {
    const normalised = normaliseErrorMessage("why ".repeat(200));
    expect(normalised).toHaveLength(300);
    expect(normalised.endsWith("…")).toBe(true);
  });

  it("is the error type, the normalised message and where the message died", () => {
    expect(fingerprintOf(died("order 123 failed"))).toEqual({
      errorType: "MoleculerRetryableError",
      message: "order <n> failed",
      originQueue: "orchestrator",
      eventType: "OrderCreated",
    });
  });

  it("gives failures of one cause one short group id, and each other cause its own", () => {
    const group = groupOf(died("order 123 failed"));
    expect(group).toMatch(/^[0-9a-f]{12}$/);
    expect(groupOf(died("order 456 failed"))).toBe(group);
    expect(
      new Set([
        group,
        groupOf(died("order 1 refused")),
        groupOf(died("order 1 failed", "Error")),
        groupOf(died("order 1 failed", undefined, "billing")),
        groupOf(died("order 1 failed", undefined, undefined, "OrderCancelled")),
      ]).size,
    ).toBe(5);
  });
});

import { randomBytes } from "node:crypto";
import { CursorCodec, InvalidCursor } from "../../adapters/read-model/cursor";

describe("list cursors", () => {
  const secret = randomBytes(32);
  const orders = new CursorCodec(secret, "orders");

  it.each([0n, 1n, 123_456_789n, 2n ** 62n + 7n, 2n ** 64n - 1n])("give back the key they were made of (%s), in 27 characters of base64url", (key) => {
    const cursor = orders.encode(key);
    expect(cursor).toMatch(/^[A-Za-z0-9_-]{27}$/);
    expect(orders.decode(cursor)).toBe(key);
  });

  it("refuse every cursor with one bit changed", () => {
    const bytes = Buffer.from(orders.encode(42n), "base64url");
    for (let bit = 0; bit < bytes.length * 8; bit += 1) {
      const forged = Buffer.from(bytes);
      forged[bit >> 3]! ^= 1 << (bit & 7);
      expect(() => orders.decode(forged.toString("base64url"))).toThrow(InvalidCursor);
    }
  });

  it.each([
    ["the former unsigned format", Buffer.from("p:1").toString("base64url")],
    ["a negative position", "cDotMQ"],
    ["not base64url", "not ours!"],
    ["empty", ""],
    ["too long", "A".repeat(64)],
  ])("refuse %s", (_name, cursor) => {
    expect(() => orders.decode(cursor)).toThrow(InvalidCursor);
  });

  it("refuse another spelling of the same bytes (unused trailing bits set)", () => {
    const cursor = orders.encode(42n);
    const last = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const respelled = cursor.slice(0, -1) + last[last.indexOf(cursor.at(-1)!) + 1];
    expect(Buffer.from(respelled, "base64url")).toEqual(Buffer.from(cursor, "base64url"));
    expect(() => orders.decode(respelled)).toThrow(InvalidCursor);
  });

  it("refuse a cursor of another list, or of another database's key", () => {
    const cursor = orders.encode(42n);
    expect(() => new CursorCodec(secret, "dead_letters").decode(cursor)).toThrow(InvalidCursor);
    expect(() => new CursorCodec(randomBytes(32), "orders").decode(cursor)).toThrow(InvalidCursor);
  });
});

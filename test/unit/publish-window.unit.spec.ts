import { PublishWindow } from "../../services/relay/publish-window";

/** A publish whose outcome the test decides. */
function pending() {
  let resolve!: () => void;
  let reject!: (error: Error) => void;
  const promise = new Promise<void>((yes, no) => {
    resolve = yes;
    reject = no;
  });
  return { promise, resolve, reject };
}

const settle = () => new Promise((resolve) => setImmediate(resolve));

describe("the relay's publish window", () => {
  it("moves the safe position only over messages that are all safe, whatever order they settle in", async () => {
    const window = new PublishWindow(10, 100n);
    const [a, b, c] = [pending(), pending(), pending()];
    window.track(103n, a.promise);
    window.track(107n, b.promise); // positions have gaps: system streams are left out of the log
    window.track(110n, c.promise);
    expect(window.safe).toBe(100n);

    b.resolve();
    c.resolve();
    await settle();
    expect(window.safe).toBe(100n);

    a.resolve();
    await settle();
    expect(window.safe).toBe(110n);
    expect(window.inFlight).toBe(0);
  });

  it("stops at the message before the oldest one not yet safe", async () => {
    const window = new PublishWindow(10, 0n);
    const [a, b, c] = [pending(), pending(), pending()];
    window.track(1n, a.promise);
    window.track(2n, b.promise);
    window.track(5n, c.promise);

    a.resolve();
    c.resolve();
    await settle();

    expect(window.safe).toBe(1n);
    expect(window.published).toBe(5n);
  });

  it("bounds what is unsafe at once, and says when a full window gets room", async () => {
    let rooms = 0;
    const window = new PublishWindow(2, 0n, () => (rooms += 1));
    const [a, b] = [pending(), pending()];
    window.track(1n, a.promise);
    expect(window.room).toBe(1);
    window.track(2n, b.promise);
    expect(window.room).toBe(0);

    b.resolve();
    await settle();

    expect(window.room).toBe(1);
    expect(rooms).toBe(1);
  });

  it("keeps a failed publish unsafe for good and reports the first failure", async () => {
    let rooms = 0;
    const window = new PublishWindow(10, 0n, () => (rooms += 1));
    const [a, b, c] = [pending(), pending(), pending()];
    window.track(1n, a.promise);
    window.track(2n, b.promise);
    window.track(3n, c.promise);

    b.reject(new Error("connection lost"));
    a.resolve();
    c.resolve();
    await settle();

    expect(window.failed?.error).toEqual(new Error("connection lost"));
    expect(window.safe).toBe(1n);
    expect(rooms).toBe(1);
  });

  it("refuses a position that is not after the last one", () => {
    const window = new PublishWindow(10, 5n);
    expect(() => window.track(5n, Promise.resolve())).toThrow("position 5 is not after 5");
  });
});

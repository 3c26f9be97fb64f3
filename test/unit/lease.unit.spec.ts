import { setTimeout as sleep } from "node:timers/promises";
import { KeptLease, LeaseKeeper, RENEWALS_PER_TTL } from "../../adapters/event-store/lease";

const TTL_MS = 40;

function keeper(renew: LeaseKeeper["renew"]) {
  const calls = { renew: 0, relinquish: 0 };
  const kept: LeaseKeeper = {
    renew: () => {
      calls.renew += 1;
      return renew();
    },
    relinquish: async () => void (calls.relinquish += 1),
  };
  return { kept, calls };
}

describe("a lease kept by renewals", () => {
  it("is held for as long as its renewals succeed", async () => {
    const { kept, calls } = keeper(async () => true);
    const lease = new KeptLease(TTL_MS, kept);

    await sleep(TTL_MS * 4);

    expect(lease.lost.aborted).toBe(false);
    expect(calls.renew).toBeGreaterThanOrEqual(RENEWALS_PER_TTL * 2);
    await lease.release();
  });

  it("is lost once a renewal finds another holder, and renews no more", async () => {
    const { kept, calls } = keeper(async () => false);
    const lease = new KeptLease(TTL_MS, kept);

    await sleep(TTL_MS / 2);

    expect(lease.lost.aborted).toBe(true);
    expect((lease.lost.reason as Error).message).toMatch(/another holder/);
    const renewals = calls.renew;
    await sleep(TTL_MS);
    expect(calls.renew).toBe(renewals);
  });

  it("is lost when no renewal succeeded within its TTL, though each was tried", async () => {
    const { kept, calls } = keeper(async () => {
      throw new Error("the store does not answer");
    });
    const started = performance.now();
    const lease = new KeptLease(TTL_MS, kept);

    await new Promise((resolve) => lease.lost.addEventListener("abort", resolve));

    // Not at once, but after about its TTL: Node's timers run on the loop's cached clock, which
    // may lag performance.now() by a few ms, so only the order of magnitude is asserted.
    expect(performance.now() - started).toBeGreaterThanOrEqual(TTL_MS / 2);
    expect((lease.lost.reason as Error).message).toMatch(/not renewed within 40 ms/);
    expect(calls.renew).toBeGreaterThanOrEqual(RENEWALS_PER_TTL - 2);
  });

  it("is lost when a renewal hangs past its TTL", async () => {
    const { kept } = keeper(() => new Promise<boolean>(() => undefined));
    const lease = new KeptLease(TTL_MS, kept);

    await sleep(TTL_MS * 2);

    expect(lease.lost.aborted).toBe(true);
  });

  it("gives up once however often it is released, and is lost from then on", async () => {
    const { kept, calls } = keeper(async () => true);
    const lease = new KeptLease(TTL_MS, kept);

    await Promise.all([lease.release(), lease.release()]);

    expect(lease.lost.aborted).toBe(true);
    expect(calls.relinquish).toBe(1);
  });
});

import { Consumer } from "../../adapters/bus/port";
import { BreakerGate, KillSwitch } from "../../services/orchestrator/kill-switch";

/** A consumer that records what the kill switch asked of it. */
function recordingConsumer() {
  const calls: string[] = [];
  const consumer: Consumer = {
    pause: async () => void calls.push("pause"),
    resume: async () => void calls.push("resume"),
    stop: async () => void calls.push("stop"),
  };
  return { consumer, calls };
}

const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };

describe("the orchestrator's kill switch", () => {
  let gates: Record<string, BreakerGate>;
  let calls: string[];
  let killSwitch: KillSwitch;

  beforeEach(() => {
    gates = {};
    const recording = recordingConsumer();
    calls = recording.calls;
    killSwitch = new KillSwitch({
      consumer: recording.consumer,
      queue: "orchestrator",
      gate: (action) => gates[action] ?? "closed",
      maxPauseMs: 60_000,
      logger: quiet,
    });
  });
  afterEach(() => killSwitch.stop());

  it("lets a failure with the breaker closed spend its attempt, and keeps consuming", () => {
    expect(killSwitch.blocks("antifraud.check")).toBe(false);
    expect(calls).toEqual([]);
  });

  it("hands back and pauses once while the breaker is open, and resumes when it half-opens", () => {
    gates["antifraud.check"] = "open";

    expect([1, 2, 3].map(() => killSwitch.blocks("antifraud.check"))).toEqual([true, true, true]);
    expect(calls).toEqual(["pause"]);

    killSwitch.letsThrough("antifraud.check");
    expect(calls).toEqual(["pause", "resume"]);
    expect(killSwitch.paused).toBe(false);
  });

  it("hands back without pausing in HALF_OPEN: no event would come, the next delivery is the trial", () => {
    gates["antifraud.check"] = "half-open";

    expect(killSwitch.blocks("antifraud.check")).toBe(true);
    expect(calls).toEqual([]);
  });

  it("resumes only when every breaker it paused for lets calls through", () => {
    gates["antifraud.check"] = "open";
    gates["payments.authorize"] = "open";
    killSwitch.blocks("antifraud.check");
    killSwitch.blocks("payments.authorize");

    killSwitch.letsThrough("orders.confirm");
    killSwitch.letsThrough("antifraud.check");
    expect(calls).toEqual(["pause"]);
    killSwitch.letsThrough("payments.authorize");
    expect(calls).toEqual(["pause", "resume"]);
  });

  it("resumes after maxPauseMs when no breaker event comes", () => {
    jest.useFakeTimers();
    try {
      gates["antifraud.check"] = "open";
      killSwitch.blocks("antifraud.check");

      jest.advanceTimersByTime(59_999);
      expect(calls).toEqual(["pause"]);
      jest.advanceTimersByTime(1);
      expect(calls).toEqual(["pause", "resume"]);
      // The breaker still open: the next failure pauses again.
      killSwitch.blocks("antifraud.check");
      expect(calls).toEqual(["pause", "resume", "pause"]);
    } finally {
      jest.useRealTimers();
    }
  });

  it("ignores breaker events once stopped", () => {
    gates["antifraud.check"] = "open";
    killSwitch.blocks("antifraud.check");
    killSwitch.stop();

    killSwitch.letsThrough("antifraud.check");
    expect(calls).toEqual(["pause"]);
  });
});

import { loadConfig } from "../../config";
import { AdminTokens } from "../../services/api/admin-token";

describe("admin tokens from the environment", () => {
  it("names each token of ADMIN_TOKENS, the first ':' ending the name, and ADMIN_TOKEN as admin", () => {
    expect(loadConfig({ ADMIN_TOKENS: "alice:a-secret, bob:b:with:colons", ADMIN_TOKEN: "legacy" }).adminTokens).toEqual([
      { name: "alice", token: "a-secret" },
      { name: "bob", token: "b:with:colons" },
      { name: "admin", token: "legacy" },
    ]);
    expect(loadConfig({}).adminTokens).toEqual([]);
  });

  it.each([
    [{ ADMIN_TOKENS: "no-colon" }, "an entry has no ':'"],
    [{ ADMIN_TOKENS: ":nameless" }, 'the name ""'],
    [{ ADMIN_TOKENS: "al ice:x" }, 'the name "al ice"'],
    [{ ADMIN_TOKENS: "-lead:x" }, 'the name "-lead"'],
    [{ ADMIN_TOKENS: `${"n".repeat(65)}:x` }, "must be 1 to 64"],
    [{ ADMIN_TOKENS: "alice:" }, "the token of alice is empty"],
    [{ ADMIN_TOKENS: "alice:x,alice:y" }, "alice is named twice"],
    [{ ADMIN_TOKENS: "admin:x", ADMIN_TOKEN: "y" }, "admin is named twice (ADMIN_TOKEN is named admin)"],
    [{ ADMIN_TOKENS: "alice:same,bob:same" }, "two names share one token"],
  ])("refuses %j at start: %s", (env, message) => {
    expect(() => loadConfig(env)).toThrow(message);
  });
});

describe("AdminTokens", () => {
  const tokens = AdminTokens.fromEnvironment(
    [
      { name: "alice", token: "a-secret" },
      { name: "bob", token: "b-secret" },
    ],
    () => {
      throw new Error("configured tokens generate nothing");
    },
  );

  it("tells whose token it is, and nobody's for any other string", () => {
    expect(tokens.identify("a-secret")).toBe("alice");
    expect(tokens.identify("b-secret")).toBe("bob");
    for (const guess of ["", "a-secre", "a-secret ", "A-SECRET", "alice", "a-secret\u0000"]) expect(tokens.identify(guess)).toBeUndefined();
  });

  it("generates one token, named admin and announced once, when none is configured", () => {
    const announced: string[] = [];
    const generated = AdminTokens.fromEnvironment([], (token) => announced.push(token));
    expect(announced).toHaveLength(1);
    expect(announced[0]).toMatch(/^[A-Za-z0-9_-]{32}$/);
    expect(generated.identify(announced[0]!)).toBe("admin");
  });
});

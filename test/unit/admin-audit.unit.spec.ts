import { Context, Errors, ServiceBroker } from "moleculer";
import { ADMIN_META_KEY, AdminAuditMiddleware } from "../../middlewares/admin-audit";

/** Moleculer's console logger writes each line through console: kept here instead of printed. */
describe("AdminAuditMiddleware", () => {
  const lines: string[] = [];
  let broker: ServiceBroker;

  beforeAll(async () => {
    for (const method of ["log", "info", "warn", "error"] as const) {
      jest.spyOn(console, method).mockImplementation((...parts: unknown[]) => void lines.push(parts.map(String).join(" ")));
    }
    broker = new ServiceBroker({
      logger: { type: "Console", options: { level: "info", colors: false, formatter: "simple" } },
      middlewares: [AdminAuditMiddleware()],
    });
    broker.createService({
      name: "dlq",
      actions: {
        purge: (ctx: Context<{ id: string }>) => {
          if (ctx.params.id === "missing") throw new Errors.MoleculerClientError("dead letter missing not found", 404, "DEAD_LETTER_NOT_FOUND");
          return { id: ctx.params.id };
        },
        depth: () => 0,
      },
    });
    // As the gateway does: its authorize() puts the admin in the meta of its own context, then
    // it calls the action the route names, which may call others in turn.
    broker.createService({
      name: "api",
      actions: {
        route: (ctx: Context<{ action: string; params: object; admin?: string }, Record<string, unknown>>) => {
          if (ctx.params.admin) ctx.meta[ADMIN_META_KEY] = ctx.params.admin;
          return ctx.call(ctx.params.action, ctx.params.params);
        },
        purgeAndCount: async (ctx: Context<{ id: string }>) => [await ctx.call("dlq.purge", ctx.params), await ctx.call("dlq.depth")],
      },
    });
    await broker.start();
  });
  afterAll(async () => {
    await broker.stop();
    jest.restoreAllMocks();
  });

  const audit = () => lines.filter((line) => line.includes("admin "));

  it("logs the admin, the action the route named, its params and its end, once per request", async () => {
    lines.length = 0;
    await broker.call("api.route", { action: "dlq.purge", params: { id: "e-1" }, admin: "bob" });
    await expect(broker.call("api.route", { action: "dlq.purge", params: { id: "missing" }, admin: "alice" })).rejects.toThrow("not found");

    expect(audit()).toEqual([
      expect.stringMatching(/^INFO .* admin bob: dlq\.purge \{"id":"e-1"\} → done$/),
      expect.stringMatching(/^WARN .* admin alice: dlq\.purge \{"id":"missing"\} → refused or failed: dead letter missing not found$/),
    ]);
  });

  it("logs nothing for a call without an admin, nor for the calls an admin's request makes in turn", async () => {
    lines.length = 0;
    await broker.call("api.route", { action: "dlq.purge", params: { id: "e-2" } });
    await broker.call("api.route", { action: "api.purgeAndCount", params: { id: "e-3" }, admin: "bob" });

    expect(audit()).toEqual([expect.stringMatching(/admin bob: api\.purgeAndCount \{"id":"e-3"\} → done$/)]);
  });
});

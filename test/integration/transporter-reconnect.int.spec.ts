import { randomUUID } from "node:crypto";
import { Context, ServiceBroker } from "moleculer";
import { loadConfig } from "../../config";
import { waitFor } from "../../tools/wait-for";
import { PromptlyReconnectingAmqp, brokerOptions, transporterOptions } from "../../moleculer.config";
import { RABBITMQ_URL, closeConnectionsNamed, deleteRabbitMqObjects } from "../support/rabbitmq";

const REQUEST_TIMEOUT_MS = 5_000;

/**
 * Two nodes over RabbitMQ; RabbitMQ closes one node's connection (as a broker restart does to
 * all of them, without restarting the broker other suites share). Moleculer's transit would
 * wait 5 s before reconnecting, and every call meanwhile failed with BrokerDisconnectedError.
 */
describe("the AMQP transporter when RabbitMQ drops the connection", () => {
  const namespace = `test-${randomUUID()}`;
  const connectionName = `reconnect-test-${randomUUID()}`;
  const config = loadConfig({ TRANSPORTER: RABBITMQ_URL, BUS_NAMESPACE: namespace, METRICS_PORT: "0", REQUEST_TIMEOUT_MS: String(REQUEST_TIMEOUT_MS) });
  let callee: ServiceBroker;
  let caller: ServiceBroker;
  const delivered: string[] = [];

  beforeAll(async () => {
    callee = new ServiceBroker({ ...brokerOptions(config), nodeID: `callee-${namespace}`, logger: false });
    callee.createService({
      name: "echo",
      actions: {
        say(ctx: Context<{ text: string }>) {
          delivered.push(ctx.params.text);
          return ctx.params.text;
        },
      },
    });
    caller = new ServiceBroker({
      ...brokerOptions(config),
      nodeID: `caller-${namespace}`,
      logger: false,
      transporter: transporterOptions(RABBITMQ_URL, connectionName),
    });
    await Promise.all([callee.start(), caller.start()]);
    await caller.waitForServices("echo", 10_000);
  });
  afterAll(async () => {
    await Promise.all([caller?.stop(), callee?.stop()]);
    await deleteRabbitMqObjects(RABBITMQ_URL, `MOL-${namespace}`);
  });

  it("a call made while the connection is down waits for the prompt reconnection and is answered once; the other node stays known", async () => {
    await closeConnectionsNamed(connectionName);
    await waitFor(() => caller.transit?.tx.connected === false, { timeoutMs: 5_000, what: "the caller to see its connection closed" });

    const calledAt = Date.now();
    await expect(caller.call("echo.say", { text: "during the outage" })).resolves.toBe("during the outage");
    // Reconnected in about a second, not after Moleculer's fixed 5 s.
    expect(Date.now() - calledAt).toBeLessThan(REQUEST_TIMEOUT_MS - 1_000);
    expect(delivered.filter((text) => text === "during the outage")).toHaveLength(1);
    expect(caller.registry.nodes.get(`callee-${namespace}`)?.available).toBe(true);
    await expect(caller.call("echo.say", { text: "after" })).resolves.toBe("after");
  });

  it("a packet sent while the channel is closing is a rejected promise, not an exception thrown at the heartbeat timer", async () => {
    const transporter = caller.transit?.tx as PromptlyReconnectingAmqp;
    const channel = (transporter as unknown as { channel: { close(): Promise<void> } }).channel;
    const closing = channel.close();
    let thrown: unknown;
    let sent: Promise<void> | undefined;
    try {
      sent = transporter.send(`MOL-${namespace}.HEARTBEAT`, Buffer.from("{}"), { packet: {} });
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeUndefined();
    await expect(sent).rejects.toThrow("Channel closing");
    await closing;
    // The closed channel is the lost connection's path: the transporter reconnects and serves.
    await closeConnectionsNamed(connectionName);
    await expect(caller.call("echo.say", { text: "after the closed channel" })).resolves.toBe("after the closed channel");
  });
});

describe("the registry while this node's connection is down", () => {
  const namespace = `test-${randomUUID()}`;
  const connectionName = `heartbeat-test-${randomUUID()}`;
  const config = loadConfig({ TRANSPORTER: RABBITMQ_URL, BUS_NAMESPACE: namespace, METRICS_PORT: "0" });
  // Heartbeats every second, a node given up after 2 s of silence: a 5 s outage outlasts it.
  const heartbeats = { heartbeatInterval: 1, heartbeatTimeout: 2 };
  const calleeID = `callee-${namespace}`;
  let callee: ServiceBroker;
  let caller: ServiceBroker;
  const droppedByCaller: string[] = [];

  beforeAll(async () => {
    callee = new ServiceBroker({ ...brokerOptions(config), ...heartbeats, nodeID: calleeID, logger: false });
    callee.createService({ name: "echo", actions: { say: (ctx: Context<{ text: string }>) => ctx.params.text } });
    caller = new ServiceBroker({
      ...brokerOptions(config),
      ...heartbeats,
      nodeID: `caller-${namespace}`,
      logger: false,
      transporter: transporterOptions(RABBITMQ_URL, connectionName),
    });
    caller.createService({
      name: "watcher",
      events: {
        "$node.disconnected"(ctx: Context<{ node: { id: string } }>) {
          droppedByCaller.push(ctx.params.node.id);
        },
      },
    });
    await Promise.all([callee.start(), caller.start()]);
    await caller.waitForServices("echo", 10_000);
  });
  afterAll(async () => {
    await Promise.all([caller?.stop(), callee?.stop()]);
    await deleteRabbitMqObjects(RABBITMQ_URL, `MOL-${namespace}`);
  });

  it("keeps the other nodes: silence during its own outage is no sign that they died", async () => {
    const transporter = caller.transit!.tx;
    const url = transporter.opts.url;
    // Reconnection attempts fail for 5 s (nothing listens on port 1), as while RabbitMQ restarts.
    transporter.opts.url = ["amqp://guest:guest@127.0.0.1:1"];
    await closeConnectionsNamed(connectionName);
    await waitFor(() => transporter.connected === false, { timeoutMs: 5_000, what: "the caller to see its connection closed" });
    await new Promise((resolve) => setTimeout(resolve, 5_000));
    transporter.opts.url = url;

    await waitFor(() => transporter.connected, { timeoutMs: 5_000, what: "the caller to reconnect" });
    await expect(caller.call("echo.say", { text: "after" })).resolves.toBe("after");
    expect(droppedByCaller).toEqual([]);
    expect(caller.registry.nodes.get(calleeID)?.available).toBe(true);
  }, 20_000);
});

import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { load } from "js-yaml";
import { CLUSTER_NODES } from "../../tools/cluster/nodes";
import { loadConfig } from "../../config";
import { serviceFactories } from "../../services";

/**
 * No Docker engine runs here: docker-compose.yml, the Dockerfile and .env.example are checked
 * against the code's configuration instead of being run.
 */

const ROOT = join(__dirname, "..", "..");
const read = (file: string) => readFileSync(join(ROOT, file), "utf8");

interface ComposeService {
  image?: string;
  build?: string;
  environment?: Record<string, string | number>;
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test: string[] };
  ports?: string[];
  profiles?: string[];
}

/** docker compose's `${VAR:-default}` and `${VAR:?message}`, as it would expand them. */
function interpolate(text: string, env: Record<string, string>): string {
  return text.replace(/\$\{(\w+)(?::([-?])([^}]*))?\}/g, (_match, name: string, kind?: string, rest?: string) => {
    if (env[name] !== undefined && env[name] !== "") return env[name];
    if (kind === "-") return rest ?? "";
    throw new Error(`compose needs ${name}: ${rest}`);
  });
}

const compose = load(interpolate(read("docker-compose.yml"), { ADMIN_TOKEN: "from-the-environment" })) as {
  services: Record<string, ComposeService>;
};

/** Read by OpenTelemetry's OTLP exporter itself (tracing/otlp-exporter.ts), not by loadConfig. */
const OPEN_TELEMETRY_VARIABLES = new Set(["OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_HEADERS"]);

/** The variables loadConfig reads, found by watching it read an empty environment. */
function variablesReadByConfig(): Set<string> {
  const read = new Set<string>();
  loadConfig(new Proxy({}, { get: (_target, name) => (typeof name === "string" && read.add(name), undefined) }));
  return read;
}

describe("docker-compose.yml", () => {
  const nodes = CLUSTER_NODES.map((node) => [node.name, node] as const);

  it("runs one container per node of the local cluster, and nothing else of ours", () => {
    const ours = Object.entries(compose.services).filter(([, service]) => service.image === "glitchbuster:latest");
    expect(ours.map(([name]) => name).sort()).toEqual(CLUSTER_NODES.map((node) => node.name).sort());
  });

  it.each(nodes)("%s: the image built from this repository, its SERVICES and NODE_ID", (name, node) => {
    const service = compose.services[name]!;
    expect(service).toMatchObject({ image: "glitchbuster:latest", build: "." });
    expect(service.environment).toMatchObject({ SERVICES: node.services.join(","), NODE_ID: name });
    for (const serviceName of String(service.environment!.SERVICES).split(",")) {
      expect(Object.keys(serviceFactories)).toContain(serviceName);
    }
  });

  it.each(nodes)("%s: an environment the code reads and accepts, pointing at RabbitMQ and PostgreSQL", (name) => {
    const environment = Object.fromEntries(Object.entries(compose.services[name]!.environment!).map(([key, value]) => [key, String(value)]));
    const known = variablesReadByConfig();

    expect(Object.keys(environment).filter((key) => !known.has(key) && !OPEN_TELEMETRY_VARIABLES.has(key))).toEqual([]);
    const config = loadConfig(environment);
    expect(config).toMatchObject({
      transporter: "amqp://guest:guest@rabbitmq:5672",
      busUrl: "amqp://guest:guest@rabbitmq:5672",
      eventStoreUrl: "postgres://glitchbuster:glitchbuster@postgres:5432/glitchbuster",
      adminTokens: [{ name: "admin", token: "from-the-environment" }],
    });
  });

  it.each(nodes)("%s: starts once RabbitMQ and PostgreSQL are healthy", (name) => {
    expect(compose.services[name]!.depends_on).toEqual({
      rabbitmq: { condition: "service_healthy" },
      postgres: { condition: "service_healthy" },
    });
  });

  it("gives PostgreSQL a health check, and the database the nodes name", () => {
    const { postgres } = compose.services;
    expect(postgres!.image).toMatch(/^postgres:15/);
    expect(postgres!.healthcheck!.test.join(" ")).toContain("pg_isready");
    expect(postgres!.environment).toMatchObject({ POSTGRES_USER: "glitchbuster", POSTGRES_PASSWORD: "glitchbuster", POSTGRES_DB: "glitchbuster" });
    expect(postgres!.ports).toBeUndefined();
  });

  it("keeps EventStoreDB as a profile, which EVENT_STORE_URL switches the nodes to", () => {
    expect(compose.services.eventstore!.profiles).toEqual(["eventstoredb"]);
    const switched = load(
      interpolate(read("docker-compose.yml"), { ADMIN_TOKEN: "t", EVENT_STORE_URL: "kurrentdb://eventstore:2113?tls=false" }),
    ) as typeof compose;
    expect(switched.services.orders!.environment!.EVENT_STORE_URL).toBe("kurrentdb://eventstore:2113?tls=false");
  });

  it("gives RabbitMQ (with its management UI) and EventStoreDB (insecure single node) a health check", () => {
    const { rabbitmq, eventstore } = compose.services;
    expect(rabbitmq!.image).toMatch(/^rabbitmq:3\.\d+-management$/);
    expect(rabbitmq!.ports).toEqual(expect.arrayContaining(["5672:5672", "15672:15672"]));
    expect(rabbitmq!.healthcheck!.test.join(" ")).toContain("rabbitmq-diagnostics");
    expect(eventstore!.image).toMatch(/^eventstore\/eventstore:/);
    expect(eventstore!.environment).toMatchObject({ EVENTSTORE_INSECURE: "true", EVENTSTORE_CLUSTER_SIZE: 1 });
    expect(eventstore!.healthcheck!.test.join(" ")).toContain("/health/live");
  });

  it("sends every node's spans to Jaeger over OTLP", () => {
    const { jaeger } = compose.services;
    expect(jaeger!.image).toMatch(/^jaegertracing\/all-in-one:\d+\.\d+\.\d+$/);
    expect(jaeger!.ports).toEqual(["16686:16686", "4318:4318"]);
    for (const [name] of nodes) {
      expect(compose.services[name]!.environment).toMatchObject({ TRACING_EXPORTERS: "otlp", OTEL_EXPORTER_OTLP_ENDPOINT: "http://jaeger:4318" });
      expect(loadConfig({ TRACING_EXPORTERS: String(compose.services[name]!.environment!.TRACING_EXPORTERS) }).tracing.exporters).toEqual(["otlp"]);
    }
  });

  it("publishes the gateway's port", () => {
    const api = compose.services.api!;
    expect(api.ports).toEqual([`${api.environment!.PORT}:${api.environment!.PORT}`]);
  });

  it("refuses to start without an ADMIN_TOKEN", () => {
    expect(() => interpolate(read("docker-compose.yml"), {})).toThrow(/ADMIN_TOKEN/);
  });
});

const manifest = JSON.parse(read("package.json")) as { engines: { node: string }; dependencies: Record<string, string> };
const pinnedNode = manifest.dependencies.node!;
const pinnedMajor = pinnedNode.split(".")[0]!;

describe("Node", () => {
  it("is pinned to Node 24 LTS, which engines accepts", () => {
    expect(pinnedNode).toMatch(/^24\.\d+\.\d+$/);
    expect(manifest.engines.node).toBe(">=22");
  });

  it("runs the tests: npm scripts find the pinned binary first on PATH", () => {
    expect(process.versions.node).toBe(pinnedNode);
  });

  it("starts every child process on the Node of its parent, never on a `node` found on PATH", () => {
    const sources = ["adapters", "repl", "services", "tools", "test"].flatMap((dir) =>
      readdirSync(join(ROOT, dir), { recursive: true, encoding: "utf8" })
        .filter((file) => file.endsWith(".ts"))
        .map((file) => join(dir, file)),
    );
    const byName = sources.filter((file) => /\b(spawn|spawnSync|execFile|execFileSync|fork)\(\s*["'`]node["'`]/.test(read(file)));
    expect(byName).toEqual([]);
    const spawning = sources.filter((file) => /\bspawn\(/.test(read(file)));
    for (const file of spawning) expect(read(file)).toMatch(/spawn\(process\.execPath/);
  });
});

describe("Dockerfile", () => {
  const dockerfile = read("Dockerfile");
  const stages = dockerfile.split(/^FROM /m).slice(1);

  it("builds in one stage and runs from another, on the pinned Node's major version", () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    for (const stage of stages) expect(stage).toMatch(new RegExp(`^node:${pinnedMajor}-[-.\\w]*`));
    expect(stages[0]).toMatch(/RUN npm ci/);
    expect(stages[0]).toMatch(/npm run build/);
  });

  it("runs the compiled entry point as a user that is not root", () => {
    const runtime = stages[stages.length - 1]!;
    expect(runtime).toMatch(/^USER (?!root)\w+/m);
    expect(runtime).toMatch(/^CMD \["node", "dist\/main\.js"\]/m);
    expect(read("package.json")).toContain('"start": "node dist/main.js"');
  });
});

describe(".env.example", () => {
  it("lists exactly the variables the code reads", () => {
    const listed = read(".env.example")
      .split("\n")
      .filter((line) => /^[A-Z_]+=/.test(line))
      .map((line) => line.slice(0, line.indexOf("=")));

    expect(listed.sort()).toEqual([...variablesReadByConfig()].sort());
  });

  it("holds values the code accepts", () => {
    const environment = Object.fromEntries(
      read(".env.example")
        .split("\n")
        .filter((line) => /^[A-Z_]+=/.test(line))
        .map((line) => [line.slice(0, line.indexOf("=")), line.slice(line.indexOf("=") + 1)]),
    );
    expect(() => loadConfig(environment)).not.toThrow();
  });
});

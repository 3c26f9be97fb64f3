import { readFileSync } from "node:fs";
import { createServer } from "node:net";

/** Where the kernel stops handing out ports for outgoing connections and `listen(0)`. */
function ephemeralRangeStart(): number {
  try {
    return Number(readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/)[0]);
  } catch {
    return 32768;
  }
}

function canListen(port: number): Promise<boolean> {
  const server = createServer();
  return new Promise((resolve) => {
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });
}

/**
 * A port nobody listens on, for a server a test starts later in another process. Not one the
 * kernel picks (listen on 0): those come from the ephemeral range, where any outgoing
 * connection of the nodes (to RabbitMQ, to PostgreSQL) may take it before the server binds
 * it (seen: the cluster's gateway failing with EADDRINUSE). Below that range only listeners
 * take ports.
 */
export async function freePort(): Promise<number> {
  const low = 10_000;
  const high = ephemeralRangeStart();
  for (let attempt = 0; attempt < 200; attempt += 1) {
    const port = low + Math.floor(Math.random() * (high - low));
    if (await canListen(port)) return port;
  }
  throw new Error(`no free port between ${low} and ${high}`);
}

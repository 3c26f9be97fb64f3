import { readFileSync, readdirSync } from "node:fs";

/** The kernel's clock ticks per second for /proc's CPU times: 100 on every Linux we run on. */
const TICKS_PER_SECOND = 100;

/**
 * User + system CPU time, in ms, of a process and every process below it (the cluster
 * runner's nodes), read from /proc: it counts what the server did, not what the wall clock
 * saw, so it stays steady when the machine is busy with something else.
 */
export function processTreeCpuMs(pid: number): number {
  let ticks = 0;
  for (const member of processTree(pid)) {
    try {
      // Fields after the command name, which may hold spaces: utime and stime are the 12th and 13th.
      const stat = readFileSync(`/proc/${member}/stat`, "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      ticks += Number(fields[11]) + Number(fields[12]);
    } catch {
      // The process ended between the listing and the read: its time is gone with it.
    }
  }
  return (ticks * 1000) / TICKS_PER_SECOND;
}

/** A process and every process below it, parents first. */
export function processTree(pid: number): number[] {
  const children: number[] = [];
  try {
    for (const task of readdirSync(`/proc/${pid}/task`)) {
      const listed = readFileSync(`/proc/${pid}/task/${task}/children`, "utf8").trim();
      if (listed) children.push(...listed.split(" ").map(Number));
    }
  } catch {
    return [];
  }
  return [pid, ...children.flatMap(processTree)];
}

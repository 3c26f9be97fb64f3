/**
 * Waits for the handlers in flight, at most `timeoutMs`: a handler that never resolves must not
 * keep a consumer (or the process) from stopping. Resolves true when they all finished.
 */
export async function settleWithin(inFlight: Iterable<Promise<unknown> | undefined>, timeoutMs: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), timeoutMs);
  });
  const settled = Promise.allSettled([...inFlight]).then(() => true as const);
  try {
    return await Promise.race([settled, timedOut]);
  } finally {
    clearTimeout(timer);
  }
}

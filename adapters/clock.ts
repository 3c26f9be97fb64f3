/** Where the services read the time: the system's clock, or one a test sets. */
export interface Clock {
  now(): Date;
}

export const systemClock: Clock = { now: () => new Date() };
